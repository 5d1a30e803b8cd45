"""2-d convolution (PyTorch's conv2d, NCHW) and its two gradient ops, closed under
differentiation (the gradient of ``conv2d_input_grad`` is a ``conv2d`` and a
``conv2d_weight_grad``...), so second derivatives work.

Convolution uses im2col: a strided window view of the (padded) input, one copy into a
column matrix and a BLAS matmul. Only the backward col2im loops, over the kernel's
``kh * kw`` positions (never over pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mg_nn.ops.windows import Pair, out_size, windows
from mg_tensor.oplib import (
    Array,
    Grads,
    Node,
    Spec,
    Tensor,
    TensorOp,
    apply,
    float_dtype,
    shape_error,
    write_out,
)


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
            out_size(x.shape[2 + i], w.shape[2 + i], self.stride[i], self.padding[i])
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
        return (x.shape[0], w.shape[0], ho, wo), float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, w, *b = arrays
        n, c = x.shape[:2]
        o, _, kh, kw = w.shape
        win = windows(x, (kh, kw), self.stride, self.padding)
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
        return (g.shape[0], w.shape[1], *self.size), float_dtype(self.name, inputs)

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
        return (g.shape[1], x.shape[1], *self.window), float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, g = arrays
        c = x.shape[1]
        o = g.shape[1]
        kh, kw = self.window
        win = windows(x, self.window, self.stride, self.padding)  # (N, C, Ho, Wo, kh, kw)
        cols = np.ascontiguousarray(win.transpose(1, 4, 5, 0, 2, 3)).reshape(c * kh * kw, -1)
        gt = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(o, -1)
        # (O, N*Ho*Wo) @ (N*Ho*Wo, C*kh*kw): BLAS is fastest with both long axes contiguous
        if out is not None and out.flags.c_contiguous:
            np.matmul(gt, cols.T, out=out.reshape(o, -1))
            return out
        return write_out((gt @ cols.T).reshape(o, c, kh, kw), out, np.result_type(x.dtype, g.dtype))

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, go = inputs
        size = (x.shape[2], x.shape[3])
        return [
            apply(Conv2dInputGrad(self.stride, self.padding, size), go, g) if needed[0] else None,
            apply(Conv2d(self.stride, self.padding), x, g) if needed[1] else None,
        ]
