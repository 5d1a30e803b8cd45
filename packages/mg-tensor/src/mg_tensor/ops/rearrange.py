"""Rearranging elements: flip, roll, tile, repeat (numpy's semantics)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, normalize_axis, shape_error
from mg_tensor.ops.core import apply
from mg_tensor.ops.shape import View

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor

__all__ = ["copy", "flip", "repeat", "roll", "tile"]

Axis = int | Sequence[int] | None


@dataclass(frozen=True)
class Flip(View):
    """Reverse the order along ``axes``: a free view (negative strides)."""

    axes: tuple[int, ...]
    name: ClassVar[str] = "flip"

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return np.flip(arrays[0], self.axes)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [apply(Flip(self.axes), g)]


@dataclass(frozen=True)
class Roll(TensorOp):
    """Shift elements cyclically by ``shifts[i]`` along ``axes[i]``."""

    shifts: tuple[int, ...]
    axes: tuple[int, ...]
    name: ClassVar[str] = "roll"
    uses_out: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return np.roll(arrays[0], self.shifts, self.axes)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [apply(Roll(tuple(-s for s in self.shifts), self.axes), g)]


def flip(x: Any, axis: Axis = None) -> Tensor:
    """Reverse the order of elements along ``axis`` (every axis when None, as numpy).

    >>> from mg_tensor import Tensor
    >>> flip(Tensor([[1.0, 2.0], [3.0, 4.0]]), 1).data
    array([[2., 1.],
           [4., 3.]], dtype=float32)
    """
    from mg_tensor.ops import _tensor

    t = _tensor(x)
    axes = normalize_axis("flip", t.node, axis)
    return apply(Flip(axes), t) if axes else t


def roll(x: Any, shift: int | Sequence[int], axis: Axis = None) -> Tensor:
    """Shift elements cyclically; with ``axis=None`` over the flattened tensor (numpy).

    >>> from mg_tensor import Tensor
    >>> roll(Tensor([1.0, 2.0, 3.0]), 1).data
    array([3., 1., 2.], dtype=float32)
    """
    from mg_tensor.ops import _tensor, flatten

    t = _tensor(x)
    if axis is None:
        return roll(flatten(t), shift, 0).reshape(t.shape)
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    shifts = (shift,) * len(axes) if isinstance(shift, int | np.integer) else tuple(shift)
    if len(shifts) != len(axes):
        raise shape_error(
            "roll",
            [t.node],
            f"{len(shifts)} shifts for {len(axes)} axes",
            "pass one shift per axis",
        )
    normal = tuple(int(a) % t.ndim for a in axes)
    normalize_axis("roll", t.node, tuple(set(normal)))  # range check
    return apply(Roll(tuple(int(s) for s in shifts), normal), t)


def tile(x: Any, reps: int | Sequence[int]) -> Tensor:
    """numpy's ``tile``: the whole tensor repeated ``reps[i]`` times along axis i
    (PyTorch's ``Tensor.repeat``). Broadcast and reshape, so the gradient is a sum.

    >>> from mg_tensor import Tensor
    >>> tile(Tensor([1.0, 2.0]), 2).data
    array([1., 2., 1., 2.], dtype=float32)
    """
    from mg_tensor.ops import _tensor

    t = _tensor(x)
    r = (reps,) if isinstance(reps, int | np.integer) else tuple(reps)
    if any(int(n) < 0 for n in r):
        raise shape_error("tile", [t.node], f"negative reps {r}", "use reps >= 0")
    d = max(t.ndim, len(r))
    shape = (1,) * (d - t.ndim) + t.shape
    r = (1,) * (d - len(r)) + tuple(int(n) for n in r)
    spread = t.reshape(tuple(v for n in shape for v in (1, n)))
    wide = spread.expand(tuple(v for n, k in zip(shape, r, strict=True) for v in (k, n)))
    return wide.reshape(tuple(n * k for n, k in zip(shape, r, strict=True)))


def repeat(x: Any, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """numpy's ``repeat``: each element ``repeats`` times along ``axis`` (of the flattened
    tensor when None); PyTorch calls it ``repeat_interleave``.

    >>> from mg_tensor import Tensor
    >>> repeat(Tensor([1.0, 2.0]), 2).data
    array([1., 1., 2., 2.], dtype=float32)
    """
    from mg_tensor.ops import _tensor, flatten, getitem

    t = _tensor(x)
    if axis is None:
        t, axis = flatten(t), 0
    axis = normalize_axis("repeat", t.node, axis)[0]
    if isinstance(repeats, int | np.integer):
        if repeats < 0:
            raise shape_error("repeat", [t.node], f"negative repeats {repeats}", "use >= 0")
        shape = t.shape
        wide = t.unsqueeze(axis + 1).expand((*shape[: axis + 1], int(repeats), *shape[axis + 1 :]))
        n = shape[axis] * int(repeats)
        return wide.reshape((*shape[:axis], n, *shape[axis + 1 :]))
    counts = np.asarray(repeats)
    if counts.shape != (t.shape[axis],) or (counts < 0).any():
        raise shape_error(
            "repeat",
            [t.node],
            f"repeats of shape {counts.shape} for an axis of length {t.shape[axis]}",
            "pass an int or one non-negative count per element",
        )
    index = np.repeat(np.arange(t.shape[axis]), counts)
    return getitem(t, (slice(None),) * axis + (index,))


@dataclass(frozen=True)
class Copy(TensorOp):
    """The identity into a buffer of its own (PyTorch's ``clone``); gradients flow."""

    name: ClassVar[str] = "copy"
    elementwise: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        if out is None:
            return np.array(arrays[0])
        np.copyto(out, arrays[0])
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g]


def copy(x: Any) -> Tensor:
    """A copy with gradients (PyTorch's ``clone``).

    >>> from mg_tensor import Tensor
    >>> copy(Tensor([1.0])).data
    array([1.], dtype=float32)
    """
    return apply(Copy(), x)
