"""Sorting: argsort (the op), sort and topk (gathers of it, so values get gradients).

Sorts are stable; ``descending`` reverses the stable ascending order (NaN comes last
ascending, first descending, as in PyTorch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Spec, TensorOp, normalize_axis, shape_error
from mg_tensor.ops.core import apply

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


__all__ = ["ValuesIndices", "argsort", "sort", "sort_with_indices", "topk"]


class ValuesIndices(NamedTuple):
    """What PyTorch's max/min/sort/topk with ``dim`` return: ``values, indices = ...``."""

    values: Tensor
    indices: Tensor


@dataclass(frozen=True)
class Argsort(TensorOp):
    axis: int
    descending: bool = False
    name: ClassVar[str] = "argsort"
    differentiable: ClassVar[bool] = False
    uses_out: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, np.dtype(np.intp)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        order = np.argsort(arrays[0], axis=self.axis, kind="stable")
        return np.flip(order, self.axis) if self.descending else order


def _axis(op: str, t: Tensor, axis: int | None) -> tuple[Tensor, int]:
    from mg_tensor.ops import flatten

    if axis is None:
        return flatten(t), 0
    return t, normalize_axis(op, t.node, axis)[0]


def argsort(x: Any, axis: int | None = -1, descending: bool = False) -> Tensor:
    """Indices that sort ``x`` along ``axis`` (stable; the flattened tensor when None).

    >>> from mg_tensor import Tensor
    >>> argsort(Tensor([3.0, 1.0, 2.0])).data
    array([1, 2, 0])
    """
    from mg_tensor.ops import _tensor

    t, axis = _axis("argsort", _tensor(x), axis)
    return apply(Argsort(axis, bool(descending)), t)


def sort_with_indices(x: Any, axis: int | None = -1, descending: bool = False) -> ValuesIndices:
    """Sorted values and the indices they came from (PyTorch's ``sort``).

    >>> from mg_tensor import Tensor
    >>> sort_with_indices(Tensor([3.0, 1.0, 2.0]), descending=True).indices.data
    array([0, 2, 1])
    """
    from mg_tensor.ops import _tensor
    from mg_tensor.ops.gather import take_along_axis

    t, axis = _axis("sort", _tensor(x), axis)
    indices = apply(Argsort(axis, bool(descending)), t)
    return ValuesIndices(take_along_axis(t, indices, axis), indices)


def sort(x: Any, axis: int | None = -1, descending: bool = False) -> Tensor:
    """Sorted values along ``axis`` (numpy's ``np.sort``); gradients flow to the values.

    >>> from mg_tensor import Tensor
    >>> sort(Tensor([3.0, 1.0, 2.0])).data
    array([1., 2., 3.], dtype=float32)
    """
    return sort_with_indices(x, axis, descending).values


def topk(
    x: Any, k: int, axis: int = -1, largest: bool = True, sorted: bool = True
) -> ValuesIndices:
    """The ``k`` largest (or smallest) values along ``axis`` and their indices, in order.

    >>> from mg_tensor import Tensor
    >>> values, indices = topk(Tensor([1.0, 5.0, 3.0]), 2)
    >>> values.data, indices.data
    (array([5., 3.], dtype=float32), array([1, 2]))
    """
    from mg_tensor.ops import _tensor, getitem
    from mg_tensor.ops.gather import take_along_axis

    t = _tensor(x)
    axis = normalize_axis("topk", t.node, axis)[0]
    if not 0 <= k <= t.shape[axis]:
        raise shape_error(
            "topk",
            [t.node],
            f"k={k} is out of range for axis {axis} of length {t.shape[axis]}",
            f"use 0 <= k <= {t.shape[axis]}",
        )
    order = apply(Argsort(axis, bool(largest)), t)
    indices = getitem(order, (slice(None),) * axis + (slice(0, k),))
    return ValuesIndices(take_along_axis(t, indices, axis), indices)
