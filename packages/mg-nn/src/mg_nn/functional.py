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
from numpy.typing import NDArray

from mg_graph import DTypeError, ShapeError, describe, user_location
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
from mg_nn.ops.windows import IntPair, Pads, Pair, pair
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


Padding = IntPair | str


def _conv_padding(padding: Padding, kernel: tuple[int, ...], dilation: Pair, stride: Pair) -> Pads:
    """``padding`` as ((top, bottom), (left, right)): an int, a pair, "valid" or "same"
    (PyTorch's: stride 1 only; an odd total puts the extra row/column at the end)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"padding must be an int, a pair, 'same' or 'valid', not {padding!r}")
        if stride != (1, 1):
            raise ValueError("padding='same' needs stride 1 (as in PyTorch): pad explicitly")
        total = [d * (k - 1) for d, k in zip(dilation, kernel[-2:], strict=True)]
        return (total[0] // 2, total[0] - total[0] // 2), (total[1] // 2, total[1] - total[1] // 2)
    p = pair(padding, "padding")
    return (p[0], p[0]), (p[1], p[1])


def _groups(groups: int) -> int:
    if int(groups) < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    return int(groups)


def conv2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: IntPair = 1,
    padding: Padding = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """2-d convolution (cross-correlation) of NCHW ``x`` with ``weight`` (out, in / groups,
    kh, kw), as PyTorch's F.conv2d: ``padding`` is an int, a pair, "same" or "valid";
    ``dilation`` spreads the kernel; ``groups`` splits the channels into independent
    convolutions.

    >>> x = Tensor(np.ones((1, 2, 3, 3)))
    >>> conv2d(x, Tensor(np.ones((1, 2, 2, 2))), padding=1).shape
    (1, 1, 4, 4)
    >>> conv2d(x, Tensor(np.ones((4, 1, 3, 3))), padding="same", dilation=2, groups=2).shape
    (1, 4, 3, 3)
    """
    steps, spread = pair(stride, "stride", 1), pair(dilation, "dilation", 1)
    kernel = weight.shape if isinstance(weight, Tensor) else np.shape(weight)
    pads = _conv_padding(padding, kernel, spread, steps)
    op = _ops.Conv2d(stride=steps, padding=pads, dilation=spread, groups=_groups(groups))
    operands = [x, weight] if bias is None else [x, weight, bias]
    return apply(op, *operands)


def conv_transpose2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    groups: int = 1,
    dilation: IntPair = 1,
) -> Tensor:
    """Transposed convolution (the gradient of conv2d with respect to its input) of NCHW
    ``x`` with ``weight`` (in, out / groups, kh, kw), as PyTorch's F.conv_transpose2d:
    the output has ``(H - 1) * stride - 2 * padding + dilation * (kh - 1) +
    output_padding + 1`` rows.

    >>> y = conv_transpose2d(Tensor(np.ones((1, 1, 2, 2))), Tensor(np.ones((1, 3, 2, 2))), stride=2)
    >>> y.shape
    (1, 3, 4, 4)
    """
    steps, spread = pair(stride, "stride", 1), pair(dilation, "dilation", 1)
    pads, extra = pair(padding, "padding"), pair(output_padding, "output_padding")
    if any(e >= max(s, d) for e, s, d in zip(extra, steps, spread, strict=True)):
        raise ValueError(
            f"output_padding {extra} must be smaller than the stride {steps} or the dilation "
            f"{spread} (as in PyTorch)"
        )
    t, w = _tensor(x, weight, bias), _tensor(weight, x, bias)
    if t.ndim != 4 or w.ndim != 4:
        raise ShapeError(
            describe(
                "conv_transpose2d",
                f"needs a 4-d input and weight, got {t.shape} and {w.shape}",
                user_location(),
                "pass x (N, C, H, W) and weight (C, out / groups, kh, kw)",
            )
        )
    size = [
        (t.shape[2 + i] - 1) * steps[i]
        - 2 * pads[i]
        + spread[i] * (w.shape[2 + i] - 1)
        + extra[i]
        + 1
        for i in range(2)
    ]
    op = _ops.ConvTranspose2d(
        size=(size[0], size[1]),
        stride=steps,
        padding=((pads[0], pads[0]), (pads[1], pads[1])),
        dilation=spread,
        groups=_groups(groups),
    )
    y = apply(op, t, w)
    return y if bias is None else y + _tensor(bias, y).reshape((-1, 1, 1))


def max_pool2d(
    x: Any,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    *,
    ceil_mode: bool = False,
) -> Tensor:
    """Maximum over windows of the last two axes; ``stride`` defaults to the window;
    ``padding`` (at most half the window) pads with -inf; ``ceil_mode`` keeps a last,
    partial window, as in PyTorch.

    >>> max_pool2d(Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2).data[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    >>> max_pool2d(Tensor(np.ones((1, 5, 5))), 2, ceil_mode=True).shape
    (1, 3, 3)
    """
    return apply(_ops.MaxPool2d(*_pool_settings(kernel_size, stride, padding), ceil_mode), x)


def avg_pool2d(
    x: Any,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """Mean over windows of the last two axes; ``stride`` defaults to the window;
    ``padding`` pads with zeros, counted in the mean unless ``count_include_pad`` is
    false; ``ceil_mode`` keeps a last, partial window, as in PyTorch.

    >>> avg_pool2d(Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2).data[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    settings = _pool_settings(kernel_size, stride, padding)
    return apply(_ops.AvgPool2d(*settings, ceil_mode, count_include_pad), x)


def _pool_settings(
    kernel_size: IntPair, stride: IntPair | None, padding: IntPair
) -> tuple[Pair, Pair, Pair]:
    kernel = pair(kernel_size, "kernel_size", 1)
    steps = kernel if stride is None else pair(stride, "stride", 1)
    return kernel, steps, pair(padding, "padding")


def adaptive_avg_pool2d(x: Any, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average pooling to a fixed output size (PyTorch's): output cell ``i`` of an axis of
    size ``n`` averages rows ``floor(i * n / out)`` to ``ceil((i + 1) * n / out)``;
    ``None`` keeps that axis. Computed as two matmuls with fixed averaging matrices, so
    its gradients are ordinary graph nodes.

    >>> adaptive_avg_pool2d(Tensor(np.arange(6.0).reshape(1, 2, 3)), (1, 2)).data
    array([[[2., 3.]]])
    """
    t = _tensor(x)
    if t.ndim < 2:
        raise ValueError(
            describe(
                "adaptive_avg_pool2d",
                f"needs at least 2-d input (..., H, W), got {t.shape}",
                user_location(),
                "reshape",
            )
        )
    sizes = (output_size, output_size) if isinstance(output_size, int) else output_size
    rows = _averaging(t.shape[-2], sizes[0], t.dtype)
    columns = _averaging(t.shape[-1], sizes[1], t.dtype)
    if rows is not None:
        t = _tensor(rows, t) @ t
    return t if columns is None else t @ _tensor(columns.T, t)


def _averaging(n: int, out: int | None, dtype: np.dtype[Any]) -> NDArray[Any] | None:
    """The (out, n) matrix averaging PyTorch's adaptive windows; None for the identity."""
    if out is None or out == n:
        return None
    if int(out) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output sizes must be positive, got {out}")
    i = np.arange(out)
    start, end = (i * n) // out, -((-(i + 1) * n) // out)
    cols = np.arange(n)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


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
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "conv_transpose2d",
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
