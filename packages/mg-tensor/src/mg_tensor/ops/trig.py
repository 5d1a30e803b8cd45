"""Trigonometric ops: sin, cos, tan (numpy ufuncs, gradients in Tensor ops)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mg_tensor.ops.base import Grads
from mg_tensor.ops.core import apply
from mg_tensor.ops.unary import Unary

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


__all__ = ["cos", "sin", "tan"]


@dataclass(frozen=True)
class Sin(Unary):
    name: ClassVar[str] = "sin"
    ufunc = np.sin

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g * cos(inputs[0])]


@dataclass(frozen=True)
class Cos(Unary):
    name: ClassVar[str] = "cos"
    ufunc = np.cos

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [-g * sin(inputs[0])]


@dataclass(frozen=True)
class Tan(Unary):
    name: ClassVar[str] = "tan"
    ufunc = np.tan

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g * (1 + out * out)]


def sin(x: Any) -> Tensor:
    """Sine.

    >>> from mg_tensor import Tensor
    >>> sin(Tensor([0.0])).data
    array([0.], dtype=float32)
    """
    return apply(Sin(), x)


def cos(x: Any) -> Tensor:
    """Cosine.

    >>> from mg_tensor import Tensor
    >>> cos(Tensor([0.0])).data
    array([1.], dtype=float32)
    """
    return apply(Cos(), x)


def tan(x: Any) -> Tensor:
    """Tangent.

    >>> from mg_tensor import Tensor
    >>> tan(Tensor([0.0])).data
    array([0.], dtype=float32)
    """
    return apply(Tan(), x)
