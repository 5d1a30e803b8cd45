"""Matrix multiplication with numpy's rules for 1-D, 2-D and batched operands."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, probe_dtype, shape_error
from mg_tensor.ops.shape import sum_to

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


def matmul_kernel(
    a: NDArray[Any], b: NDArray[Any], out: NDArray[Any] | None = None
) -> NDArray[Any]:
    """``np.matmul(a, b, out=out)``, with an N-d @ 2-d product done as one 2-d GEMM:
    numpy's stacked matmul loops over the leading axes, and into an ``out=`` buffer it
    takes a non-BLAS path, tens of times slower for (batch, length, features) inputs.

    >>> a, b = np.ones((2, 3, 4)), np.ones((4, 5))
    >>> matmul_kernel(a, b).shape
    (2, 3, 5)
    """
    if a.ndim > 2 and b.ndim == 2 and a.flags.c_contiguous:
        rows = a.reshape(math.prod(a.shape[:-1]), a.shape[-1])
        if out is None:
            product: NDArray[Any] = np.matmul(rows, b)
            return product.reshape(*a.shape[:-1], b.shape[1])
        if out.flags.c_contiguous:
            np.matmul(rows, b, out=out.reshape(rows.shape[0], b.shape[1]))
            return out
    return np.matmul(a, b, out=out)


def _swap(t: Tensor) -> Tensor:
    axes = list(range(t.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return t.transpose(tuple(axes))


@dataclass(frozen=True)
class MatMul(TensorOp):
    """``a @ b``: BLAS through np.matmul, written straight into the planned buffer."""

    name: ClassVar[str] = "matmul"

    def infer(self, *inputs: Node) -> Spec:
        a, b = inputs
        if a.ndim == 0 or b.ndim == 0:
            raise shape_error(
                "matmul", inputs, "operands must be at least 1-d", "use * for scalars"
            )
        a_shape = (1, *a.shape) if a.ndim == 1 else a.shape
        b_shape = (*b.shape, 1) if b.ndim == 1 else b.shape
        if a_shape[-1] != b_shape[-2]:
            raise shape_error(
                "matmul",
                inputs,
                f"inner dimensions differ ({a_shape[-1]} vs {b_shape[-2]})",
                "transpose an operand (.T) or fix the layer sizes",
            )
        try:
            batch = np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
        except ValueError:
            raise shape_error(
                "matmul",
                inputs,
                "batch dimensions do not broadcast",
                "make the leading dimensions equal or 1",
            ) from None
        shape = (
            *batch,
            *((a_shape[-2],) if a.ndim > 1 else ()),
            *((b_shape[-1],) if b.ndim > 1 else ()),
        )
        return tuple(shape), probe_dtype("matmul", np.multiply, inputs)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return matmul_kernel(arrays[0], arrays[1], out=out)

    def kernel(self) -> Callable[..., NDArray[Any]]:
        return matmul_kernel

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        a, b = inputs
        a2 = a.reshape((1, a.shape[0])) if a.ndim == 1 else a
        b2 = b.reshape((b.shape[0], 1)) if b.ndim == 1 else b
        g_shape = list(g.shape)
        if a.ndim == 1:
            g_shape.insert(len(g_shape) - (b.ndim > 1), 1)
        if b.ndim == 1:
            g_shape.append(1)
        g2 = g.reshape(tuple(g_shape))
        ga = sum_to(g2 @ _swap(b2), a2.shape).reshape(a.shape) if needed[0] else None
        if not needed[1]:
            gb = None
        elif a2.ndim > 2 and b2.ndim == 2:  # one GEMM over all rows, not a batch then a sum
            rows = math.prod(a2.shape[:-1])
            flat_a, flat_g = a2.reshape((rows, a2.shape[-1])), g2.reshape((rows, g2.shape[-1]))
            gb = (flat_a.T @ flat_g).reshape(b.shape)
        else:
            gb = sum_to(_swap(a2) @ g2, b2.shape).reshape(b.shape)
        return [ga, gb]
