"""Indexing: ints, slices, None and ``...`` give free views; integer arrays gather.

The index is stored in the op as a hashable template; integer index arrays become
extra (integer, non-differentiable) inputs, so repeated indices and their gradients
(which add up, via ``np.add.at``) work inside frozen graphs too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, shape_error

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor

Template = tuple[tuple[Any, ...], ...]


def decode(template: Template, arrays: Sequence[NDArray[Any]]) -> tuple[Any, ...]:
    """The numpy index that ``template`` stands for, given the index arrays."""
    key: list[Any] = []
    for item in template:
        kind = item[0]
        if kind == "int":
            key.append(item[1])
        elif kind == "slice":
            key.append(slice(item[1], item[2], item[3]))
        elif kind == "none":
            key.append(None)
        elif kind == "ellipsis":
            key.append(Ellipsis)
        else:
            key.append(arrays[item[1]])
    return tuple(key)


def _infer(op: str, template: Template, inputs: Sequence[Node]) -> tuple[int, ...]:
    x, *index = inputs
    dummy = np.broadcast_to(np.zeros((), x.dtype), x.shape)
    samples = [
        n.value if n.op is None and n.value is not None else np.zeros(n.shape, np.intp)
        for n in index
    ]
    try:
        return tuple(dummy[decode(template, samples)].shape)
    except IndexError as exc:
        raise shape_error(
            op, inputs, f"bad index: {exc}", "keep every index within the dimension it indexes"
        ) from None


@dataclass(frozen=True)
class Index(TensorOp):
    """Basic indexing (ints, slices, None, ...): a view."""

    template: Template
    name: ClassVar[str] = "index"
    view: ClassVar[bool] = True
    uses_out: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        return _infer(self.name, self.template, inputs), inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        result: NDArray[Any] = arrays[0][decode(self.template, ())]
        return result

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor.ops.core import apply

        return [apply(ScatterAdd(self.template, inputs[0].shape), g)]


@dataclass(frozen=True)
class Gather(TensorOp):
    """Advanced indexing with integer arrays (extra inputs after the tensor)."""

    template: Template
    name: ClassVar[str] = "gather"
    uses_out: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        return _infer(self.name, self.template, inputs), inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        result: NDArray[Any] = arrays[0][decode(self.template, arrays[1:])]
        return result

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor.ops.core import apply

        x, *index = inputs
        grad = apply(ScatterAdd(self.template, x.shape), g, *index)
        return [grad, *([None] * len(index))]


@dataclass(frozen=True)
class ScatterAdd(TensorOp):
    """Zeros of ``shape`` with ``g`` added at the index: repeated indices add up."""

    template: Template
    shape: tuple[int, ...]
    name: ClassVar[str] = "scatter_add"

    def infer(self, *inputs: Node) -> Spec:
        return self.shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        g, *index = arrays
        if out is None:
            out = np.zeros(self.shape, g.dtype)
        else:
            out.fill(0)
        np.add.at(out, decode(self.template, index), g)
        return out

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor.ops.core import apply

        op: TensorOp = Gather(self.template) if len(inputs) > 1 else Index(self.template)
        return [apply(op, g, *inputs[1:]), *([None] * (len(inputs) - 1))]
