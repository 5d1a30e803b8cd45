"""Splitting and joining: split, chunk (PyTorch's), array_split points (numpy's), cat.

The pieces are basic-index views of the input, so splitting copies nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mg_tensor.ops.base import normalize_axis, shape_error

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


__all__ = ["array_split", "cat", "chunk", "split"]


def _along(op: str, x: Any, axis: int) -> tuple[Tensor, int, int]:
    """The tensor, its normalised axis and that axis's length."""
    from mg_tensor.ops import _tensor

    t = _tensor(x)
    axis = normalize_axis(op, t.node, axis)[0]
    return t, axis, t.shape[axis]


def _pieces(t: Tensor, bounds: Sequence[int], axis: int) -> list[Tensor]:
    """``t[bounds[i]:bounds[i + 1]]`` along ``axis``: views, no copy."""
    from mg_tensor.ops import getitem

    lead = (slice(None),) * axis
    return [getitem(t, (*lead, slice(int(a), int(b)))) for a, b in itertools.pairwise(bounds)]


def split(x: Any, split_size_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """PyTorch's ``split``: pieces of ``split_size`` along ``axis`` (the last may be
    shorter), or pieces of the given sizes. (numpy's ``np.split(t, ...)`` also works on
    a Tensor, with numpy's meaning.)

    >>> from mg_tensor import Tensor
    >>> [p.shape for p in split(Tensor(np.zeros((5, 2))), 2)]
    [(2, 2), (2, 2), (1, 2)]
    >>> [p.shape for p in split(Tensor(np.zeros((5, 2))), [1, 4])]
    [(1, 2), (4, 2)]
    """
    t, axis, n = _along("split", x, axis)
    if isinstance(split_size_or_sections, int | np.integer):
        size = int(split_size_or_sections)
        if size <= 0:
            raise shape_error("split", [t.node], f"split size {size}", "use a positive size")
        sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise shape_error(
                "split",
                [t.node],
                f"sizes {sizes} do not add up to {n}, the length of axis {axis}",
                "give non-negative sizes that sum to the axis length",
            )
    return _pieces(t, np.cumsum([0, *sizes]).tolist(), axis)


def chunk(x: Any, chunks: int, axis: int = 0) -> list[Tensor]:
    """PyTorch's ``chunk``: at most ``chunks`` pieces of ``ceil(n / chunks)`` each.

    >>> from mg_tensor import Tensor
    >>> [p.shape for p in chunk(Tensor(np.zeros(5)), 3)]
    [(2,), (2,), (1,)]
    """
    t, axis, n = _along("chunk", x, axis)
    if chunks <= 0:
        raise shape_error("chunk", [t.node], f"{chunks} chunks", "ask for at least one")
    return split(t, max(-(-n // chunks), 1), axis)


def array_split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """numpy's ``split``/``array_split``: an int is a number of (near-)equal sections, a
    list gives the split points.

    >>> from mg_tensor import Tensor
    >>> [p.shape for p in array_split(Tensor(np.zeros(5)), [1, 3])]
    [(1,), (2,), (2,)]
    """
    t, axis, n = _along("split", x, axis)
    if isinstance(indices_or_sections, int | np.integer):
        k = int(indices_or_sections)
        if k <= 0:
            raise shape_error("split", [t.node], f"{k} sections", "ask for at least one")
        return _pieces(t, np.cumsum([0, *(n // k + (i < n % k) for i in range(k))]).tolist(), axis)
    # numpy's rule: piece i is t[points[i-1]:points[i]] (empty when they decrease)
    points = [min(max(int(p), 0), n) for p in indices_or_sections]
    return _pieces(t, [0, *points, n], axis)


def cat(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (PyTorch's name for ``concatenate``; ``dim``
    is ``axis``).

    >>> from mg_tensor import Tensor
    >>> cat([Tensor([1.0]), Tensor([2.0, 3.0])]).data
    array([1., 2., 3.], dtype=float32)
    """
    from mg_tensor.ops import concatenate

    return concatenate(tensors, axis if dim is None else dim)
