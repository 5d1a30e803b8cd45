"""Masking: tril, triu, masked_fill (a `where` with a constant or given mask)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mg_tensor.ops.base import broadcasts_to, dtype_error, shape_error

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


__all__ = ["masked_fill", "tril", "triu"]


def _triangle(op: str, x: Any, k: int, lower: bool) -> Tensor:
    from mg_tensor import ops
    from mg_tensor.tensor import Tensor

    t = ops._tensor(x)
    if t.ndim < 2:
        raise shape_error(op, [t.node], "needs at least 2 dimensions", "reshape to a matrix")
    n, m = t.shape[-2:]
    keep = np.tri(n, m, k, dtype=bool) if lower else ~np.tri(n, m, k - 1, dtype=bool)
    return ops.where(Tensor(keep, graph=t.graph), t, np.zeros((), t.dtype))


def tril(x: Any, k: int = 0) -> Tensor:
    """The lower triangle of the last two axes (diagonal ``k`` and below); zeros above.

    >>> from mg_tensor import Tensor
    >>> tril(Tensor([[1.0, 2.0], [3.0, 4.0]])).data
    array([[1., 0.],
           [3., 4.]], dtype=float32)
    """
    return _triangle("tril", x, k, lower=True)


def triu(x: Any, k: int = 0) -> Tensor:
    """The upper triangle of the last two axes (diagonal ``k`` and above); zeros below.

    >>> from mg_tensor import Tensor
    >>> triu(Tensor([[1.0, 2.0], [3.0, 4.0]])).data
    array([[1., 2.],
           [0., 4.]], dtype=float32)
    """
    return _triangle("triu", x, k, lower=False)


def masked_fill(x: Any, mask: Any, value: Any) -> Tensor:
    """``value`` where the boolean ``mask`` (broadcast) is true, else ``x``; the gradient
    flows to ``x`` where the mask is false.

    >>> from mg_tensor import Tensor
    >>> masked_fill(Tensor([1.0, 2.0]), np.array([True, False]), -np.inf).data
    array([-inf,   2.], dtype=float32)
    """
    from mg_tensor import ops
    from mg_tensor.tensor import Tensor

    t = ops._tensor(x)
    m = mask if isinstance(mask, Tensor) else Tensor(np.asarray(mask), graph=t.graph)
    if m.dtype != np.bool_:
        raise dtype_error(
            "masked_fill", [t.node, m.node], "the mask must be boolean", "compare: x > 0"
        )
    if not isinstance(value, Tensor):
        value = np.asarray(value, t.dtype)  # PyTorch: the value takes the tensor's dtype
    if not broadcasts_to(m.shape, t.shape):
        raise shape_error(
            "masked_fill",
            [t.node, m.node],
            "the mask does not broadcast to the tensor's shape",
            "give the mask the tensor's shape (or 1s where it broadcasts)",
        )
    return ops.where(m, value, t)
