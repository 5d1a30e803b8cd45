"""Softmax and log-softmax along an axis: stable kernels (max subtracted), exact gradients.

The stability pass of `compute_graph` rewrites the naive ``exp(x) / exp(x).sum()`` and
``log(softmax)`` patterns into these ops before gradients are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, dtype_error, is_float

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


def _float_spec(op: str, x: Node) -> Spec:
    if not is_float(x.dtype):
        raise dtype_error(op, [x], "needs a floating-point input", "call .astype(np.float32)")
    return x.shape, x.dtype


@dataclass(frozen=True)
class Softmax(TensorOp):
    axis: int
    name: ClassVar[str] = "softmax"

    def infer(self, *inputs: Node) -> Spec:
        return _float_spec(self.name, inputs[0])

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        x = arrays[0]
        # initial=-inf: an empty axis gives an empty result instead of a numpy error
        out = np.subtract(x, x.max(axis=self.axis, keepdims=True, initial=-np.inf), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=self.axis, keepdims=True)
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [out * (g - (g * out).sum(self.axis, keepdims=True))]


@dataclass(frozen=True)
class LogSoftmax(TensorOp):
    axis: int
    name: ClassVar[str] = "log_softmax"

    def infer(self, *inputs: Node) -> Spec:
        return _float_spec(self.name, inputs[0])

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        x = arrays[0]
        # initial=-inf: an empty axis gives an empty result instead of a numpy error
        out = np.subtract(x, x.max(axis=self.axis, keepdims=True, initial=-np.inf), out=out)
        if out.size:
            out -= np.log(np.exp(out).sum(axis=self.axis, keepdims=True))
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g - out.exp() * g.sum(self.axis, keepdims=True)]
