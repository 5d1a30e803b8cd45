"""Gathers and scatters along one axis: take_along_axis (PyTorch's gather), scatter_add,
one_hot.

An index tensor is an integer input of the op (no gradient), so the same frozen graph
works for new indices. Scatters add up repeated indices (``np.add.at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node, describe, user_location
from mg_tensor.ops.base import Grads, Spec, TensorOp, dtype_error, normalize_axis, shape_error

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


__all__ = ["gather", "one_hot", "scatter_add", "take_along_axis"]


def _check_index(op: str, inputs: tuple[Node, ...], index: Node) -> None:
    if index.dtype.kind not in "iu":
        raise dtype_error(op, inputs, "the index must be integers", "cast with .astype(np.int64)")


def _full_index(index: NDArray[Any], axis: int) -> tuple[Any, ...]:
    """The numpy index that reads ``x[..., index[i, j, ...], ...]`` at each position."""
    grid: list[Any] = list(np.indices(index.shape, sparse=True))
    grid[axis] = index
    return tuple(grid)


@dataclass(frozen=True)
class TakeAlongAxis(TensorOp):
    """``out[i][j] = x[index[i][j]][j]`` (for axis 0): numpy's take_along_axis."""

    axis: int
    name: ClassVar[str] = "take_along_axis"
    uses_out: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        x, index = inputs
        _check_index(self.name, inputs, index)
        if _without(x.shape, self.axis) != _without(index.shape, self.axis):
            raise shape_error(
                self.name,
                inputs,
                f"dimensions other than axis {self.axis} differ",
                "make them equal (take_along_axis() broadcasts them)",
            )
        return index.shape, x.dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        x, index = arrays
        result: NDArray[Any] = np.take_along_axis(x, index, self.axis)
        return result

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor import ops
        from mg_tensor.ops.core import apply
        from mg_tensor.tensor import Tensor

        x, index = inputs
        zero = ops.broadcast_to(Tensor(np.zeros((), g.dtype), graph=g.graph), x.shape)
        return [apply(ScatterAddAlongAxis(self.axis), zero, index, g), None]


def _without(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    return tuple(1 if i == axis else n for i, n in enumerate(shape))


@dataclass(frozen=True)
class ScatterAddAlongAxis(TensorOp):
    """``base`` with ``src[i][j]`` added at ``[index[i][j]][j]`` (axis 0); repeats add up."""

    axis: int
    name: ClassVar[str] = "scatter_add"

    def infer(self, *inputs: Node) -> Spec:
        base, index, src = inputs
        _check_index(self.name, inputs, index)
        if index.shape != src.shape or index.ndim != base.ndim:
            raise shape_error(
                self.name,
                inputs,
                "index and src need the same shape, with as many dimensions as the tensor",
                "slice src to the index's shape",
            )
        if any(
            i > n
            for a, (i, n) in enumerate(zip(index.shape, base.shape, strict=True))
            if a != self.axis
        ):
            raise shape_error(
                self.name,
                inputs,
                f"the index is larger than the tensor outside axis {self.axis}",
                "use an index no larger than the tensor in those dimensions",
            )
        return base.shape, base.dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        base, index, src = arrays
        if out is None:
            out = np.array(base)
        else:
            np.copyto(out, base)
        np.add.at(out, _full_index(index, self.axis), src)
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor.ops.core import apply

        _, index, _ = inputs
        return [g, None, apply(TakeAlongAxis(self.axis), g, index) if needed[2] else None]


@dataclass(frozen=True)
class OneHot(TensorOp):
    """``out[..., c] = (index[...] == c)`` as int64 (PyTorch's dtype)."""

    num_classes: int
    name: ClassVar[str] = "one_hot"
    differentiable: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        _check_index(self.name, inputs, inputs[0])
        return (*inputs[0].shape, self.num_classes), np.dtype(np.int64)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        index = arrays[0]
        if index.size and (index.min() < 0 or index.max() >= self.num_classes):
            raise IndexError(
                describe(
                    self.name,
                    f"class values must be in [0, {self.num_classes}), got "
                    f"{index.min()}..{index.max()}",
                    user_location(),
                    "pass a larger num_classes or fix the labels",
                )
            )
        classes = np.arange(self.num_classes)
        if out is None:
            result: NDArray[Any] = (index[..., None] == classes).astype(np.int64)
            return result
        np.equal(index[..., None], classes, out=out, casting="unsafe")
        return out


def _index_tensor(index: Any, like: Tensor) -> Tensor:
    from mg_tensor.tensor import Tensor

    if isinstance(index, Tensor):
        return index
    return Tensor(np.asarray(index), graph=like.graph)


def take_along_axis(x: Any, indices: Any, axis: int) -> Tensor:
    """numpy's ``take_along_axis``: pick along ``axis`` at ``indices`` (same ndim).

    >>> from mg_tensor import Tensor
    >>> x = Tensor([[10.0, 20.0], [30.0, 40.0]])
    >>> take_along_axis(x, np.array([[1], [0]]), 1).data
    array([[20.],
           [30.]], dtype=float32)
    """
    from mg_tensor import ops
    from mg_tensor.ops.core import apply

    t = ops._tensor(x)
    index = _index_tensor(indices, t)
    axis = normalize_axis("take_along_axis", t.node, axis)[0]
    if index.ndim != t.ndim:
        raise shape_error(
            "take_along_axis",
            [t.node, index.node],
            "the index needs as many dimensions as the tensor",
            "unsqueeze the index",
        )
    try:  # numpy broadcasts the other dimensions
        other = np.broadcast_shapes(_without(t.shape, axis), _without(index.shape, axis))
    except ValueError:
        raise shape_error(
            "take_along_axis",
            [t.node, index.node],
            f"dimensions other than axis {axis} do not broadcast",
            "make them equal (or 1) in the index",
        ) from None
    t = ops.broadcast_to(t, _with(other, axis, t.shape[axis]))
    index = ops.broadcast_to(index, _with(other, axis, index.shape[axis]))
    return apply(TakeAlongAxis(axis), t, index)


def _with(shape: tuple[int, ...], axis: int, n: int) -> tuple[int, ...]:
    return tuple(n if i == axis else m for i, m in enumerate(shape))


def gather(x: Any, dim: int, index: Any) -> Tensor:
    """PyTorch's ``gather``: ``out[i][j] = x[index[i][j]][j]`` for dim 0; the index may be
    smaller than ``x`` outside ``dim``.

    >>> from mg_tensor import Tensor
    >>> gather(Tensor([[1.0, 2.0], [3.0, 4.0]]), 1, np.array([[0, 0], [1, 0]])).data
    array([[1., 1.],
           [4., 3.]], dtype=float32)
    """
    from mg_tensor.ops import _tensor, getitem

    t = _tensor(x)
    idx = _index_tensor(index, t)
    dim = normalize_axis("gather", t.node, dim)[0]
    if idx.ndim == t.ndim and any(i > n for i, n in zip(idx.shape, t.shape, strict=True)):
        raise shape_error(
            "gather",
            [t.node, idx.node],
            "the index is larger than the tensor outside dim",
            "use an index no larger than the tensor in those dimensions",
        )
    if idx.ndim == t.ndim and idx.shape != t.shape:
        t = getitem(
            t, tuple(slice(None) if a == dim else slice(0, n) for a, n in enumerate(idx.shape))
        )
    return take_along_axis(t, idx, dim)


def scatter_add(x: Any, dim: int, index: Any, src: Any) -> Tensor:
    """PyTorch's ``scatter_add``: ``x`` with ``src[i][j]`` added at ``[index[i][j]][j]`` (dim
    0); repeated indices add up. ``src`` is read over the index's shape.

    >>> from mg_tensor import Tensor
    >>> scatter_add(Tensor([0.0, 0.0, 0.0]), 0, np.array([0, 2, 0]), Tensor([1.0, 2.0, 3.0])).data
    array([4., 0., 2.], dtype=float32)
    """
    from mg_tensor.ops import _tensor, getitem
    from mg_tensor.ops.core import apply

    t, s = _tensor(x), _tensor(src)
    idx = _index_tensor(index, t)
    if s.ndim == idx.ndim and s.shape != idx.shape:
        s = getitem(s, tuple(slice(0, n) for n in idx.shape))
    dim = normalize_axis("scatter_add", t.node, dim)[0]
    return apply(ScatterAddAlongAxis(dim), t, idx, s)


def one_hot(indices: Any, num_classes: int = -1) -> Tensor:
    """One-hot int64 encoding of integer class indices (PyTorch's ``one_hot``); with
    ``num_classes=-1`` the count is read from the data (max + 1).

    >>> from mg_tensor import Tensor
    >>> one_hot(Tensor(np.array([0, 2])), 3).data
    array([[1, 0, 0],
           [0, 0, 1]])
    """
    from mg_tensor.ops.core import apply
    from mg_tensor.tensor import Tensor

    t = indices if isinstance(indices, Tensor) else Tensor(np.asarray(indices))
    if num_classes < 0:
        num_classes = int(t.data.max()) + 1 if t.size else 0
    return apply(OneHot(int(num_classes)), t)
