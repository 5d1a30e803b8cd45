"""2-d convolution (PyTorch's conv2d, NCHW, with stride, asymmetric padding, dilation and
groups) and its two gradient ops. The three are closed under differentiation (the
gradient of ``conv2d_input_grad`` is a ``conv2d`` and a ``conv2d_weight_grad``...), so
second derivatives work; ``conv2d_input_grad`` is also the transposed convolution.

The kernels split the batch over the cores (`mg_tensor.parallel`), pad each share of
images once into a buffer (N, C, flat) and work through it in chunks of images whose
column matrix fills about 1 MB, so that each chunk's columns are made, multiplied and
consumed while in cache. The window of kernel position ``(i, j)`` is a strided view of
that buffer, so a column matrix is ``kh * kw`` strided copies (no per-pixel loop), laid
out (m, G, C/G * kh * kw, Ho * Wo): one matmul per image writes the output (N, O,
Ho * Wo) in place, with no crop and no transpose. (A "wide rows" layout, computing each
output row over the padded width for longer copies, measured faster on an AMD host and
slower on the Intel hosts this runs on now: conv2's forward 4.5 against 5.2 ms a step;
it was dropped.)

With stride 1 and numpy's OpenBLAS, the input gradient needs no column matrix and no
col2im at all: ``kh * kw`` GEMMs accumulate (BLAS's beta) into shifted views of one
padded buffer (`Conv2dInputGrad._by_shifts`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypedDict

import numpy as np
from numpy.lib.stride_tricks import as_strided

from mg_nn.ops.windows import Pads, Pair, out_size
from mg_tensor import blas, parallel
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
    """Where the windows of one convolution lie in its padded buffer (N, C, flat)."""

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
    def length(self) -> int:
        """Columns of each image's matmul: ``Ho * Wo``."""
        return self.out[0] * self.out[1]

    def interior(self, buffer: Array) -> Array:
        """The unpadded images of ``buffer`` (N, C, flat), as an (N, C, H, W) view."""
        hp, wp = self.padded
        (h, w), ((t, _), (left, _)) = self.size, self.padding
        images = buffer.reshape(*buffer.shape[:2], hp, wp)
        return images[:, :, t : t + h, left : left + w]

    def pad(self, x: Array) -> Array:
        """``x`` (N, C, H, W) as a zero-padded buffer (N, C, flat); ``x`` itself (a view)
        when there is nothing to pad."""
        if self.padded == self.size:
            return x.reshape(x.shape[0], x.shape[1], -1)
        buffer = self.zeros(x.shape[0], x.shape[1], x.dtype)
        np.copyto(self.interior(buffer), x)
        return buffer

    def _view(self, buffer: Array, shape: tuple[int, ...], steps: tuple[int, ...]) -> Array:
        """A strided view of ``buffer`` (N, C, flat): the image and channel axes, then
        ``shape`` with strides ``steps`` in elements."""
        sn, sc, it = buffer.strides
        return as_strided(buffer, (*buffer.shape[:2], *shape), (sn, sc, *(it * s for s in steps)))

    def _rows(self) -> tuple[Pair, Pair]:
        """Shape and element strides of one window position's (Ho, Wo) grid."""
        wp = self.padded[1]
        return self.out, (self.stride[0] * wp, self.stride[1])

    def columns(self, buffer: Array, groups: int, ones: bool = False) -> Array:
        """The column matrices of padded images (m, C, flat), per group: (m, G,
        C/G * kh * kw, Ho * Wo), one matmul per image, whose output is NCHW already (and
        whose gradient needs no transposing copy). With ``ones``, each group's matrix
        gets a last row of ones: a bias column in the weights then adds the bias inside
        the matmul, with no pass of its own over the output."""
        (kh, kw), (dh, dw), wp = self.window, self.dilation, self.padded[1]
        shape, steps = self._rows()
        view = self._view(buffer, (kh, kw, *shape), (dh * wp, dw, *steps))
        m, cg = buffer.shape[0], buffer.shape[1] // groups
        rows = cg * kh * kw
        cols = np.empty((m, groups, rows + ones, self.length), buffer.dtype)
        if ones:
            cols[:, :, rows] = 1
        windows = (m, groups, cg, kh, kw, *shape)  # both reshapes are views
        np.copyto(cols[:, :, :rows].reshape(windows), view.reshape(windows))
        return cols

    def chunks(self, part: slice, rows: int, itemsize: int) -> Iterator[slice]:
        """Slices of the images ``part`` whose column matrices (``rows`` each) fill about
        1 MB: each chunk's columns are made, multiplied and consumed while in cache,
        instead of writing and reading back a column matrix of the whole batch."""
        return parallel.chunks(part, (1 << 20) // (rows * self.length * itemsize))

    def spread(self, g: Array, groups: int) -> Array:
        """``g`` (m, O, Ho, Wo) laid out as the columns' products are (see `columns`)."""
        return np.ascontiguousarray(g).reshape(g.shape[0], groups, -1, self.length)

    def zeros(self, n: int, channels: int, dtype: np.dtype[Any]) -> Array:
        """A zero padded buffer (n, channels, flat)."""
        hp, wp = self.padded
        return np.zeros((n, channels, hp * wp), dtype)

    def fold(self, columns: Array, buffer: Array) -> None:
        """col2im: add column matrices laid out as `columns` makes them onto the padded
        images ``buffer`` (m, C, flat). One strided add per kernel position."""
        (kh, kw), (dh, dw), wp = self.window, self.dilation, self.padded[1]
        shape, steps = self._rows()
        m, c = buffer.shape[:2]
        blocks = columns.reshape(m, c, kh, kw, *shape).transpose(2, 3, 0, 1, 4, 5)
        for i in range(kh):
            for j in range(kw):
                view = self._view(buffer[:, :, i * dh * wp + j * dw :], shape, steps)
                np.add(view, blocks[i, j], out=view)


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

    def grid(self, size: Pair, kernel: Pair, out: tuple[int, ...] = ()) -> _Grid:
        """The grid of a convolution of (H, W) ``size``; ``out`` restricts it to its first
        (Ho, Wo) outputs (a transposed convolution's ``output_padding`` can add input
        rows that no window reaches)."""
        full = [
            out_size(size[i], kernel[i], self.stride[i], self.padding[i], self.dilation[i])
            for i in range(2)
        ]
        ho, wo = (out[0], out[1]) if out else (full[0], full[1])
        return _Grid(size, kernel, (ho, wo), self.stride, self.padding, self.dilation)

    def check_grad(
        self, inputs: tuple[Node, ...], x: tuple[int, ...], w: tuple[int, ...], g: Node
    ) -> None:
        """Validate a gradient op's operands: input shape ``x``, weight shape ``w``, and
        ``g`` (N, O, Ho, Wo) of at most the convolution's output size."""
        ok = len(x) == len(w) == g.ndim == 4 and x[0] == g.shape[0] and w[0] == g.shape[1]
        if ok and x[1] == w[1] * self.groups and w[0] % self.groups == 0:
            full = self.grid((x[2], x[3]), (w[2], w[3])).out
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
        grid = self.grid((x.shape[2], x.shape[3]), (w.shape[2], w.shape[3]))
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

    def weights(self, w: Array) -> Array:
        """``w`` (O, C / G, kh, kw) as (G, O / G, C / G * kh * kw) matrices."""
        return w.reshape(self.groups, w.shape[0] // self.groups, -1)


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
        n, c, h, wd = x.shape
        o = w.shape[0]
        grid = self.grid((h, wd), (w.shape[2], w.shape[3]))
        dtype = np.result_type(x.dtype, w.dtype, *(v.dtype for v in b))
        direct = out is not None and out.flags.c_contiguous and out.dtype == dtype
        y = out if direct and out is not None else np.empty((n, o, *grid.out), dtype)
        weights = self.weights(w)
        if b:  # the bias as a last weight column, against the columns' row of ones
            bias = b[0].reshape(self.groups, -1, 1)
            weights = np.concatenate([weights, bias], axis=-1)
        rows = c * w.shape[2] * w.shape[3]

        def images(part: slice) -> None:
            padded = grid.pad(x[part])
            for chunk in grid.chunks(slice(0, part.stop - part.start), rows, x.itemsize):
                cols = grid.columns(padded[chunk], self.groups, ones=bool(b))
                m, target = chunk.stop - chunk.start, y[part][chunk]
                np.matmul(weights, cols, out=target.reshape(m, self.groups, -1, grid.length))

        parallel.batch_map(images, n, x.nbytes + y.nbytes)
        return y if y is out else _into(out, y)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, w, *b = inputs
        size, kernel = (x.shape[2], x.shape[3]), (w.shape[2], w.shape[3])
        dx = apply(Conv2dInputGrad(size=size, **self.settings()), g, w) if needed[0] else None
        if b and needed[1] and needed[2]:  # both from the weight gradient's matmuls
            both = apply(Conv2dWeightGrad(window=kernel, bias=True, **self.settings()), x, g)
            return [dx, both[:, :-1].reshape(w.shape), both[:, -1]]
        grads: list[Tensor | None] = [
            dx,
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
        n, c = g.shape[0], w.shape[1] * self.groups
        dtype = np.result_type(g.dtype, w.dtype)
        direct = out is not None and out.dtype == dtype
        dx = out if direct and out is not None else np.empty((n, c, *self.size), dtype)
        shifts = self.stride == (1, 1) and g.dtype == w.dtype and blas.gemm_kernel(g.dtype.char)
        kernel = (w.shape[2], w.shape[3])
        grid = self.grid(self.size, kernel, g.shape[2:])
        transposed = self.weights(w).transpose(0, 2, 1)

        def images(part: slice) -> None:
            if shifts:
                np.copyto(dx[part], self._by_shifts(g[part], w))
                return
            buffer = grid.zeros(part.stop - part.start, c, dtype)
            rows = c * kernel[0] * kernel[1]
            for chunk in grid.chunks(slice(0, buffer.shape[0]), rows, buffer.itemsize):
                cols = np.matmul(transposed, grid.spread(g[part][chunk], self.groups))
                grid.fold(cols, buffer[chunk])
            np.copyto(dx[part], grid.interior(buffer))

        parallel.batch_map(images, n, g.nbytes + dx.nbytes)
        return dx if dx is out else _into(out, dx)

    def _by_shifts(self, g: Array, w: Array) -> Array:
        """Stride 1 with BLAS: no column matrix and no col2im. Channel-major, every image
        padded to (Hp, Wp) and laid end to end, kernel position (i, j) reads the output
        gradient at a fixed shift, so dx accumulates ``kh * kw`` GEMMs (``w[:, :, i,
        j].T @ g``) straight into shifted views of one buffer (BLAS's beta = 1)."""
        n, o, ho, wo = g.shape
        (kh, kw), (dh, dw) = (w.shape[2], w.shape[3]), self.dilation
        (h, wd), ((pt, pb), (pl, pr)) = self.size, self.padding
        hp, wp = h + pt + pb, wd + pl + pr
        length, c = n * hp * wp, w.shape[1] * self.groups
        grads = np.zeros((o, n, hp, wp), g.dtype)
        np.copyto(grads[:, :, :ho, :wo], g.transpose(1, 0, 2, 3))
        flat = grads.reshape(o, length)
        dx = np.zeros((c, length + (kh - 1) * dh * wp + (kw - 1) * dw), g.dtype)
        taps = np.ascontiguousarray(w.transpose(2, 3, 0, 1))  # (kh, kw, O, C / G)
        og, cg = o // self.groups, c // self.groups
        for i in range(kh):
            for j in range(kw):
                shift = i * dh * wp + j * dw
                for k in range(self.groups):
                    weights = taps[i, j, k * og : (k + 1) * og].T
                    target = dx[k * cg : (k + 1) * cg, shift : shift + length]
                    grads_k = flat[k * og : (k + 1) * og]
                    if not blas.gemm(weights, grads_k, target, beta=1.0):
                        target += weights @ grads_k  # a layout BLAS cannot read
        images = dx[:, :length].reshape(c, n, hp, wp)
        return images[:, :, pt : pt + h, pl : pl + wd].transpose(1, 0, 2, 3)

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

    With ``bias``, also the bias's gradient (``g`` summed over images and positions),
    from the same matmuls instead of a pass over ``g`` of its own: the columns get a row
    of ones (`_Grid.columns`), and the result is (O, C / groups * kh * kw + 1), the
    bias's gradient in its last column (`Conv2d.vjp` cuts it in two).

    >>> x, g = Tensor(np.ones((1, 1, 3, 3))), Tensor(np.ones((1, 1, 2, 2)))
    >>> apply(Conv2dWeightGrad(window=(2, 2)), x, g).data[0, 0]
    array([[4., 4.],
           [4., 4.]])
    >>> apply(Conv2dWeightGrad(window=(2, 2), bias=True), x, g).data
    array([[4., 4., 4., 4., 4.]])
    """

    window: Pair  # the kernel's (kh, kw)
    bias: bool = False
    name: ClassVar[str] = "conv2d_weight_grad"

    def weight_shape(self, x: tuple[int, ...], g: tuple[int, ...]) -> tuple[int, ...]:
        """The weight's shape (O, C / groups, kh, kw) for an input ``x`` and a ``g``."""
        return (g[1], x[1] // self.groups, *self.window) if len(g) == len(x) == 4 else ()

    def infer(self, *inputs: Node) -> Spec:
        x, g = inputs
        w = self.weight_shape(x.shape, g.shape)
        self.check_grad(inputs, x.shape, w, g)
        shape = (w[0], w[1] * w[2] * w[3] + 1) if self.bias else w
        return shape, float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, g = arrays
        c, o = x.shape[1], g.shape[1]
        size = (x.shape[2], x.shape[3])
        grid = self.grid(size, self.window, g.shape[2:])
        rows = c * self.window[0] * self.window[1] + self.bias

        def block(images: Array, grads: Array) -> Array:
            cols = grid.columns(images, self.groups, ones=self.bias)
            spread = grid.spread(grads, self.groups)
            # cols @ spread.T, transposed below: OpenBLAS runs (K, L) @ (L, O) several
            # times faster than (O, L) @ (L, K) for small K
            summed: Array = np.matmul(cols, np.swapaxes(spread, -1, -2)).sum(axis=0)
            return summed  # one product per image (see `columns`), summed

        def images(part: slice) -> Array:
            padded, grads = grid.pad(x[part]), g[part]
            chunks = grid.chunks(slice(0, padded.shape[0]), rows, x.itemsize)
            return functools.reduce(np.add, (block(padded[c], grads[c]) for c in chunks))

        total = functools.reduce(
            np.add, parallel.batch_map(images, x.shape[0], x.nbytes + g.nbytes)
        )
        shape = (o, -1) if self.bias else self.weight_shape(x.shape, g.shape)
        return _into(out, total.transpose(0, 2, 1).reshape(shape))

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, go = inputs
        size = (x.shape[2], x.shape[3])
        gw, gb = g, None
        if self.bias:  # the weight's and the bias's parts of the cotangent
            gw, gb = g[:, :-1].reshape(self.weight_shape(x.shape, go.shape)), g[:, -1]
        dgo = None
        if needed[1]:
            dgo = self.conv(x, gw, go.shape)
            dgo = dgo if gb is None else dgo + gb.reshape((1, -1, 1, 1))
        return [
            apply(Conv2dInputGrad(size=size, **self.settings()), go, gw) if needed[0] else None,
            dgo,
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
