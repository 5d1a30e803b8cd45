"""Max and average pooling over the last two axes (PyTorch's, with padding and
ceil_mode) and their gradient ops: one strided view per kernel position, never a loop
over pixels. Padding and ceil_mode pad the input once (with -inf for max, zeros for the
mean, whose divisor then counts as PyTorch's does) and crop the gradients.

>>> import numpy as np
>>> from mg_tensor.oplib import Array, Tensor, apply
>>> x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
>>> apply(MaxPool2d((2, 2), (2, 2)), x).data
array([[[[ 5.,  7.],
         [13., 15.]]]])
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mg_nn.ops.windows import Pads, Pair, out_size, positions
from mg_tensor import parallel
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
class _PoolOp(TensorOp):
    """The settings every pooling op shares, and the padded layout they imply."""

    window: Pair
    stride: Pair
    padding: Pair = (0, 0)
    ceil_mode: bool = False

    def out(self, hw: tuple[int, ...]) -> Pair:
        """The output's (Ho, Wo) for an input whose last two axes are ``hw``."""
        h, w = (
            out_size(hw[-2 + i], self.window[i], self.stride[i], (p, p), 1, self.ceil_mode)
            for i, p in enumerate(self.padding)
        )
        return h, w

    def pads(self, hw: tuple[int, ...]) -> Pads:
        """Padding on each side that makes every window whole (ceil_mode's last windows
        may reach past ``padding``)."""
        out = self.out(hw)
        h, w = (
            (p, max(0, (out[i] - 1) * self.stride[i] + self.window[i] - hw[-2 + i] - p))
            for i, p in enumerate(self.padding)
        )
        return h, w

    def padded(self, x: Array, fill: float) -> Array:
        """``x`` padded as `pads` says with ``fill`` (``x`` itself when no padding)."""
        (t, b), (left, r) = self.pads(x.shape)
        if not (t or b or left or r):
            return x
        h, w = x.shape[-2:]
        result = np.full((*x.shape[:-2], h + t + b, w + left + r), fill, x.dtype)
        result[..., t : t + h, left : left + w] = x
        return result

    def crop(self, padded: Array, hw: tuple[int, ...], out: Array | None) -> Array:
        """The unpadded part of a padded gradient, written into ``out``."""
        (t, b), (left, r) = self.pads(hw)
        h, w = hw[-2:]
        part = padded[..., t : t + h, left : left + w] if t or b or left or r else padded
        if out is None:
            return part if part is padded else np.ascontiguousarray(part)
        if part is not out:
            np.copyto(out, part)
        return out

    def tiles(self) -> bool:
        """Whether the windows tile the (padded) input: stride equal to the window."""
        return self.stride == self.window

    def settings(self) -> tuple[Pair, Pair, Pair, bool]:
        return self.window, self.stride, self.padding, self.ceil_mode

    def check(self, inputs: tuple[Node, ...], x: Node) -> Pair:
        if x.ndim < 2:
            raise shape_error(
                self.name, inputs, "pooling needs at least 2-d input (..., H, W)", "reshape"
            )
        if any(2 * p > k for p, k in zip(self.padding, self.window, strict=True)):
            raise shape_error(
                self.name,
                inputs,
                f"padding {self.padding} is more than half the window {self.window}",
                "pad at most kernel_size // 2",
            )
        out = self.out(x.shape)
        if min(out) < 1:
            raise shape_error(
                self.name,
                inputs,
                f"the window {self.window} is larger than the padded input {x.shape[-2:]}",
                "pool less or pad more",
            )
        return out


@dataclass(frozen=True)
class _Pool2d(_PoolOp):
    """Combine the windows of the last two axes with ``combine``: one strided view per
    kernel position, no loop over pixels."""

    combine: ClassVar[np.ufunc]
    fill: ClassVar[float]

    def infer(self, *inputs: Node) -> Spec:
        x = inputs[0]
        return (*x.shape[:-2], *self.check(inputs, x)), float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x = self.padded(arrays[0], type(self).fill)
        hw = self.out(arrays[0].shape)
        if self.tiles():
            return self._tiled(x, hw, out)
        spots = list(positions(self.window, self.stride, hw))
        if out is None:
            out = x[spots[0]].copy()
        else:
            np.copyto(out, x[spots[0]])
        for spot in spots[1:]:
            type(self).combine(out, x[spot], out=out)
        return out

    def _tiled(self, x: Array, hw: Pair, out: Array | None) -> Array:
        """Windows that tile the input, in cache-sized chunks of its planes shared out
        between the cores."""
        whole = out is not None and out.flags.c_contiguous
        y = out if whole and out is not None else np.empty((*x.shape[:-2], *hw), x.dtype)
        xs, ys = _planes(x), _planes(y)

        def run(part: slice) -> None:
            self._combine_tiles(xs[part], hw, ys[part])

        parallel.chunked(run, xs.shape[0], xs[0].nbytes)
        if out is None or y is out:
            return y
        np.copyto(out, y)
        return out

    def _combine_tiles(self, x: Array, hw: Pair, out: Array) -> None:
        """Combine whole rows first (contiguous, SIMD-friendly passes over half the data
        for 2x2), then the columns of the smaller result."""
        rows = _rows(x, self.window, hw)  # (..., Ho, kh, Wo * kw)
        combine = type(self).combine
        half = rows[..., 0, :] if self.window[0] == 1 else combine(rows[..., 0, :], rows[..., 1, :])
        for i in range(2, self.window[0]):
            combine(half, rows[..., i, :], out=half)
        cells = half.reshape(*half.shape[:-1], hw[1], self.window[1])
        np.copyto(out, cells[..., 0])
        for j in range(1, self.window[1]):
            combine(out, cells[..., j], out=out)


@dataclass(frozen=True)
class MaxPool2d(_Pool2d):
    """Maximum over ``window`` windows of the last two axes.

    The gradient goes to the first maximum of each window (row-major), as in PyTorch.

    >>> apply(MaxPool2d((1, 2), (1, 2)), Tensor([[1.0, 3.0, 2.0, 0.0]])).data
    array([[3., 2.]], dtype=float32)
    >>> apply(MaxPool2d((1, 2), (1, 2), ceil_mode=True), Tensor([[1.0, 3.0, 2.0]])).data
    array([[3., 2.]], dtype=float32)
    """

    name: ClassVar[str] = "max_pool2d"
    selects_max = True
    combine = np.maximum
    fill = -np.inf

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [apply(MaxPool2dGrad(*self.settings()), inputs[0], out, g)]


def _first_max(x: Array, y: Array, kernel: Pair, stride: Pair) -> Iterator[tuple[Any, Array]]:
    """For each kernel position: its index and where it holds the window's first maximum."""
    taken = np.zeros(y.shape, bool)
    hit = np.empty(y.shape, bool)
    for spot in positions(kernel, stride, y.shape[-2:]):
        np.equal(x[spot], y, out=hit)
        np.greater(hit, taken, out=hit)  # hit and not yet taken
        taken |= hit
        yield spot, hit


def _planes(a: Array) -> Array:
    """``a`` (..., H, W) as a stack of planes (P, H, W): a view when ``a`` is contiguous."""
    return a.reshape(-1, *a.shape[-2:])


def _rows(x: Array, window: Pair, hw: Pair) -> Array:
    """The windows that tile ``x`` as (..., Ho, kh, Wo * kw): window rows stay contiguous."""
    (kh, kw), (ho, wo) = window, hw
    return x[..., : ho * kh, : wo * kw].reshape(*x.shape[:-2], ho, kh, wo * kw)


def _route_tiled(x: Array, y: Array, g: Array, dx: Array, window: Pair) -> None:
    """`MaxPool2dGrad` for windows that tile ``x`` exactly (``dx`` C-contiguous, so its
    rows are a view): ``dx`` gets ``g`` at each window's first maximum. Compares whole
    rows at once against the maxima repeated along the row (no size-``kw`` inner loops),
    then keeps the first hit per window."""
    (kh, kw), hw = window, (y.shape[-2], y.shape[-1])
    wide = _repeat(y, kw)[..., None, :]  # (..., Ho, 1, Wo * kw)
    hits = np.equal(_rows(x, window, hw), wide)
    if kw == 2 and sys.byteorder == "little":
        _first_of_pairs(hits)
    else:
        cells = hits.reshape(*hits.shape[:-1], hw[1], kw)  # (..., Ho, kh, Wo, kw)
        taken = cells[..., 0, :, 0].copy()
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    hit = cells[..., i, :, j]
                    np.greater(hit, taken, out=hit)  # a hit not yet taken
                    np.logical_or(taken, hit, out=taken)
    np.multiply(hits, _repeat(g, kw)[..., None, :], out=_rows(dx, window, hw))


def _repeat(a: Array, k: int) -> Array:
    """``np.repeat(a, k, axis=-1)``. For k = 2 and 4-byte values, one integer multiply on
    8-byte words writes each value's bits twice (``v * (2**32 + 1)``): 3.5x faster than
    np.repeat, whose copies are an element at a time.

    >>> _repeat(np.array([[1.5, -2.0]], np.float32), 2)
    array([[ 1.5,  1.5, -2. , -2. ]], dtype=float32)
    """
    if k != 2 or a.dtype.itemsize != 4:
        return np.repeat(a, k, axis=-1)
    bits = np.ascontiguousarray(a).view(np.uint32).astype(np.uint64)
    bits *= np.uint64(0x1_0000_0001)
    return bits.view(a.dtype)


def _first_of_pairs(hits: Array) -> None:
    """Keep only the first hit of each window of boolean ``hits`` (..., Ho, kh, Wo * 2),
    in place. Each window row is two adjacent bytes, read as one little-endian uint16
    (first column in the low byte): ``v & ~(v << 8)`` drops the second when the first
    is set, in one pass over contiguous memory; then a row is dropped where an earlier
    row of the window had a hit."""
    pairs = hits.view(np.uint16)  # (..., Ho, kh, Wo)
    first = np.left_shift(pairs, 8)
    np.invert(first, out=first)
    np.bitwise_and(pairs, first, out=pairs)
    taken = pairs[..., 0, :] != 0
    for i in range(1, pairs.shape[-2]):
        row = pairs[..., i, :]
        np.multiply(row, ~taken, out=row, casting="unsafe")
        taken |= row != 0


@dataclass(frozen=True)
class MaxPool2dGrad(_PoolOp):
    """``(x, y, g) -> dx``: route each window's gradient to its (first) maximum.

    >>> x, y, g = Tensor([[1.0, 3.0]]), Tensor([[3.0]]), Tensor([[5.0]])
    >>> apply(MaxPool2dGrad((1, 2), (1, 2)), x, y, g).data
    array([[0., 5.]], dtype=float32)
    """

    name: ClassVar[str] = "max_pool2d_grad"

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, y, g = arrays
        dtype = np.result_type(x.dtype, g.dtype)
        xp = self.padded(x, -np.inf)
        dx = np.empty(xp.shape, dtype) if out is None or xp is not x else out
        exact = xp.shape[-2:] == (y.shape[-2] * self.window[0], y.shape[-1] * self.window[1])
        if self.tiles() and exact and dx.flags.c_contiguous:
            xs, ys, gs, dxs = (_planes(a) for a in (xp, y, g, dx))

            def run(part: slice) -> None:  # writes every element of dx
                _route_tiled(xs[part], ys[part], gs[part], dxs[part], self.window)

            parallel.chunked(run, xs.shape[0], xs[0].nbytes)
            return self.crop(dx, x.shape, out)
        dx.fill(0)
        disjoint = all(s >= k for s, k in zip(self.stride, self.window, strict=True))
        share = np.empty(y.shape, dtype)
        for spot, hit in _first_max(xp, y, self.window, self.stride):
            if disjoint:  # windows do not overlap: each input element is written once
                np.multiply(g, hit, out=dx[spot])
            else:  # (a masked np.add with where= is several times slower)
                np.multiply(g, hit, out=share)
                dx[spot] += share
        return self.crop(dx, x.shape, out)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, y, _ = inputs  # piecewise linear: no gradient for x and y
        return [None, None, apply(MaxPool2dPick(*self.settings()), x, y, g)]


@dataclass(frozen=True)
class MaxPool2dPick(_PoolOp):
    """``(x, y, u) -> u`` at each window's (first) maximum: the adjoint of `MaxPool2dGrad`.

    >>> x, y, u = Tensor([[1.0, 3.0]]), Tensor([[3.0]]), Tensor([[7.0, 8.0]])
    >>> apply(MaxPool2dPick((1, 2), (1, 2)), x, y, u).data
    array([[8.]], dtype=float32)
    """

    name: ClassVar[str] = "max_pool2d_pick"

    def infer(self, *inputs: Node) -> Spec:
        return inputs[1].shape, float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, y, u = arrays
        dtype = np.result_type(x.dtype, u.dtype)
        if out is None:
            out = np.zeros(y.shape, dtype)
        else:
            out.fill(0)
        xp, up = self.padded(x, -np.inf), self.padded(u, 0.0)
        share = np.empty(y.shape, dtype)
        for spot, hit in _first_max(xp, y, self.window, self.stride):
            np.multiply(up[spot], hit, out=share)  # exactly one position hits per window
            out += share
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, y, _ = inputs
        return [None, None, apply(MaxPool2dGrad(*self.settings()), x, y, g)]


@dataclass(frozen=True)
class _AvgPoolOp(_PoolOp):
    count_include_pad: bool = True

    def divisor(self, hw: tuple[int, ...]) -> float | Array:
        """What each window's sum is divided by: the window's area, or per window (Ho, Wo)
        with padding or ceil_mode, counted as PyTorch does (windows clipped to the padded
        input; padding excluded unless ``count_include_pad``)."""
        if self.padding == (0, 0) and not self.ceil_mode:
            return float(self.window[0] * self.window[1])
        counts = []
        for size, k, s, p, n in zip(
            hw[-2:], self.window, self.stride, self.padding, self.out(hw), strict=True
        ):
            start = np.arange(n) * s - p
            end = np.minimum(start + k, size + p)
            if not self.count_include_pad:
                start, end = np.maximum(start, 0), np.minimum(end, size)
            counts.append(end - start)
        return np.outer(counts[0], counts[1]).astype(np.float64)

    def avg_settings(self) -> tuple[Pair, Pair, Pair, bool, bool]:
        return (*self.settings(), self.count_include_pad)


@dataclass(frozen=True)
class AvgPool2d(_AvgPoolOp, _Pool2d):
    """Mean over ``window`` windows of the last two axes.

    >>> apply(AvgPool2d((1, 2), (1, 2)), Tensor([[1.0, 3.0, 2.0, 0.0]])).data
    array([[2., 1.]], dtype=float32)
    >>> apply(AvgPool2d((1, 2), (1, 2), (0, 1), count_include_pad=False), Tensor([[1.0, 3.0]])).data
    array([[1., 3.]], dtype=float32)
    """

    name: ClassVar[str] = "avg_pool2d"
    combine = np.add
    fill = 0.0

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        out = super().forward(*arrays, out=out)
        divisor = self.divisor(arrays[0].shape)
        if isinstance(divisor, float):
            out *= 1.0 / divisor
        else:
            np.divide(out, divisor, out=out, casting="unsafe")
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        size = (inputs[0].shape[-2], inputs[0].shape[-1])
        return [apply(AvgPool2dGrad(*self.avg_settings(), size=size), g)]


@dataclass(frozen=True)
class AvgPool2dGrad(_AvgPoolOp):
    """``g -> dx`` of average pooling (spread each window's gradient evenly).

    >>> apply(AvgPool2dGrad((1, 2), (1, 2), size=(1, 4)), Tensor([[2.0, 4.0]])).data
    array([[1., 1., 2., 2.]], dtype=float32)
    """

    size: Pair = (0, 0)  # the input's (H, W)
    name: ClassVar[str] = "avg_pool2d_grad"

    def infer(self, *inputs: Node) -> Spec:
        g = inputs[0]
        return (*g.shape[:-2], *self.size), float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        g = arrays[0]
        hw = (*g.shape[:-2], *self.size)
        (t, b), (left, r) = self.pads(hw)
        dx = np.zeros((*g.shape[:-2], self.size[0] + t + b, self.size[1] + left + r), g.dtype)
        divisor = self.divisor(hw)
        share = g * (1.0 / divisor) if isinstance(divisor, float) else g / divisor
        for spot in positions(self.window, self.stride, g.shape[-2:]):
            dx[spot] += share
        return self.crop(dx, hw, out)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [apply(AvgPool2d(*self.avg_settings()), g)]
