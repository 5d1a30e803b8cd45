"""Padding in numpy's notation: ``pad(x, ((before, after), ...), mode)``.

``constant`` is one op (fill, then copy the interior; its gradient is the interior of
the incoming gradient). ``reflect``, ``symmetric``, ``edge`` and ``wrap`` pick elements
of the input, one gather per padded axis with an index made by numpy's own ``np.pad``
of ``arange``, so their gradients add up at the reused elements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, shape_error

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor

__all__ = ["pad"]

Widths = tuple[tuple[int, int], ...]
GATHER_MODES = ("reflect", "symmetric", "edge", "wrap")


def _interior(widths: Widths, shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(b, b + n) for (b, _), n in zip(widths, shape, strict=True))


@dataclass(frozen=True)
class Pad(TensorOp):
    """Constant padding: ``value`` around the input."""

    widths: Widths
    value: float = 0.0
    name: ClassVar[str] = "pad"

    def infer(self, *inputs: Node) -> Spec:
        x = inputs[0]
        shape = tuple(n + b + a for n, (b, a) in zip(x.shape, self.widths, strict=True))
        return shape, x.dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        x = arrays[0]
        if out is None:
            out = np.empty(
                tuple(n + b + a for n, (b, a) in zip(x.shape, self.widths, strict=True)), x.dtype
            )
        out.fill(self.value)
        out[_interior(self.widths, x.shape)] = x
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g[_interior(self.widths, inputs[0].shape)]]


def _widths(t: Tensor, pad_width: Any) -> Widths:
    try:
        w = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (t.ndim, 2))
    except ValueError:
        raise shape_error(
            "pad",
            [t.node],
            f"pad_width {pad_width!r} does not fit {t.ndim} dimensions",
            "pass an int, (before, after) or one (before, after) per dimension",
        ) from None
    if (w < 0).any():
        raise shape_error("pad", [t.node], f"negative pad_width {pad_width!r}", "use >= 0")
    return tuple((int(b), int(a)) for b, a in w)


def pad(
    x: Any,
    pad_width: int | Sequence[int] | Sequence[Sequence[int]],
    mode: str = "constant",
    constant_values: float = 0,
) -> Tensor:
    """numpy's ``pad``: ``pad_width`` is an int, ``(before, after)`` or one pair per
    axis; ``mode`` is constant, reflect, symmetric, edge or wrap.

    >>> from mg_tensor import Tensor
    >>> pad(Tensor([1.0, 2.0, 3.0]), (2, 1), mode="reflect").data
    array([3., 2., 1., 2., 3., 2.], dtype=float32)
    >>> pad(Tensor([1.0]), 1, constant_values=-1).data
    array([-1.,  1., -1.], dtype=float32)
    """
    from mg_tensor import ops
    from mg_tensor.ops.core import apply

    t = ops._tensor(x)
    widths = _widths(t, pad_width)
    if mode == "constant":
        if not any(b or a for b, a in widths):
            return t
        return apply(Pad(widths, float(constant_values)), t)
    if mode not in GATHER_MODES:
        raise ValueError(
            f"pad: unknown mode {mode!r}; use 'constant' or one of {', '.join(GATHER_MODES)}"
        )
    for axis, (b, a) in enumerate(widths):
        if not (b or a):
            continue
        n = t.shape[axis]
        if n == 0 or (mode == "reflect" and n == 1):
            raise shape_error(
                "pad",
                [t.node],
                f"cannot {mode}-pad axis {axis} of length {n}",
                "use mode='constant' or 'edge'",
            )
        index = np.pad(np.arange(n), (b, a), mode=mode)  # type: ignore[call-overload]
        t = ops.getitem(t, (slice(None),) * axis + (index,))
    return t
