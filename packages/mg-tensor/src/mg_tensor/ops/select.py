"""Selection: where and clip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, probe_dtype
from mg_tensor.ops.binary import broadcast_shape

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


def _where(c: NDArray[Any], a: NDArray[Any], b: NDArray[Any]) -> NDArray[Any]:
    return np.where(c, a, b)


@dataclass(frozen=True)
class Where(TensorOp):
    """``a`` where ``condition`` holds, else ``b``; the gradient goes to the chosen side."""

    name: ClassVar[str] = "where"

    def infer(self, *inputs: Node) -> Spec:
        return broadcast_shape("where", *inputs), probe_dtype("where", _where, inputs)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        c, a, b = arrays
        if out is None:
            return np.where(c, a, b)
        np.copyto(out, b)
        np.copyto(out, a, where=c.astype(bool, copy=False))
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor.ops import where

        c = inputs[0]
        zero = np.zeros((), g.dtype)
        return [
            None,
            where(c, g, zero) if needed[1] else None,
            where(c, zero, g) if needed[2] else None,
        ]


@dataclass(frozen=True)
class Clip(TensorOp):
    """Limit values to [low, high]; the gradient passes where low <= x <= high."""

    low: float | None
    high: float | None
    name: ClassVar[str] = "clip"
    elementwise: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        dtype = probe_dtype("clip", self._clip, inputs)
        return inputs[0].shape, dtype

    def _clip(self, x: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return np.clip(x, self.low, self.high, out=out)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return self._clip(arrays[0], out=out)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x = inputs[0]
        mask = None
        if self.low is not None:
            mask = x >= self.low
        if self.high is not None:
            upper = x <= self.high
            mask = upper if mask is None else mask * upper
        return [g if mask is None else g * mask]
