"""The fully connected layer's op: ``x @ w.T (+ b)`` with the weight stored (out, in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mg_tensor.oplib import (
    Array,
    Grads,
    Node,
    Spec,
    Tensor,
    TensorOp,
    float_dtype,
    matmul_kernel,
    shape_error,
)


@dataclass(frozen=True)
class Linear(TensorOp):
    """``x @ w.T (+ b)`` with ``w`` stored ``(out, in)`` as in PyTorch.

    The weight gradient is computed as ``g.T @ x`` straight into an ``(out, in)`` buffer
    (BLAS reads the transposed view), so no transposed copy is ever made.

    >>> from mg_tensor.oplib import Array, Tensor, apply
    >>> apply(Linear(), Tensor([[1.0, 2.0]]), Tensor([[3.0, 4.0]]), Tensor([0.5])).data
    array([[11.5]], dtype=float32)
    """

    name: ClassVar[str] = "linear"

    def infer(self, *inputs: Node) -> Spec:
        x, w, *b = inputs
        if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[1]:
            raise shape_error(
                "linear",
                inputs,
                "input features must equal the weight's second dimension (weight is (out, in))",
                "reshape the input to (..., in_features) or fix the layer sizes",
            )
        if b and b[0].shape != (w.shape[0],):
            raise shape_error(
                "linear", inputs, f"bias must have shape ({w.shape[0]},)", "pass a 1-d bias"
            )
        return (*x.shape[:-1], w.shape[0]), float_dtype("linear", inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x, w, *b = arrays
        result = matmul_kernel(x, w.T, out)  # N-d inputs: one 2-d GEMM
        if b:
            np.add(result, b[0], out=result)
        return result

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x, w, *b = inputs
        g2 = g if g.ndim == 2 else g.reshape((-1, w.shape[0]))
        grads: list[Tensor | None] = [
            g @ w if needed[0] else None,
            g2.T @ (x if x.ndim == 2 else x.reshape((-1, w.shape[1]))) if needed[1] else None,
        ]
        if b:
            grads.append(g2.sum(0) if needed[2] else None)
        return grads
