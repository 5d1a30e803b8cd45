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

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mg_graph import DTypeError, describe, user_location
from mg_nn import ops as _ops
from mg_nn.activation import elu, gelu, leaky_relu, silu, softplus
from mg_nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from mg_nn.norms import batch_norm, group_norm, layer_norm_axes, rms_norm, standardize
from mg_nn.operands import as_tensor as _tensor
from mg_nn.ops.windows import IntPair, pair
from mg_nn.tensor_utils import normalize, one_hot, pad
from mg_tensor import Tensor
from mg_tensor import ops as _t
from mg_tensor.oplib import apply
from mg_tensor.random import bernoulli


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
    op = _ops.Conv2d(pair(stride, "stride", 1), pair(padding, "padding"))
    operands = [x, weight] if bias is None else [x, weight, bias]
    return apply(op, *operands)


def _pool(
    op: type[_ops.MaxPool2d | _ops.AvgPool2d], x: Any, kernel_size: IntPair, stride: IntPair | None
) -> Tensor:
    kernel = pair(kernel_size, "kernel_size", 1)
    steps = kernel if stride is None else pair(stride, "stride", 1)
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
    y = standardize(t, layer_norm_axes(t, normalized_shape), eps)
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


def _attention_mask(mask: Any, op: str) -> tuple[Any, bool]:
    """``mask`` (array or Tensor) and whether it is boolean; other dtypes must be float."""
    m = mask if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_ and m.dtype.kind != "f":
        raise DTypeError(
            describe(
                op,
                f"masks must be boolean or floating (additive), not {m.dtype}",
                user_location(),
                "pass a bool mask or a float mask of 0 and -inf",
            )
        )
    return m, m.dtype == np.bool_


def attend(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    allowed: Sequence[Any] = (),
    additive: Sequence[Any] = (),
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Attention output and weights: ``softmax(q @ k.T * scale + additive)`` where every
    ``allowed`` boolean mask holds (-inf elsewhere), dropped out with ``dropout_p``, times
    ``value``. The masks broadcast against the scores ``(..., L, S)``."""
    factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = _t.matmul(query * factor, _t.swapaxes(key, -1, -2))
    for mask in allowed:
        scores = _t.where(mask, scores, -np.inf)
    for mask in additive:
        like = mask if isinstance(mask, Tensor) else np.asarray(mask)
        scores = scores + like.astype(scores.dtype)
    weights = _t.softmax(scores, -1)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p)
    return _t.matmul(weights, value), weights


def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """``softmax(q @ k.T / sqrt(E) + mask) @ v`` over the last two axes of ``(..., L, E)``
    queries, ``(..., S, E)`` keys and ``(..., S, Ev)`` values, as PyTorch's. A boolean
    ``attn_mask`` says where attention is ALLOWED (True); a float one is added to the
    scores. ``is_causal`` allows position j for query i only when ``j <= i``.

    >>> q = Tensor(np.eye(2)[None])
    >>> scaled_dot_product_attention(q, q, q, is_causal=True).data.round(3)
    array([[[1.  , 0.  ],
            [0.33, 0.67]]])
    """
    q = _tensor(query, key, value)
    k, v = _tensor(key, q), _tensor(value, q)
    allowed: list[Any] = []
    additive: list[Any] = []
    if is_causal:
        if attn_mask is not None:
            raise ValueError(
                describe(
                    "scaled_dot_product_attention",
                    "is_causal and attn_mask are exclusive",
                    user_location(),
                    "fold the causal mask into attn_mask, or drop attn_mask",
                )
            )
        allowed.append(np.tril(np.ones((q.shape[-2], k.shape[-2]), np.bool_)))
    if attn_mask is not None:
        mask, boolean = _attention_mask(attn_mask, "scaled_dot_product_attention")
        (allowed if boolean else additive).append(mask)
    return attend(q, k, v, allowed, additive, dropout_p, scale)[0]


__all__ = [
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "gelu",
    "group_norm",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "relu",
    "rms_norm",
    "scaled_dot_product_attention",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softplus",
    "tanh",
]
