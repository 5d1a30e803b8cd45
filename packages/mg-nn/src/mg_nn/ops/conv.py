"""2-d convolution (PyTorch's conv2d, NCHW, with stride, asymmetric padding, dilation and
groups) and its two gradient ops. The three are closed under differentiation (the
gradient of ``conv2d_input_grad`` is a ``conv2d`` and a ``conv2d_weight_grad``...), so
second derivatives work; ``conv2d_input_grad`` is also the transposed convolution.

All three kernels work on one layout, channel-major and zero-padded: the input becomes a
``(C, N * Hp * Wp)`` buffer (one transposing copy). Every window of kernel position
``(i, j)`` is then a strided view of that buffer, so the column matrix ``(C*kh*kw, L)``
is ``kh * kw`` long, contiguous copies (no per-pixel loop, no 6-d gather), and each
kernel is one BLAS matmul over the whole batch (one per group). With stride 1 the output
grid is computed on the padded width ``Wp`` ("wide" rows: row ``h`` of every window is
one contiguous run of ``Ho * Wp`` values); the ``Wp - Wo`` extra columns of each row are
cropped, and zeroed in gradients so they add nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypedDict

import numpy as np
from numpy.lib.stride_tricks import as_strided

from mg_nn.ops.windows import Pads, Pair, out_size
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
)


@dataclass(frozen=True)
class _Grid:
    """Where the windows of one convolution lie in its channel-major padded buffer."""

    n: int
    size: Pair  # the input's (H, W)
    window: Pair  # the kernel's (kh, kw)
    out: Pair  # (Ho, Wo)
    stride: Pair
    padding: Pads
    dilation: Pair

    @property
    def padded(self) -> Pair:
        (h, w), ((t, b), (left, r)) = self.size, self.padding
        return h + t + b, w + left + r

    @property
    def width(self) -> int:
        """Columns computed per output row: the padded width when the stride is 1."""
        return self.padded[1] if self.stride == (1, 1) else self.out[1]

    @property
    def length(self) -> int:
        """Columns of the matmuls: ``N * Ho * width``."""
        return self.n * self.out[0] * self.width

    def _strides(self, itemsize: int) -> tuple[int, int, int]:
        hp, wp = self.padded
        return hp * wp * itemsize, self.stride[0] * wp * itemsize, self.stride[1] * itemsize

    def _flat(self) -> int:
        """Per-channel buffer length: the padded images plus what wide rows read past
        the end (they only feed cropped columns)."""
        hp, wp = self.padded
        (kh, kw), (dh, dw), (ho, _) = self.window, self.dilation, self.out
        last = (self.n - 1) * hp * wp + ((ho - 1) * self.stride[0] + (kh - 1) * dh) * wp
        last += (self.width - 1) * self.stride[1] + (kw - 1) * dw
        return max(self.n * hp * wp, last + 1)

    def _interior(self, buffer: Array) -> Array:
        """The unpadded images in ``buffer``, as (C, N, H, W)."""
        hp, wp = self.padded
        (h, w), ((t, _), (left, _)) = self.size, self.padding
        images = buffer[:, : self.n * hp * wp].reshape(-1, self.n, hp, wp)
        return images[:, :, t : t + h, left : left + w]

    def pad(self, x: Array) -> Array:
        """``x`` (N, C, H, W) as a zero-padded channel-major buffer (C, flat)."""
        buffer = np.zeros((x.shape[1], self._flat()), x.dtype)
        np.copyto(self._interior(buffer), x.transpose(1, 0, 2, 3))
        return buffer

    def windows(self, buffer: Array) -> Array:
        """Every window of the padded buffer: a (C, kh, kw, N, Ho, width) strided view."""
        sc, it = buffer.strides
        (kh, kw), (dh, dw), (ho, _) = self.window, self.dilation, self.out
        wp = self.padded[1]
        shape = (buffer.shape[0], kh, kw, self.n, ho, self.width)
        return as_strided(buffer, shape, (sc, dh * wp * it, dw * it, *self._strides(it)))

    def columns(self, x: Array) -> Array:
        """The column matrix (C * kh * kw, L) of ``x`` (N, C, H, W)."""
        view = self.windows(self.pad(x))
        return np.ascontiguousarray(view).reshape(-1, self.length)

    def spread(self, g: Array) -> Array:
        """``g`` (N, O, Ho, Wo) laid out as the matmuls' (O, L), zero in cropped columns."""
        o, (ho, wo) = g.shape[1], self.out
        grid = (np.zeros if self.width > wo else np.empty)((o, self.n, ho, self.width), g.dtype)
        np.copyto(grid[..., :wo], g.transpose(1, 0, 2, 3))
        return grid.reshape(o, self.length)

    def crop(self, result: Array) -> Array:
        """The matmul result (O, L) as an (N, O, Ho, Wo) view."""
        ho, wo = self.out
        return result.reshape(-1, self.n, ho, self.width)[..., :wo].transpose(1, 0, 2, 3)

    def fold(self, columns: Array, dtype: np.dtype[Any]) -> Array:
        """col2im: add the column matrix (C*kh*kw, L) back onto the padded images; the
        (N, C, H, W) view of the result. One strided add per kernel position."""
        (kh, kw), (dh, dw), (ho, _) = self.window, self.dilation, self.out
        blocks = columns.reshape(-1, kh, kw, self.n, ho, self.width)
        buffer = np.zeros((blocks.shape[0], self._flat()), dtype)
        sc, it = buffer.strides
        shape = (buffer.shape[0], self.n, ho, self.width)
        wp = self.padded[1]
        for i in range(kh):
            for j in range(kw):
                start = buffer[:, i * dh * wp + j * dw :]
                view = as_strided(start, shape, (sc, *self._strides(it)))
                np.add(view, blocks[:, i, j], out=view)
        return self._interior(buffer).transpose(1, 0, 2, 3)


def _into(out: Array | None, value: Array) -> Array:
    if out is None:
        return np.ascontiguousarray(value)
    np.copyto(out, value)
    return out


class _Settings(TypedDict):
    stride: Pair
    padding: Pads
    dilation: Pair
    groups: int


@dataclass(frozen=True, kw_only=True)
class _ConvOp(TensorOp):
    """The settings all three convolution ops share."""

    stride: Pair = (1, 1)
    padding: Pads = ((0, 0), (0, 0))  # ((top, bottom), (left, right))
    dilation: Pair = (1, 1)
    groups: int = 1

    def settings(self) -> _Settings:
        return {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
        }

    def grid(self, n: int, size: Pair, kernel: Pair, out: tuple[int, ...] = ()) -> _Grid:
        """The grid of a convolution of (H, W) ``size``; ``out`` restricts it to its first
        (Ho, Wo) outputs (a transposed convolution's ``output_padding`` can add input
        rows that no window reaches)."""
        full = [
            out_size(size[i], kernel[i], self.stride[i], self.padding[i], self.dilation[i])
            for i in range(2)
        ]
        ho, wo = (out[0], out[1]) if out else (full[0], full[1])
        return _Grid(n, size, kernel, (ho, wo), self.stride, self.padding, self.dilation)

    def check_grad(
        self, inputs: tuple[Node, ...], x: tuple[int, ...], w: tuple[int, ...], g: Node
    ) -> None:
        """Validate a gradient op's operands: input shape ``x``, weight shape ``w``, and
        ``g`` (N, O, Ho, Wo) of at most the convolution's output size."""
        ok = len(x) == len(w) == g.ndim == 4 and x[0] == g.shape[0] and w[0] == g.shape[1]
        if ok and x[1] == w[1] * self.groups and w[0] % self.groups == 0:
            full = self.grid(x[0], (x[2], x[3]), (w[2], w[3])).out
            if 1 <= g.shape[2] <= full[0] and 1 <= g.shape[3] <= full[1]:
                return
        raise shape_error(
            self.name,
            inputs,
            f"needs g (N, O, Ho, Wo) from a convolution of an input {x} by a weight {w} "
            "(O, C / groups, kh, kw)",
            "check the shapes, the stride, the groups and the output size",
        )

    def check(self, inputs: tuple[Node, ...], x: Node, w: Node, channels: int) -> Pair:
        """Validate (N, C, H, W) ``x`` against an (O, C/groups, kh, kw) weight ``w``
        (``channels`` is C); the output size (Ho, Wo)."""
        if x.ndim != 4 or w.ndim != 4:
            raise shape_error(
                self.name,
                inputs,
                "needs a 4-d input (N, C, H, W) and a 4-d weight (out, in / groups, kh, kw)",
                "add a batch axis with .unsqueeze(0)",
            )
        if channels != w.shape[1] * self.groups or w.shape[0] % self.groups:
            raise shape_error(
                self.name,
                inputs,
                f"input has {channels} channels but the weight expects "
                f"{w.shape[1]} x {self.groups} groups (and out channels divisible by groups)",
                "make in_channels match the input's channel axis (axis 1, NCHW)",
            )
        grid = self.grid(x.shape[0], (x.shape[2], x.shape[3]), (w.shape[2], w.shape[3]))
        if min(grid.out) < 1:
            raise shape_error(
                self.name,
                inputs,
                "the (dilated) kernel is larger than the padded input",
                "use a smaller kernel or more padding",
            )
        return grid.out

    def conv(self, x: Tensor, w: Tensor, shape: tuple[int, ...]) -> Tensor:
        """conv2d of ``x`` by ``w`` with these settings, cut to ``shape``'s (Ho, Wo) (see
        `grid`)."""
        y = apply(Conv2d(**self.settings()), x, w)
        return y if y.shape[2:] == shape[2:] else y[:, :, : shape[2], : shape[3]]

    def grouped(self, a: Array, rows: int) -> Array:
        """``a`` (G * rows, ...) as (G, rows, -1) for one batched matmul over the groups."""
        return a.reshape(self.groups, rows // self.groups, -1)


@dataclass(frozen=True, kw_only=True)
class Conv2d(_ConvOp):
    """2-d cross-correlation (PyTorch's conv2d), NCHW, with an optional bias input.

    >>> x, w = Tensor(np.ones((1, 1, 3, 3))), Tensor(np.ones((1, 1, 2, 2)))
    >>> apply(Conv2d(), x, w).data[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """

    name: ClassVar[str] = "conv2d"

    def infer(self, *inputs: Node) -> Spec:
        x, w, *b = inputs
        ho, wo = self.check(inputs, x, w, x.shape[1])
        if b and b[0].shape != (w.shape[0],):
            raise shape_error(
                self.name, inputs, f"bias must have shape ({w.shape[0]},)", "pass a 1-d bias"
            )
        return (x.shape[0], w.shape[0], ho, wo), float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, w, *b = arrays
        o = w.shape[0]
        grid = self.grid(x.shape[0], (x.shape[2], x.shape[3]), (w.shape[2], w.shape[3]))
        cols = grid.columns(x)
        result = np.matmul(self.grouped(w, o), self.grouped(cols, cols.shape[0]))
        y = grid.crop(result)
        if b:
            dtype = np.result_type(x.dtype, w.dtype, b[0].dtype)
            target = np.empty(y.shape, dtype) if out is None else out
            return np.add(y, b[0].reshape(o, 1, 1), out=target)  # bias added while copying
        return _into(out, y)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, w, *b = inputs
        size, kernel = (x.shape[2], x.shape[3]), (w.shape[2], w.shape[3])
        grads: list[Tensor | None] = [
            apply(Conv2dInputGrad(size=size, **self.settings()), g, w) if needed[0] else None,
            apply(Conv2dWeightGrad(window=kernel, **self.settings()), x, g) if needed[1] else None,
        ]
        if b:
            grads.append(g.sum((0, 2, 3)) if needed[2] else None)
        return grads


@dataclass(frozen=True, kw_only=True)
class Conv2dInputGrad(_ConvOp):
    """The gradient of conv2d with respect to its input: ``(g, w) -> dx`` (col2im), which
    is also the transposed convolution of ``g`` by ``w``.

    Linear in ``g`` and in ``w``: it is conv2d's adjoint, so its own gradients are a
    conv2d and a weight gradient.

    >>> g, w = Tensor(np.ones((1, 1, 2, 2))), Tensor(np.ones((1, 1, 2, 2)))
    >>> apply(Conv2dInputGrad(size=(3, 3)), g, w).data[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """

    size: Pair  # the input's (H, W): with strides it cannot be recovered from g
    name: ClassVar[str] = "conv2d_input_grad"

    def infer(self, *inputs: Node) -> Spec:
        g, w = inputs
        x = (g.shape[0], w.shape[1] * self.groups, *self.size) if g.ndim == w.ndim == 4 else ()
        self.check_grad(inputs, x, w.shape, g)
        return x, float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        g, w = arrays
        o = w.shape[0]
        grid = self.grid(g.shape[0], self.size, (w.shape[2], w.shape[3]), g.shape[2:])
        spread = grid.spread(g)
        cols = np.matmul(self.grouped(w, o).transpose(0, 2, 1), self.grouped(spread, o))
        return _into(out, grid.fold(cols, np.result_type(g.dtype, w.dtype)))

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        go, w = inputs
        kernel = (w.shape[2], w.shape[3])
        return [
            self.conv(g, w, go.shape) if needed[0] else None,
            apply(Conv2dWeightGrad(window=kernel, **self.settings()), g, go) if needed[1] else None,
        ]


@dataclass(frozen=True, kw_only=True)
class Conv2dWeightGrad(_ConvOp):
    """The gradient of conv2d with respect to its weight: ``(x, g) -> dw``.

    >>> x, g = Tensor(np.ones((1, 1, 3, 3))), Tensor(np.ones((1, 1, 2, 2)))
    >>> apply(Conv2dWeightGrad(window=(2, 2)), x, g).data[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """

    window: Pair  # the kernel's (kh, kw)
    name: ClassVar[str] = "conv2d_weight_grad"

    def infer(self, *inputs: Node) -> Spec:
        x, g = inputs
        w = (g.shape[1], x.shape[1] // self.groups, *self.window) if g.ndim == x.ndim == 4 else ()
        self.check_grad(inputs, x.shape, w, g)
        return w, float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, g = arrays
        o, c = g.shape[1], x.shape[1]
        grid = self.grid(x.shape[0], (x.shape[2], x.shape[3]), self.window, g.shape[2:])
        cols, spread = grid.columns(x), grid.spread(g)
        # cols @ spread.T, transposed: (K, L) @ (L, O) reads both long axes contiguously,
        # which OpenBLAS runs several times faster than (O, L) @ (L, K) for small K
        result = np.matmul(
            self.grouped(cols, cols.shape[0]), self.grouped(spread, o).transpose(0, 2, 1)
        )
        dw = result.transpose(0, 2, 1).reshape(o, c // self.groups, *self.window)
        return _into(out, dw)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, go = inputs
        size = (x.shape[2], x.shape[3])
        return [
            apply(Conv2dInputGrad(size=size, **self.settings()), go, g) if needed[0] else None,
            self.conv(x, g, go.shape) if needed[1] else None,
        ]


@dataclass(frozen=True, kw_only=True)
class ConvTranspose2d(Conv2dInputGrad):
    """The transposed convolution ``(x, w) -> y`` (PyTorch's conv_transpose2d, weight
    (in, out / groups, kh, kw)): conv2d's input gradient under its own name.

    >>> x, w = Tensor(np.ones((1, 1, 1, 1))), Tensor(np.ones((1, 1, 2, 2)))
    >>> apply(ConvTranspose2d(size=(2, 2)), x, w).data[0, 0]
    array([[1., 1.],
           [1., 1.]])
    """

    name: ClassVar[str] = "conv_transpose2d"
