"""Dropout's op: a fresh random keep-mask at every run (an impure node)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from mg_tensor.oplib import Array, Node, Spec, TensorOp, float_dtype


@dataclass(frozen=True)
class DropoutMask(TensorOp):
    """A fresh random keep-mask scaled by ``1 / (1 - p)``, shaped like the input.

    Impure (``pure = False``): never folded or merged, and drawn again at every run, also
    in a frozen graph. The input is only read for its shape. With an ``owner`` (a layer),
    the mask is all ones whenever ``owner.training`` is false at run time, so
    ``model.eval()`` also switches dropout off in graphs traced in training mode.

    >>> from mg_tensor.oplib import Array, Tensor, apply
    >>> mask = apply(DropoutMask(0.5, np.random.default_rng(0)), Tensor(np.zeros(6)))
    >>> sorted(set(mask.data.tolist()))
    [0.0, 2.0]
    """

    p: float
    generator: np.random.Generator | None = field(default=None, repr=False)
    owner: Any = field(default=None, repr=False, compare=False)
    name: ClassVar[str] = "dropout_mask"
    pure: ClassVar[bool] = False
    differentiable: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        x = arrays[0]
        if out is None:
            out = np.empty(x.shape, x.dtype)
        if (self.owner is not None and not self.owner.training) or self.p == 0:
            out.fill(1)
            return out
        if self.p >= 1:
            out.fill(0)
            return out
        if self.generator is None:
            from mg_nn.init import default_generator

            rng = default_generator()
        else:
            rng = self.generator
        if out.dtype in (np.float32, np.float64) and out.flags.c_contiguous:
            rng.random(out=out, dtype=out.dtype)
            keep = out >= self.p
        else:
            keep = rng.random(out.shape) >= self.p
        np.multiply(keep, 1.0 / (1.0 - self.p), out=out, casting="unsafe")
        return out
