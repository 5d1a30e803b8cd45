"""Logical and bitwise ops and float tests: isnan, isinf, isfinite, logical_or/xor/not
(``logical_and`` is in ``ops/__init__.py``), ``&``, ``|``, ``^``, ``~``. None carries a
gradient.

On booleans ``&``, ``|``, ``^`` and ``~`` are logical, on integers bitwise, as in numpy
and PyTorch; on floats they are a `DTypeError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mg_tensor.ops.binary import Compare
from mg_tensor.ops.core import apply
from mg_tensor.ops.unary import Unary

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


__all__ = [
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "invert",
    "isfinite",
    "isinf",
    "isnan",
    "logical_not",
    "logical_or",
    "logical_xor",
]


@dataclass(frozen=True)
class Test(Unary):
    """A boolean test of each element."""

    differentiable: ClassVar[bool] = False


@dataclass(frozen=True)
class IsNan(Test):
    name: ClassVar[str] = "isnan"
    ufunc = np.isnan


@dataclass(frozen=True)
class IsInf(Test):
    name: ClassVar[str] = "isinf"
    ufunc = np.isinf


@dataclass(frozen=True)
class IsFinite(Test):
    name: ClassVar[str] = "isfinite"
    ufunc = np.isfinite


@dataclass(frozen=True)
class LogicalNot(Test):
    name: ClassVar[str] = "logical_not"
    ufunc = np.logical_not


@dataclass(frozen=True)
class Invert(Test):
    name: ClassVar[str] = "invert"
    ufunc = np.invert


@dataclass(frozen=True)
class LogicalOr(Compare):
    name: ClassVar[str] = "logical_or"
    ufunc = np.logical_or


@dataclass(frozen=True)
class LogicalXor(Compare):
    name: ClassVar[str] = "logical_xor"
    ufunc = np.logical_xor


@dataclass(frozen=True)
class BitwiseAnd(Compare):
    name: ClassVar[str] = "bitwise_and"
    ufunc = np.bitwise_and
    exact_scalars: ClassVar[bool] = False


@dataclass(frozen=True)
class BitwiseOr(Compare):
    name: ClassVar[str] = "bitwise_or"
    ufunc = np.bitwise_or
    exact_scalars: ClassVar[bool] = False


@dataclass(frozen=True)
class BitwiseXor(Compare):
    name: ClassVar[str] = "bitwise_xor"
    ufunc = np.bitwise_xor
    exact_scalars: ClassVar[bool] = False


def isnan(x: Any) -> Tensor:
    """True where x is NaN.

    >>> from mg_tensor import Tensor
    >>> isnan(Tensor([1.0, float("nan")])).data
    array([False,  True])
    """
    return apply(IsNan(), x)


def isinf(x: Any) -> Tensor:
    """True where x is +-inf.

    >>> from mg_tensor import Tensor
    >>> isinf(Tensor([1.0, float("inf")])).data
    array([False,  True])
    """
    return apply(IsInf(), x)


def isfinite(x: Any) -> Tensor:
    """True where x is neither NaN nor infinite.

    >>> from mg_tensor import Tensor
    >>> isfinite(Tensor([1.0, float("inf")])).data
    array([ True, False])
    """
    return apply(IsFinite(), x)


def logical_not(x: Any) -> Tensor:
    """``not x`` elementwise (any dtype; nonzero is true).

    >>> from mg_tensor import Tensor
    >>> logical_not(Tensor([0.0, 2.0])).data
    array([ True, False])
    """
    return apply(LogicalNot(), x)


def logical_or(a: Any, b: Any) -> Tensor:
    """``a or b`` elementwise, with broadcasting.

    >>> from mg_tensor import Tensor
    >>> logical_or(Tensor([0.0, 2.0]), False).data
    array([False,  True])
    """
    return apply(LogicalOr(), a, b)


def logical_xor(a: Any, b: Any) -> Tensor:
    """``a xor b`` elementwise, with broadcasting.

    >>> from mg_tensor import Tensor
    >>> logical_xor(Tensor([0.0, 2.0]), True).data
    array([ True, False])
    """
    return apply(LogicalXor(), a, b)


def bitwise_and(a: Any, b: Any) -> Tensor:
    """``a & b``: logical on booleans, bitwise on integers.

    >>> from mg_tensor import Tensor
    >>> bitwise_and(Tensor([True, False]), True).data
    array([ True, False])
    """
    return apply(BitwiseAnd(), a, b)


def bitwise_or(a: Any, b: Any) -> Tensor:
    """``a | b``: logical on booleans, bitwise on integers.

    >>> from mg_tensor import Tensor
    >>> bitwise_or(Tensor(np.array([1, 2])), 4).data
    array([5, 6])
    """
    return apply(BitwiseOr(), a, b)


def bitwise_xor(a: Any, b: Any) -> Tensor:
    """``a ^ b``: logical on booleans, bitwise on integers.

    >>> from mg_tensor import Tensor
    >>> bitwise_xor(Tensor([True, False]), True).data
    array([False,  True])
    """
    return apply(BitwiseXor(), a, b)


def invert(x: Any) -> Tensor:
    """``~x``: logical not on booleans, bitwise not on integers.

    >>> from mg_tensor import Tensor
    >>> invert(Tensor([True, False])).data
    array([False,  True])
    """
    return apply(Invert(), x)
