"""The public API for writing ops outside mg-tensor (mg-nn's ops use only this module).

An op is a frozen dataclass deriving from `TensorOp` with ``infer`` (shape and dtype
rule, returning a `Spec`), ``forward`` (numpy kernel, writing into ``out`` when given)
and ``vjp`` (gradient rule written in Tensor ops) side by side; `apply` adds it to the
graph of its operands and returns the result as a Tensor.

>>> from dataclasses import dataclass
>>> from typing import ClassVar
>>> import numpy as np
>>> @dataclass(frozen=True)
... class Double(TensorOp):
...     name: ClassVar[str] = "double"
...     def infer(self, *inputs): return inputs[0].shape, float_dtype(self.name, inputs)
...     def forward(self, *arrays, out=None): return np.multiply(arrays[0], 2, out=out)
...     def vjp(self, g, out, *inputs, needed): return [g * 2]
>>> apply(Double(), Tensor([1.0, 2.0])).data
array([2., 4.], dtype=float32)
"""

from typing import Any

from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import (
    Grads,
    Shape,
    Spec,
    TensorOp,
    dtype_error,
    float_dtype,
    is_float,
    normalize_axis,
    probe_dtype,
    shape_error,
    write_out,
)
from mg_tensor.ops.core import apply, lift
from mg_tensor.ops.linalg import matmul_kernel
from mg_tensor.tensor import Tensor

Array = NDArray[Any]  # what kernels take and return

__all__ = [
    "Array",
    "Grads",
    "Node",
    "Shape",
    "Spec",
    "Tensor",
    "TensorOp",
    "apply",
    "dtype_error",
    "float_dtype",
    "is_float",
    "lift",
    "matmul_kernel",
    "normalize_axis",
    "probe_dtype",
    "shape_error",
    "write_out",
]
