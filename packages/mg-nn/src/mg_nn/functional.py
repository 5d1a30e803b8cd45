"""Stateless layers and losses as functions of tensors (also available as ``mg_nn.F``).

Arguments may be Tensors or numpy arrays (arrays become constants). Every function adds
graph nodes and returns a Tensor at once; nothing is computed until it is read.

>>> import numpy as np
>>> from mg_tensor import Tensor
>>> logits = Tensor([[2.0, 0.0, -1.0]], requires_grad=True)
>>> loss = cross_entropy(logits, np.array([0]))
>>> round(float(loss.data), 4)
0.1698
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mg_graph import DTypeError, describe, graph_of, user_location
from mg_nn import ops as _ops
from mg_tensor import ops as _t
from mg_tensor.ops.core import apply, lift
from mg_tensor.random import bernoulli
from mg_tensor.tensor import Tensor

IntPair = int | tuple[int, int]
_REDUCTIONS = ("mean", "sum", "none")


def _tensor(x: Any, *others: Any) -> Tensor:
    """``x`` as a Tensor: arrays and numbers become constants in the graph of ``others``."""
    if isinstance(x, Tensor):
        return x
    graph = graph_of([o.node for o in others if isinstance(o, Tensor)])
    return Tensor.wrap(lift(x, None, graph))


def _pair(value: IntPair, what: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(pair) != 2 or any(int(v) < 0 for v in pair):
        raise ValueError(f"{what} must be a non-negative int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _positive_pair(value: IntPair, what: str) -> tuple[int, int]:
    pair = _pair(value, what)
    if min(pair) < 1:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return pair


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    _check_reduction(reduction)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, not {reduction!r}")


# --------------------------------------------------------------------------- activations
def relu(x: Any) -> Tensor:
    """max(x, 0).

    >>> relu(Tensor([-1.0, 2.0])).data
    array([0., 2.], dtype=float32)
    """
    return _t.relu(x)


def sigmoid(x: Any) -> Tensor:
    """The logistic function, without overflow.

    >>> sigmoid(Tensor([-1000.0, 0.0])).data
    array([0. , 0.5], dtype=float32)
    """
    return _t.sigmoid(x)


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent.

    >>> tanh(Tensor([0.0])).data
    array([0.], dtype=float32)
    """
    return _t.tanh(x)


def softplus(x: Any) -> Tensor:
    """``log(1 + exp(x))``, stable for large ``|x|``.

    >>> softplus(Tensor([-1000.0, 1000.0])).data
    array([   0., 1000.], dtype=float32)
    """
    return apply(_ops.Softplus(), x)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """Stable softmax along ``axis`` (mg_tensor's op).

    >>> softmax(Tensor([0.0, 0.0])).data
    array([0.5, 0.5], dtype=float32)
    """
    return _t.softmax(x, axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """Stable log-softmax along ``axis`` (mg_tensor's op).

    >>> log_softmax(Tensor([1000.0, 0.0])).data
    array([    0., -1000.], dtype=float32)
    """
    return _t.log_softmax(x, axis)


# --------------------------------------------------------------------------- layers
def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """``x @ weight.T + bias`` with ``weight`` of shape (out, in), as PyTorch's F.linear.

    >>> linear(Tensor([[1.0, 2.0]]), Tensor([[1.0, 1.0]]), Tensor([0.5])).data
    array([[3.5]], dtype=float32)
    """
    operands = [x, weight] if bias is None else [x, weight, bias]
    return apply(_ops.Linear(), *operands)


def conv2d(
    x: Any, weight: Any, bias: Any = None, stride: IntPair = 1, padding: IntPair = 0
) -> Tensor:
    """2-d convolution (cross-correlation) of NCHW ``x`` with ``weight`` (out, in, kh, kw).

    >>> x = Tensor(np.ones((1, 1, 3, 3)))
    >>> conv2d(x, Tensor(np.ones((1, 1, 2, 2))), padding=1).shape
    (1, 1, 4, 4)
    """
    op = _ops.Conv2d(_positive_pair(stride, "stride"), _pair(padding, "padding"))
    operands = [x, weight] if bias is None else [x, weight, bias]
    return apply(op, *operands)


def _pool(
    op: type[_ops.MaxPool2d | _ops.AvgPool2d], x: Any, kernel_size: IntPair, stride: IntPair | None
) -> Tensor:
    kernel = _positive_pair(kernel_size, "kernel_size")
    steps = kernel if stride is None else _positive_pair(stride, "stride")
    return apply(op(kernel, steps), x)


def max_pool2d(x: Any, kernel_size: IntPair, stride: IntPair | None = None) -> Tensor:
    """Maximum over windows of the last two axes; ``stride`` defaults to the window.

    >>> max_pool2d(Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2).data[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    return _pool(_ops.MaxPool2d, x, kernel_size, stride)


def avg_pool2d(x: Any, kernel_size: IntPair, stride: IntPair | None = None) -> Tensor:
    """Mean over windows of the last two axes; ``stride`` defaults to the window.

    >>> avg_pool2d(Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2).data[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    return _pool(_ops.AvgPool2d, x, kernel_size, stride)


def dropout(x: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``;
    the identity when ``training`` is false. The mask is a `mg_tensor.random.bernoulli`
    draw: fresh at every computation, eager and in a frozen graph, and the same for
    the same seed either way (`manual_seed`).

    >>> y = dropout(Tensor(np.ones(1000)), 0.5)
    >>> sorted(set(y.data.tolist()))
    [0.0, 2.0]
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    t = _tensor(x)
    if not training or p == 0.0:
        return t
    if p == 1.0:
        return t * 0.0
    keep = bernoulli(1.0 - p, t.shape, t.dtype if t.dtype.kind == "f" else np.float32)
    return t * (keep * (1.0 / (1.0 - p)))


def layer_norm(
    x: Any,
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` axes (biased variance), then
    scale and shift, as PyTorch's F.layer_norm.

    >>> y = layer_norm(Tensor([[1.0, 2.0, 3.0]]), 3)
    >>> y.data.round(3)
    array([[-1.225,  0.   ,  1.225]], dtype=float32)
    """
    t = _tensor(x, weight, bias)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if t.shape[t.ndim - len(shape) :] != shape or len(shape) > t.ndim:
        raise ValueError(
            describe(
                "layer_norm",
                f"input of shape {t.shape} does not end in normalized_shape {shape}",
                user_location(),
                "normalise over the input's trailing axes",
            )
        )
    axes = tuple(range(t.ndim - len(shape), t.ndim))
    centred = t - t.mean(axes, keepdims=True)
    variance = (centred * centred).mean(axes, keepdims=True)
    y = centred / (variance + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def embedding(indices: Any, weight: Any) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices`` of any shape;
    the gradient adds up over repeated indices (gather / scatter-add).

    >>> embedding(np.array([2, 0]), Tensor(np.eye(3))).data
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    index = indices if isinstance(indices, Tensor) else np.asarray(indices)
    if index.dtype.kind not in "iu":
        raise DTypeError(
            describe(
                "embedding",
                f"indices must be integers, not {index.dtype}",
                user_location(),
                "cast them with .astype(np.int64)",
            )
        )
    return _tensor(weight, index)[index]


# --------------------------------------------------------------------------- losses
def _target(target: Any, like: Tensor) -> Any:
    """Arrays of floats take the logits' dtype; Tensors and integer arrays are kept."""
    if isinstance(target, Tensor):
        return target
    array = np.asarray(target)
    if array.dtype.kind == "f" or array.dtype == np.bool_:
        return array.astype(like.dtype, copy=False)
    if array.dtype.kind in "iu":
        return array
    raise DTypeError(
        describe(
            "loss",
            f"targets of dtype {array.dtype} are not supported",
            user_location(),
            "pass integer class indices or float probabilities",
        )
    )


def cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Cross-entropy of ``(N, C)`` logits against class indices (integers, shape (N,)) or
    probabilities / one-hot rows (floats, shape (N, C)); ``reduction`` is "mean" (over
    N), "sum" or "none". One fused, stable op (logsumexp); its gradient is one fused
    kernel too, ``(softmax - target) * g / N``, and can itself be differentiated.

    >>> loss = cross_entropy(Tensor([[0.0, 0.0]]), np.array([[0.5, 0.5]]))
    >>> round(float(loss.data), 4)
    0.6931
    """
    _check_reduction(reduction)
    x = _tensor(logits, target)
    return apply(_ops.CrossEntropy(reduction), x, _target(target, x))


def nll_loss(log_probs: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``(N, C)`` log-probabilities at integer classes (N,).

    >>> nll_loss(Tensor([[-0.5, -1.0]]), np.array([1])).data
    array(1., dtype=float32)
    """
    x = _tensor(log_probs, target)
    t = _target(target, x)
    if x.ndim != 2 or t.dtype.kind not in "iu" or t.shape != x.shape[:1]:
        raise ValueError(
            describe(
                "nll_loss",
                f"needs (N, C) log-probabilities and (N,) integer classes, got {x.shape} "
                f"and {t.shape} {t.dtype}",
                user_location(),
                "use cross_entropy for probability targets",
            )
        )
    picked = x[np.arange(x.shape[0]), t]
    return _reduce(-picked, reduction)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error (``reduction`` "mean", "sum" or "none").

    >>> mse_loss(Tensor([1.0, 3.0]), np.array([0.0, 0.0])).data
    array(5., dtype=float32)
    """
    x = _tensor(input, target)
    difference = x - _target(target, x)
    return _reduce(difference * difference, reduction)


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of logits against targets in [0, 1], computed stably as
    ``softplus(x) - x * t`` (no overflow for large ``|x|``; exact gradient
    ``sigmoid(x) - t``, also at 0).

    >>> loss = binary_cross_entropy_with_logits(Tensor([0.0]), np.array([1.0]))
    >>> round(float(loss.data), 4)
    0.6931
    """
    x = _tensor(logits, target)
    t = _target(target, x)
    return _reduce(softplus(x) - x * t, reduction)


__all__ = [
    "avg_pool2d",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "cross_entropy",
    "dropout",
    "embedding",
    "layer_norm",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
]
