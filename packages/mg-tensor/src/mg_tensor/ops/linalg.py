"""Matrix multiplication with numpy's rules for 1-D, 2-D and batched operands."""

from __future__ import annotations

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
        return np.matmul(arrays[0], arrays[1], out=out)

    def kernel(self) -> Callable[..., NDArray[Any]]:
        return np.matmul

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
        gb = sum_to(_swap(a2) @ g2, b2.shape).reshape(b.shape) if needed[1] else None
        return [ga, gb]
