"""Elementwise unary ops: exp, log, sqrt, abs, tanh, sigmoid, relu, softplus, negation, casts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, float_dtype, probe_dtype

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


@dataclass(frozen=True)
class Unary(TensorOp):
    """A numpy ufunc of one operand. Kernels must stay correct when ``out`` is the input
    (the planner computes elementwise ops in place)."""

    ufunc: ClassVar[Callable[..., Any]]
    elementwise: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, probe_dtype(self.name, type(self).ufunc, inputs)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return type(self).ufunc(arrays[0], out=out)  # type: ignore[no-any-return]

    def kernel(self) -> Callable[..., NDArray[Any]]:
        return type(self).ufunc


@dataclass(frozen=True)
class Negative(Unary):
    name: ClassVar[str] = "negative"
    ufunc = np.negative

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [-g]


@dataclass(frozen=True)
class Exp(Unary):
    name: ClassVar[str] = "exp"
    ufunc = np.exp

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g * out]


@dataclass(frozen=True)
class Log(Unary):
    name: ClassVar[str] = "log"
    ufunc = np.log

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g / inputs[0]]


@dataclass(frozen=True)
class Sqrt(Unary):
    name: ClassVar[str] = "sqrt"
    ufunc = np.sqrt

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g * 0.5 / out]


@dataclass(frozen=True)
class Sign(Unary):
    name: ClassVar[str] = "sign"
    ufunc = np.sign
    differentiable: ClassVar[bool] = False


@dataclass(frozen=True)
class Absolute(Unary):
    """|x|; the gradient at 0 is 0 (sign(0))."""

    name: ClassVar[str] = "abs"
    ufunc = np.absolute

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor.ops.core import apply

        return [g * apply(Sign(), inputs[0])]


@dataclass(frozen=True)
class Tanh(Unary):
    name: ClassVar[str] = "tanh"
    ufunc = np.tanh

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g * (1 - out * out)]


def _sigmoid(x: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
    # 0.5 * (1 + tanh(x / 2)): no overflow for large |x|; reads x once, so out may be x
    y = np.multiply(x, 0.5, out=out)
    if out is None:  # numpy gives a scalar for a 0-d x, and a scalar cannot be an ``out``
        y = np.asarray(y)
    np.tanh(y, out=y)
    np.add(y, 1, out=y)
    result: NDArray[Any] = np.multiply(y, 0.5, out=y)
    return result


@dataclass(frozen=True)
class Sigmoid(Unary):
    name: ClassVar[str] = "sigmoid"
    ufunc = staticmethod(_sigmoid)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g * out * (1 - out)]


def _relu(x: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
    result: NDArray[Any] = np.maximum(x, 0, out=out)
    return result


@dataclass(frozen=True)
class Relu(Unary):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""

    name: ClassVar[str] = "relu"
    ufunc = staticmethod(_relu)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g * (out > 0)]


def _softplus(x: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
    result: NDArray[Any] = np.logaddexp(0, x, out=out)  # log(1 + exp(x)), no overflow
    return result


@dataclass(frozen=True)
class Softplus(Unary):
    """``log(1 + exp(x))`` computed stably; the gradient is sigmoid(x). Floats only.

    >>> from mg_tensor.ops.core import apply
    >>> from mg_tensor.tensor import Tensor
    >>> apply(Softplus(), Tensor([0.0, 1000.0])).data
    array([6.931472e-01, 1.000000e+03], dtype=float32)
    """

    name: ClassVar[str] = "softplus"
    ufunc = staticmethod(_softplus)

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, float_dtype(self.name, inputs)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor.ops.core import apply

        return [g * apply(Sigmoid(), inputs[0])]


@dataclass(frozen=True)
class AsType(Unary):
    """A cast; the gradient is cast back to the input's dtype."""

    dtype: str = "float32"
    name: ClassVar[str] = "astype"

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, np.dtype(self.dtype)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        if out is None:
            return arrays[0].astype(self.dtype)
        np.copyto(out, arrays[0], casting="unsafe")
        return out

    def kernel(self) -> Callable[..., NDArray[Any]]:
        return self.forward

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g.astype(inputs[0].dtype)]


@dataclass(frozen=True)
class StopGradient(Unary):
    """The identity, but gradients do not flow through it."""

    name: ClassVar[str] = "stop_gradient"
    differentiable: ClassVar[bool] = False
    view: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        if out is None:
            # a view, never the input array itself: Tensor.data marks a computed node's own
            # (base) array read-only, which must not freeze a parameter's buffer
            return arrays[0].view()
        np.copyto(out, arrays[0])
        return out

    def kernel(self) -> Callable[..., NDArray[Any]]:
        return self.forward
