"""The graph ops behind mg-nn's layers and losses: numpy kernels plus gradient rules.

Every op here is a `TensorOp`: ``infer`` (shape rule), ``forward`` (kernel, writing into
the executor's ``out`` buffer) and ``vjp`` (gradient rule written in Tensor ops, so that
gradients are graph nodes too). The gradient ops of convolution and pooling are closed
under differentiation (the gradient of ``conv2d_input_grad`` is a ``conv2d`` and a
``conv2d_weight_grad``...), so second derivatives work; so does the fused cross-entropy.

Convolution uses im2col: a strided window view of the (padded) input, one copy into a
column matrix and a BLAS matmul. Only the backward col2im loops, over the kernel's
``kh * kw`` positions (never over pixels).

>>> import numpy as np
>>> from mg_tensor import Tensor
>>> from mg_tensor.ops.core import apply
>>> x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
>>> apply(MaxPool2d((2, 2), (2, 2)), x).data
array([[[[ 5.,  7.],
         [13., 15.]]]])
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops import log_softmax, sigmoid, softmax
from mg_tensor.ops.base import Grads, Spec, TensorOp, dtype_error, is_float, shape_error
from mg_tensor.ops.core import apply

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor

Pair = tuple[int, int]
Array = NDArray[Any]


def _float_dtype(op: str, nodes: tuple[Node, ...] | list[Node]) -> np.dtype[Any]:
    """The promoted dtype of floating operands; a `DTypeError` for anything else."""
    if not all(is_float(n.dtype) for n in nodes):
        raise dtype_error(
            op, list(nodes), "needs floating-point operands", "use .astype(np.float32)"
        )
    first = nodes[0].dtype
    if all(n.dtype == first for n in nodes):  # the usual case: no promotion to work out
        return first
    return np.dtype(np.result_type(*(n.dtype for n in nodes)))


def _result(value: Any, out: Array | None, dtype: np.dtype[Any]) -> Array:
    """Write ``value`` into ``out`` (or return it as a fresh array of ``dtype``)."""
    if out is None:
        return np.asarray(value, dtype=dtype)
    out[...] = value
    return out


# --------------------------------------------------------------------------- linear
@dataclass(frozen=True)
class Linear(TensorOp):
    """``x @ w.T (+ b)`` with ``w`` stored ``(out, in)`` as in PyTorch.

    The weight gradient is computed as ``g.T @ x`` straight into an ``(out, in)`` buffer
    (BLAS reads the transposed view), so no transposed copy is ever made.

    >>> from mg_tensor import Tensor
    >>> apply(Linear(), Tensor([[1.0, 2.0]]), Tensor([[3.0, 4.0]]), Tensor([0.5])).data
    array([[11.5]], dtype=float32)
    """

    name: ClassVar[str] = "linear"

    def infer(self, *inputs: Node) -> Spec:
        x, w, *b = inputs
        if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[1]:
            raise shape_error(
                "linear",
                inputs,
                "input features must equal the weight's second dimension (weight is (out, in))",
                "reshape the input to (..., in_features) or fix the layer sizes",
            )
        if b and b[0].shape != (w.shape[0],):
            raise shape_error(
                "linear", inputs, f"bias must have shape ({w.shape[0]},)", "pass a 1-d bias"
            )
        return (*x.shape[:-1], w.shape[0]), _float_dtype("linear", inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, w, *b = arrays
        result: Array = np.matmul(x, w.T, out=out)
        if b:
            np.add(result, b[0], out=result)
        return result

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, w, *b = inputs
        g2 = g if g.ndim == 2 else g.reshape((-1, w.shape[0]))
        grads: list[Tensor | None] = [
            g @ w if needed[0] else None,
            g2.T @ (x if x.ndim == 2 else x.reshape((-1, w.shape[1]))) if needed[1] else None,
        ]
        if b:
            grads.append(g2.sum(0) if needed[2] else None)
        return grads


# --------------------------------------------------------------------------- conv2d
def _windows(x: Array, kernel: Pair, stride: Pair, padding: Pair) -> Array:
    """A strided view ``(N, C, Ho, Wo, kh, kw)`` of every window of the padded input."""
    ph, pw = padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    view: Array = sliding_window_view(x, kernel, axis=(2, 3))
    return view[:, :, :: stride[0], :: stride[1]]


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _conv_check(op: str, inputs: tuple[Node, ...], x: Node, w: Node) -> None:
    if x.ndim != 4 or w.ndim != 4:
        raise shape_error(
            op,
            inputs,
            "conv2d needs a 4-d input (N, C, H, W) and a 4-d weight (out, in, kh, kw)",
            "add a batch axis with .unsqueeze(0)",
        )
    if x.shape[1] != w.shape[1]:
        raise shape_error(
            op,
            inputs,
            f"input has {x.shape[1]} channels but the weight expects {w.shape[1]}",
            "make in_channels match the input's channel axis (axis 1, NCHW)",
        )


@dataclass(frozen=True)
class Conv2d(TensorOp):
    """2-d cross-correlation (PyTorch's conv2d), NCHW, with an optional bias input.

    >>> from mg_tensor import Tensor
    >>> x, w = Tensor(np.ones((1, 1, 3, 3))), Tensor(np.ones((1, 1, 2, 2)))
    >>> apply(Conv2d((1, 1), (0, 0)), x, w).data[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """

    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    name: ClassVar[str] = "conv2d"

    def infer(self, *inputs: Node) -> Spec:
        x, w, *b = inputs
        _conv_check(self.name, inputs, x, w)
        ho, wo = (
            _conv_out(x.shape[2 + i], w.shape[2 + i], self.stride[i], self.padding[i])
            for i in range(2)
        )
        if ho < 1 or wo < 1:
            raise shape_error(
                self.name,
                inputs,
                "the kernel is larger than the padded input",
                "use a smaller kernel or more padding",
            )
        if b and b[0].shape != (w.shape[0],):
            raise shape_error(
                self.name, inputs, f"bias must have shape ({w.shape[0]},)", "pass a 1-d bias"
            )
        return (x.shape[0], w.shape[0], ho, wo), _float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, w, *b = arrays
        n, c = x.shape[:2]
        o, _, kh, kw = w.shape
        win = _windows(x, (kh, kw), self.stride, self.padding)
        ho, wo = win.shape[2:4]
        cols = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, ho * wo)
        dtype = np.result_type(x.dtype, w.dtype)
        target = out if out is not None and out.flags.c_contiguous else None
        result = np.empty((n, o, ho, wo), dtype) if target is None else target
        np.matmul(w.reshape(o, -1), cols, out=result.reshape(n, o, ho * wo))
        if b:
            result += b[0].reshape(o, 1, 1)
        if out is not None and result is not out:
            np.copyto(out, result)
            return out
        return result

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, w, *b = inputs
        grads: list[Tensor | None] = [
            apply(Conv2dInputGrad(self.stride, self.padding, (x.shape[2], x.shape[3])), g, w)
            if needed[0]
            else None,
            apply(Conv2dWeightGrad(self.stride, self.padding, (w.shape[2], w.shape[3])), x, g)
            if needed[1]
            else None,
        ]
        if b:
            grads.append(g.sum((0, 2, 3)) if needed[2] else None)
        return grads


def _span(offset: int, stride: int, count: int, size: int) -> tuple[slice, slice] | None:
    """Output positions ``r`` in [0, count) read input index ``offset + stride * r``: the
    slice of those inside [0, size) (not in the padding) and the slice of their ``r``."""
    first = max(0, (stride - 1 - offset) // stride)
    last = min(count, (size - offset + stride - 1) // stride) if size > offset else 0
    if last <= first:
        return None
    start = offset + stride * first
    return slice(start, offset + stride * (last - 1) + 1, stride), slice(first, last)


@dataclass(frozen=True)
class Conv2dInputGrad(TensorOp):
    """The gradient of conv2d with respect to its input: ``(g, w) -> dx`` (col2im).

    Linear in ``g`` and in ``w``: it is conv2d's adjoint, so its own gradients are a
    conv2d and a weight gradient.

    >>> from mg_tensor import Tensor
    >>> g, w = Tensor(np.ones((1, 1, 2, 2))), Tensor(np.ones((1, 1, 2, 2)))
    >>> apply(Conv2dInputGrad((1, 1), (0, 0), (3, 3)), g, w).data[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """

    stride: Pair
    padding: Pair
    size: Pair  # the input's (H, W): with strides it cannot be recovered from g
    name: ClassVar[str] = "conv2d_input_grad"

    def infer(self, *inputs: Node) -> Spec:
        g, w = inputs
        if g.ndim != 4 or w.ndim != 4 or g.shape[1] != w.shape[0]:
            raise shape_error(
                self.name, inputs, "needs g (N, O, Ho, Wo) and w (O, C, kh, kw)", "check shapes"
            )
        return (g.shape[0], w.shape[1], *self.size), _float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        g, w = arrays
        n, o, ho, wo = g.shape
        c, kh, kw = w.shape[1:]
        (sh, sw), (ph, pw), (h, wd) = self.stride, self.padding, self.size
        dtype = np.result_type(g.dtype, w.dtype)
        cols = np.matmul(w.reshape(o, -1).T, g.reshape(n, o, ho * wo))  # (N, C*kh*kw, Ho*Wo)
        cols = cols.reshape(n, c, kh, kw, ho, wo)
        if out is None:
            out = np.zeros((n, c, h, wd), dtype)
        else:
            out.fill(0)
        for i in range(kh):
            rows = _span(i - ph, sh, ho, h)
            for j in range(kw):
                columns = _span(j - pw, sw, wo, wd)
                if rows is not None and columns is not None:  # else all in the padding
                    out[:, :, rows[0], columns[0]] += cols[:, :, i, j, rows[1], columns[1]]
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        go, w = inputs
        kernel = (w.shape[2], w.shape[3])
        return [
            apply(Conv2d(self.stride, self.padding), g, w) if needed[0] else None,
            apply(Conv2dWeightGrad(self.stride, self.padding, kernel), g, go)
            if needed[1]
            else None,
        ]


@dataclass(frozen=True)
class Conv2dWeightGrad(TensorOp):
    """The gradient of conv2d with respect to its weight: ``(x, g) -> dw``.

    >>> from mg_tensor import Tensor
    >>> x, g = Tensor(np.ones((1, 1, 3, 3))), Tensor(np.ones((1, 1, 2, 2)))
    >>> apply(Conv2dWeightGrad((1, 1), (0, 0), (2, 2)), x, g).data[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """

    stride: Pair
    padding: Pair
    window: Pair
    name: ClassVar[str] = "conv2d_weight_grad"

    def infer(self, *inputs: Node) -> Spec:
        x, g = inputs
        if x.ndim != 4 or g.ndim != 4 or x.shape[0] != g.shape[0]:
            raise shape_error(
                self.name, inputs, "needs x (N, C, H, W) and g (N, O, Ho, Wo)", "check shapes"
            )
        return (g.shape[1], x.shape[1], *self.window), _float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, g = arrays
        c = x.shape[1]
        o = g.shape[1]
        kh, kw = self.window
        win = _windows(x, self.window, self.stride, self.padding)  # (N, C, Ho, Wo, kh, kw)
        cols = np.ascontiguousarray(win.transpose(1, 4, 5, 0, 2, 3)).reshape(c * kh * kw, -1)
        gt = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(o, -1)
        # (O, N*Ho*Wo) @ (N*Ho*Wo, C*kh*kw): BLAS is fastest with both long axes contiguous
        if out is not None and out.flags.c_contiguous:
            np.matmul(gt, cols.T, out=out.reshape(o, -1))
            return out
        return _result((gt @ cols.T).reshape(o, c, kh, kw), out, np.result_type(x.dtype, g.dtype))

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, go = inputs
        size = (x.shape[2], x.shape[3])
        return [
            apply(Conv2dInputGrad(self.stride, self.padding, size), go, g) if needed[0] else None,
            apply(Conv2d(self.stride, self.padding), x, g) if needed[1] else None,
        ]


# --------------------------------------------------------------------------- pooling
def _pool_shape(op: str, inputs: tuple[Node, ...], x: Node, kernel: Pair, stride: Pair) -> Pair:
    if x.ndim < 2:
        raise shape_error(op, inputs, "pooling needs at least 2-d input (..., H, W)", "reshape")
    h, w = x.shape[-2:]
    if h < kernel[0] or w < kernel[1]:
        raise shape_error(
            op, inputs, f"the window {kernel} is larger than the input {(h, w)}", "pool less"
        )
    return (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1


def _positions(kernel: Pair, stride: Pair, out_hw: Pair) -> Iterator[tuple[Any, ...]]:
    """For every kernel position, the index selecting it in every window: ``x[index]`` has
    the output's shape."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    for i in range(kh):
        for j in range(kw):
            yield (
                Ellipsis,
                slice(i, i + sh * (ho - 1) + 1, sh),
                slice(j, j + sw * (wo - 1) + 1, sw),
            )


@dataclass(frozen=True)
class _Pool2d(TensorOp):
    """Combine ``window`` windows of the last two axes with ``combine`` (no padding,
    floor mode): one strided view per kernel position, no loop over pixels."""

    window: Pair
    stride: Pair
    combine: ClassVar[np.ufunc]

    def infer(self, *inputs: Node) -> Spec:
        x = inputs[0]
        ho, wo = _pool_shape(self.name, inputs, x, self.window, self.stride)
        return (*x.shape[:-2], ho, wo), _float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x = arrays[0]
        spots = list(_positions(self.window, self.stride, _out_hw(x, self.window, self.stride)))
        if out is None:
            out = x[spots[0]].copy()
        else:
            np.copyto(out, x[spots[0]])
        for spot in spots[1:]:
            type(self).combine(out, x[spot], out=out)
        return out


@dataclass(frozen=True)
class MaxPool2d(_Pool2d):
    """Maximum over ``window`` windows of the last two axes (no padding, floor mode).

    The gradient goes to the first maximum of each window (row-major), as in PyTorch.

    >>> from mg_tensor import Tensor
    >>> apply(MaxPool2d((1, 2), (1, 2)), Tensor([[1.0, 3.0, 2.0, 0.0]])).data
    array([[3., 2.]], dtype=float32)
    """

    name: ClassVar[str] = "max_pool2d"
    combine = np.maximum

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [apply(MaxPool2dGrad(self.window, self.stride), inputs[0], out, g)]


def _out_hw(x: Array, kernel: Pair, stride: Pair) -> Pair:
    h, w = x.shape[-2:]
    return (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1


def _first_max(x: Array, y: Array, kernel: Pair, stride: Pair) -> Iterator[tuple[Any, Array]]:
    """For each kernel position: its index and where it holds the window's first maximum."""
    taken = np.zeros(y.shape, bool)
    hit = np.empty(y.shape, bool)
    for spot in _positions(kernel, stride, y.shape[-2:]):
        np.equal(x[spot], y, out=hit)
        np.greater(hit, taken, out=hit)  # hit and not yet taken
        taken |= hit
        yield spot, hit


@dataclass(frozen=True)
class MaxPool2dGrad(TensorOp):
    """``(x, y, g) -> dx``: route each window's gradient to its (first) maximum.

    >>> from mg_tensor import Tensor
    >>> x, y, g = Tensor([[1.0, 3.0]]), Tensor([[3.0]]), Tensor([[5.0]])
    >>> apply(MaxPool2dGrad((1, 2), (1, 2)), x, y, g).data
    array([[0., 5.]], dtype=float32)
    """

    window: Pair
    stride: Pair
    name: ClassVar[str] = "max_pool2d_grad"

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, _float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, y, g = arrays
        dtype = np.result_type(x.dtype, g.dtype)
        if out is None:
            out = np.zeros(x.shape, dtype)
        else:
            out.fill(0)
        disjoint = all(s >= k for s, k in zip(self.stride, self.window, strict=True))
        share = np.empty(y.shape, dtype)
        for spot, hit in _first_max(x, y, self.window, self.stride):
            if disjoint:  # windows do not overlap: each input element is written once
                np.multiply(g, hit, out=out[spot])
            else:  # (a masked np.add with where= is several times slower)
                np.multiply(g, hit, out=share)
                out[spot] += share
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, y, _ = inputs  # piecewise linear: no gradient for x and y
        return [None, None, apply(MaxPool2dPick(self.window, self.stride), x, y, g)]


@dataclass(frozen=True)
class MaxPool2dPick(TensorOp):
    """``(x, y, u) -> u`` at each window's (first) maximum: the adjoint of `MaxPool2dGrad`.

    >>> from mg_tensor import Tensor
    >>> x, y, u = Tensor([[1.0, 3.0]]), Tensor([[3.0]]), Tensor([[7.0, 8.0]])
    >>> apply(MaxPool2dPick((1, 2), (1, 2)), x, y, u).data
    array([[8.]], dtype=float32)
    """

    window: Pair
    stride: Pair
    name: ClassVar[str] = "max_pool2d_pick"

    def infer(self, *inputs: Node) -> Spec:
        return inputs[1].shape, _float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, y, u = arrays
        dtype = np.result_type(x.dtype, u.dtype)
        if out is None:
            out = np.zeros(y.shape, dtype)
        else:
            out.fill(0)
        share = np.empty(y.shape, dtype)
        for spot, hit in _first_max(x, y, self.window, self.stride):
            np.multiply(u[spot], hit, out=share)  # exactly one position hits per window
            out += share
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, y, _ = inputs
        return [None, None, apply(MaxPool2dGrad(self.window, self.stride), x, y, g)]


@dataclass(frozen=True)
class AvgPool2d(_Pool2d):
    """Mean over ``window`` windows of the last two axes (no padding, floor mode).

    >>> from mg_tensor import Tensor
    >>> apply(AvgPool2d((1, 2), (1, 2)), Tensor([[1.0, 3.0, 2.0, 0.0]])).data
    array([[2., 1.]], dtype=float32)
    """

    name: ClassVar[str] = "avg_pool2d"
    combine = np.add

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        out = super().forward(*arrays, out=out)
        out *= 1.0 / (self.window[0] * self.window[1])
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        size = (inputs[0].shape[-2], inputs[0].shape[-1])
        return [apply(AvgPool2dGrad(self.window, self.stride, size), g)]


@dataclass(frozen=True)
class AvgPool2dGrad(TensorOp):
    """``g -> dx`` of average pooling (spread each window's gradient evenly).

    >>> from mg_tensor import Tensor
    >>> apply(AvgPool2dGrad((1, 2), (1, 2), (1, 4)), Tensor([[2.0, 4.0]])).data
    array([[1., 1., 2., 2.]], dtype=float32)
    """

    window: Pair
    stride: Pair
    size: Pair
    name: ClassVar[str] = "avg_pool2d_grad"

    def infer(self, *inputs: Node) -> Spec:
        g = inputs[0]
        return (*g.shape[:-2], *self.size), _float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        g = arrays[0]
        if out is None:
            out = np.zeros((*g.shape[:-2], *self.size), g.dtype)
        else:
            out.fill(0)
        share = g * (1.0 / (self.window[0] * self.window[1]))
        for spot in _positions(self.window, self.stride, g.shape[-2:]):
            out[spot] += share
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [apply(AvgPool2d(self.window, self.stride), g)]


# --------------------------------------------------------------------------- dropout
@dataclass(frozen=True)
class DropoutMask(TensorOp):
    """A fresh random keep-mask scaled by ``1 / (1 - p)``, shaped like the input.

    Impure (``pure = False``): never folded or merged, and drawn again at every run, also
    in a frozen graph. The input is only read for its shape. With an ``owner`` (a layer),
    the mask is all ones whenever ``owner.training`` is false at run time, so
    ``model.eval()`` also switches dropout off in graphs traced in training mode.

    >>> from mg_tensor import Tensor
    >>> mask = apply(DropoutMask(0.5, np.random.default_rng(0)), Tensor(np.zeros(6)))
    >>> sorted(set(mask.data.tolist()))
    [0.0, 2.0]
    """

    p: float
    generator: np.random.Generator | None = field(default=None, repr=False)
    owner: Any = field(default=None, repr=False, compare=False)
    name: ClassVar[str] = "dropout_mask"
    pure: ClassVar[bool] = False
    differentiable: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, _float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x = arrays[0]
        if out is None:
            out = np.empty(x.shape, x.dtype)
        if (self.owner is not None and not self.owner.training) or self.p == 0:
            out.fill(1)
            return out
        if self.p >= 1:
            out.fill(0)
            return out
        if self.generator is None:
            from mg_nn.init import default_generator

            rng = default_generator()
        else:
            rng = self.generator
        if out.dtype in (np.float32, np.float64) and out.flags.c_contiguous:
            rng.random(out=out, dtype=out.dtype)
            keep = out >= self.p
        else:
            keep = rng.random(out.shape) >= self.p
        np.multiply(keep, 1.0 / (1.0 - self.p), out=out, casting="unsafe")
        return out


# --------------------------------------------------------------------------- losses
def _loss_scale(g: Tensor, reduction: str, n: int) -> Tensor:
    """``g`` as a per-row factor of the loss of each row: (N, 1) for "none", else 0-d."""
    if reduction == "none":
        return g.reshape((n, 1))
    return g / n if reduction == "mean" else g


def _check_targets(t: Array, classes: int) -> None:
    if t.size and (np.minimum.reduce(t) < 0 or np.maximum.reduce(t) >= classes):
        bad = t[(t < 0) | (t >= classes)][0]
        raise IndexError(
            f"cross_entropy: target class {int(bad)} is out of range for {classes} classes"
        )


@dataclass(frozen=True)
class CrossEntropy(TensorOp):
    """Fused, stable cross-entropy of ``(N, C)`` logits: ``(logits, target) -> loss``.

    ``target`` is either class indices (integers, shape (N,)) or probabilities / one-hot
    rows (floats, shape (N, C)). The loss of row i is ``logsumexp(x_i) - x_i[t_i]``
    (resp. ``sum_c t_ic * (logsumexp(x_i) - x_ic)``), reduced by "mean" (over N),
    "sum" or "none". Its gradient is the fused `CrossEntropyGrad`.

    >>> from mg_tensor import Tensor
    >>> apply(CrossEntropy("none"), Tensor([[0.0, 0.0]]), Tensor(np.array([1]))).data
    array([0.6931472], dtype=float32)
    """

    reduction: str = "mean"
    name: ClassVar[str] = "cross_entropy"

    def infer(self, *inputs: Node) -> Spec:
        x, t = inputs
        if x.ndim != 2:
            raise shape_error(
                self.name, inputs, "logits must be 2-d (N, C)", "reshape to (N, C) first"
            )
        if t.dtype.kind in "iu":
            if t.shape != x.shape[:1]:
                raise shape_error(
                    self.name,
                    inputs,
                    "class-index targets must have shape (N,)",
                    "pass one integer class per row",
                )
            dtype = _float_dtype(self.name, [x])
        else:
            if t.shape != x.shape:
                raise shape_error(
                    self.name,
                    inputs,
                    "probability targets must have the logits' shape (N, C)",
                    "pass integer class indices of shape (N,) or rows of probabilities",
                )
            dtype = _float_dtype(self.name, inputs)
        return ((x.shape[0],) if self.reduction == "none" else ()), dtype

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, t = arrays
        n, c = x.shape
        top = np.maximum.reduce(x, axis=1, keepdims=True)  # ufuncs: no Python wrappers
        e = np.subtract(x, top)
        np.exp(e, out=e)
        lse = np.log(np.add.reduce(e, axis=1))
        lse += top[:, 0]
        if t.dtype.kind in "iu":
            _check_targets(t, c)
            loss = lse - x[np.arange(n), t]
        else:
            loss = lse * t.sum(axis=1) - np.einsum("ij,ij->i", t, x)
        dtype = np.result_type(x.dtype, t.dtype) if t.dtype.kind == "f" else x.dtype
        if self.reduction == "none":
            return _result(loss, out, dtype)
        total = np.add.reduce(loss)
        return _result(total / n if self.reduction == "mean" else total, out, dtype)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, t = inputs
        gx = apply(CrossEntropyGrad(self.reduction), x, t, g) if needed[0] else None
        gt = None
        if needed[1]:  # only float (probability) targets are ever differentiated
            gt = -log_softmax(x, axis=1) * _loss_scale(g, self.reduction, x.shape[0])
        return [gx, gt]


@dataclass(frozen=True)
class CrossEntropyGrad(TensorOp):
    """``(logits, target, g) -> (softmax(logits) * sum(target) - target) * g / N``, in one
    kernel writing into its output buffer (the softmax is computed in place there).

    Its own gradient is written in ordinary ops (softmax, sums), so cross-entropy can be
    differentiated twice; only this first gradient is fused.

    >>> from mg_tensor import Tensor
    >>> x, t, g = Tensor([[0.0, 0.0]]), Tensor(np.array([1])), Tensor(1.0)
    >>> apply(CrossEntropyGrad("mean"), x, t, g).data
    array([[ 0.5, -0.5]], dtype=float32)
    """

    reduction: str = "mean"
    name: ClassVar[str] = "cross_entropy_grad"

    def infer(self, *inputs: Node) -> Spec:
        x, t, g = inputs
        floats = [x, g] if t.dtype.kind in "iu" else [x, t, g]
        return x.shape, _float_dtype(self.name, floats)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, t, g = arrays
        n, c = x.shape
        out = np.subtract(x, np.maximum.reduce(x, axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        total = np.add.reduce(out, axis=1, keepdims=True)
        if self.reduction == "none":
            k = g.reshape(n, 1)
        else:
            k = g / n if self.reduction == "mean" else g
        if t.dtype.kind in "iu":
            _check_targets(t, c)
            np.multiply(out, k / total, out=out)
            out[np.arange(n), t] -= k[:, 0] if self.reduction == "none" else k
        else:
            np.multiply(out, t.sum(axis=1, keepdims=True) / total, out=out)
            np.subtract(out, t, out=out)
            np.multiply(out, k, out=out)
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, t, gl = inputs
        n = x.shape[0]
        s = softmax(x, axis=1)
        k = _loss_scale(gl, self.reduction, n)
        indices = t.dtype.kind in "iu"
        rows = None if indices else t.sum(1, keepdims=True)
        grads: list[Tensor | None] = [None, None, None]
        if needed[0]:
            a = g * k if rows is None else g * (k * rows)
            grads[0] = s * (a - (a * s).sum(1, keepdims=True))
        if needed[1]:
            grads[1] = ((g * s).sum(1, keepdims=True) - g) * k
        if needed[2]:
            if rows is None:
                per_row = (g * s).sum(1) - g[np.arange(n), t]
            else:
                per_row = (g * (s * rows - t)).sum(1)
            if self.reduction == "none":
                grads[2] = per_row
            else:
                total = per_row.sum()
                grads[2] = total / n if self.reduction == "mean" else total
        return grads


@dataclass(frozen=True)
class Softplus(TensorOp):
    """``log(1 + exp(x))`` computed stably (``np.logaddexp(0, x)``); gradient sigmoid(x).

    >>> from mg_tensor import Tensor
    >>> apply(Softplus(), Tensor([0.0, 1000.0])).data
    array([6.931472e-01, 1.000000e+03], dtype=float32)
    """

    name: ClassVar[str] = "softplus"
    elementwise: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, _float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        result: Array = np.logaddexp(0, arrays[0], out=out)
        return result

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g * sigmoid(inputs[0])]
