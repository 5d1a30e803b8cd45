"""Elementwise binary ops with numpy broadcasting: arithmetic, extrema, comparisons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, probe_dtype, shape_error

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


def broadcast_shape(op: str, *nodes: Node) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*(n.shape for n in nodes)))
    except ValueError:
        raise shape_error(
            op,
            nodes,
            "shapes do not broadcast",
            "make trailing dimensions equal or 1 (reshape/unsqueeze an operand)",
        ) from None


@dataclass(frozen=True)
class Binary(TensorOp):
    """A numpy ufunc of two operands; broadcasting and dtype exactly as numpy."""

    ufunc: ClassVar[np.ufunc]
    elementwise: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        shape = broadcast_shape(self.name, *inputs)
        return shape, probe_dtype(self.name, type(self).ufunc, inputs)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return type(self).ufunc(*arrays, out=out)  # type: ignore[no-any-return]

    def kernel(self) -> Callable[..., NDArray[Any]]:
        return type(self).ufunc


@dataclass(frozen=True)
class Add(Binary):
    name: ClassVar[str] = "add"
    ufunc = np.add

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g, g]


@dataclass(frozen=True)
class Subtract(Binary):
    name: ClassVar[str] = "subtract"
    ufunc = np.subtract

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g, -g if needed[1] else None]


@dataclass(frozen=True)
class Multiply(Binary):
    name: ClassVar[str] = "multiply"
    ufunc = np.multiply

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        a, b = inputs
        return [g * b if needed[0] else None, g * a if needed[1] else None]


@dataclass(frozen=True)
class Divide(Binary):
    name: ClassVar[str] = "divide"
    ufunc = np.true_divide

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        b = inputs[1]
        return [g / b if needed[0] else None, -(g * out) / b if needed[1] else None]


@dataclass(frozen=True)
class Power(Binary):
    name: ClassVar[str] = "power"
    ufunc = np.power

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        a, b = inputs
        ga = g * b * a ** (b - 1) if needed[0] else None
        gb = g * out * a.log() if needed[1] else None
        return [ga, gb]


def _share(g: Tensor, win: Tensor, tie: Tensor) -> tuple[Tensor, Tensor]:
    """Route ``g`` to the winning operand; ties split it equally (as PyTorch does)."""
    weight = win.astype(g.dtype) + tie.astype(g.dtype) * 0.5
    return g * weight, g * (1 - weight)


@dataclass(frozen=True)
class Maximum(Binary):
    name: ClassVar[str] = "maximum"
    ufunc = np.maximum

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        a, b = inputs
        return _share(g, a > b, a == b)


@dataclass(frozen=True)
class Minimum(Binary):
    name: ClassVar[str] = "minimum"
    ufunc = np.minimum

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        a, b = inputs
        return _share(g, a < b, a == b)


@dataclass(frozen=True)
class Compare(Binary):
    """Comparisons give booleans and carry no gradient."""

    differentiable: ClassVar[bool] = False
    exact_scalars: ClassVar[bool] = True


@dataclass(frozen=True)
class Less(Compare):
    name: ClassVar[str] = "less"
    ufunc = np.less


@dataclass(frozen=True)
class LessEqual(Compare):
    name: ClassVar[str] = "less_equal"
    ufunc = np.less_equal


@dataclass(frozen=True)
class Greater(Compare):
    name: ClassVar[str] = "greater"
    ufunc = np.greater


@dataclass(frozen=True)
class GreaterEqual(Compare):
    name: ClassVar[str] = "greater_equal"
    ufunc = np.greater_equal


@dataclass(frozen=True)
class Equal(Compare):
    name: ClassVar[str] = "equal"
    ufunc = np.equal


@dataclass(frozen=True)
class NotEqual(Compare):
    name: ClassVar[str] = "not_equal"
    ufunc = np.not_equal


@dataclass(frozen=True)
class LogicalAnd(Compare):
    name: ClassVar[str] = "logical_and"
    ufunc = np.logical_and
