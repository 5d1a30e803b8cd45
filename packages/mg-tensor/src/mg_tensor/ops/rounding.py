"""Rounding and integer division: floor, ceil, round, sign, ``//`` and ``%``.

Rounding is piecewise constant: like PyTorch, its gradient is zero (no gradient flows
through it). ``%`` takes the sign of the divisor (Python's, numpy's and PyTorch's
``remainder``); its gradient is 1 for the dividend and ``-(a // b)`` for the divisor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_tensor.ops.base import Grads
from mg_tensor.ops.binary import Binary
from mg_tensor.ops.core import apply
from mg_tensor.ops.unary import Sign, Unary

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


__all__ = ["ceil", "floor", "floor_divide", "remainder", "round", "sign"]


@dataclass(frozen=True)
class Floor(Unary):
    name: ClassVar[str] = "floor"
    ufunc = np.floor
    differentiable: ClassVar[bool] = False


@dataclass(frozen=True)
class Ceil(Unary):
    name: ClassVar[str] = "ceil"
    ufunc = np.ceil
    differentiable: ClassVar[bool] = False


@dataclass(frozen=True)
class Round(Unary):
    """Round half to even (numpy's and PyTorch's rule) to ``decimals`` places."""

    decimals: int = 0
    name: ClassVar[str] = "round"
    ufunc = np.round
    differentiable: ClassVar[bool] = False

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        result: NDArray[Any] = np.round(arrays[0], self.decimals, out=out)
        return result

    def kernel(self) -> Any:
        return self.forward


@dataclass(frozen=True)
class FloorDivide(Binary):
    name: ClassVar[str] = "floor_divide"
    ufunc = np.floor_divide
    differentiable: ClassVar[bool] = False


@dataclass(frozen=True)
class Remainder(Binary):
    name: ClassVar[str] = "remainder"
    ufunc = np.remainder

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        a, b = inputs
        return [g, -g * apply(FloorDivide(), a, b) if needed[1] else None]


def floor(x: Any) -> Tensor:
    """Round down.

    >>> from mg_tensor import Tensor
    >>> floor(Tensor([-1.5, 1.5])).data
    array([-2.,  1.], dtype=float32)
    """
    return apply(Floor(), x)


def ceil(x: Any) -> Tensor:
    """Round up.

    >>> from mg_tensor import Tensor
    >>> ceil(Tensor([-1.5, 1.5])).data
    array([-1.,  2.], dtype=float32)
    """
    return apply(Ceil(), x)


def round(x: Any, decimals: int = 0) -> Tensor:
    """Round half to even, to ``decimals`` places.

    >>> from mg_tensor import Tensor
    >>> round(Tensor([0.5, 1.5, 2.25]), 1).data
    array([0.5, 1.5, 2.2], dtype=float32)
    """
    return apply(Round(int(decimals)), x)


def sign(x: Any) -> Tensor:
    """-1, 0 or 1 (NaN stays NaN); zero gradient.

    >>> from mg_tensor import Tensor
    >>> sign(Tensor([-3.0, 0.0, 2.0])).data
    array([-1.,  0.,  1.], dtype=float32)
    """
    return apply(Sign(), x)


def floor_divide(a: Any, b: Any) -> Tensor:
    """``a // b`` with broadcasting; zero gradient.

    >>> from mg_tensor import Tensor
    >>> floor_divide(Tensor([7.0, -7.0]), 2).data
    array([ 3., -4.], dtype=float32)
    """
    return apply(FloorDivide(), a, b)


def remainder(a: Any, b: Any) -> Tensor:
    """``a % b`` with the sign of ``b``, with broadcasting.

    >>> from mg_tensor import Tensor
    >>> remainder(Tensor([7.0, -7.0]), 3).data
    array([1., 2.], dtype=float32)
    """
    return apply(Remainder(), a, b)
