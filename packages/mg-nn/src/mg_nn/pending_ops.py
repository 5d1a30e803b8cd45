"""Elementwise ops mg-nn needs before mg-tensor has them.

TODO(13a): use mg_tensor.erf and delete this file (issue 13's mg-tensor ops add ``erf``
with a vectorised kernel; this one calls ``math.erf`` per element).

>>> import numpy as np
>>> from mg_tensor import Tensor
>>> erf(Tensor(np.array([0.0, 1.0]))).data.round(6)
array([0.      , 0.842701])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mg_tensor.oplib import Array, Grads, Node, Spec, Tensor, TensorOp, apply, float_dtype
from mg_tensor.ops import exp

_erf = np.vectorize(math.erf, otypes=[np.float64])


@dataclass(frozen=True)
class Erf(TensorOp):
    """The error function; gradient ``2 / sqrt(pi) * exp(-x**2)``."""

    name: ClassVar[str] = "erf"
    elementwise: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        result = _erf(arrays[0]).astype(arrays[0].dtype, copy=False)
        if out is None:
            return result  # type: ignore[no-any-return]
        out[...] = result
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x = inputs[0]
        return [g * (2.0 / math.sqrt(math.pi)) * exp(-(x * x))]


def erf(x: Any) -> Tensor:
    """The error function, elementwise (TODO(13a): use mg_tensor.erf)."""
    return apply(Erf(), x)
