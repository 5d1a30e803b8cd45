"""Max and average pooling over the last two axes and their gradient ops: one strided
view per kernel position, never a loop over pixels.

>>> import numpy as np
>>> from mg_tensor.oplib import Array, Tensor, apply
>>> x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
>>> apply(MaxPool2d((2, 2), (2, 2)), x).data
array([[[[ 5.,  7.],
         [13., 15.]]]])
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mg_nn.ops.windows import Pair, out_hw, positions
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


def _pool_shape(op: str, inputs: tuple[Node, ...], x: Node, kernel: Pair, stride: Pair) -> Pair:
    if x.ndim < 2:
        raise shape_error(op, inputs, "pooling needs at least 2-d input (..., H, W)", "reshape")
    h, w = x.shape[-2:]
    if h < kernel[0] or w < kernel[1]:
        raise shape_error(
            op, inputs, f"the window {kernel} is larger than the input {(h, w)}", "pool less"
        )
    return out_hw((h, w), kernel, stride)


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
        return (*x.shape[:-2], ho, wo), float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x = arrays[0]
        spots = list(positions(self.window, self.stride, out_hw(x.shape, self.window, self.stride)))
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


def _first_max(x: Array, y: Array, kernel: Pair, stride: Pair) -> Iterator[tuple[Any, Array]]:
    """For each kernel position: its index and where it holds the window's first maximum."""
    taken = np.zeros(y.shape, bool)
    hit = np.empty(y.shape, bool)
    for spot in positions(kernel, stride, y.shape[-2:]):
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
        return inputs[0].shape, float_dtype(self.name, inputs)

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
        return inputs[1].shape, float_dtype(self.name, inputs)

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
        return (*g.shape[:-2], *self.size), float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        g = arrays[0]
        if out is None:
            out = np.zeros((*g.shape[:-2], *self.size), g.dtype)
        else:
            out.fill(0)
        share = g * (1.0 / (self.window[0] * self.window[1]))
        for spot in positions(self.window, self.stride, g.shape[-2:]):
            out[spot] += share
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [apply(AvgPool2d(self.window, self.stride), g)]
