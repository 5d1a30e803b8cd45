"""Shape ops: reshape, transpose, broadcast, concatenate. Most are free views."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, broadcasts_to, probe_dtype, shape_error

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


class View(TensorOp):
    """An op whose result is a view of its input: no copy, no kernel in a frozen graph."""

    view: ClassVar[bool] = True
    uses_out: ClassVar[bool] = False


@dataclass(frozen=True)
class Reshape(View):
    shape: tuple[int, ...]
    name: ClassVar[str] = "reshape"

    def infer(self, *inputs: Node) -> Spec:
        return self.shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return arrays[0].reshape(self.shape)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g.reshape(inputs[0].shape)]


def resolve_shape(node: Node, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Fill in one -1 and check the element count, as numpy does."""
    unknown = [i for i, n in enumerate(shape) if n == -1]
    if len(unknown) > 1 or any(n < -1 for n in shape):
        raise shape_error(
            "reshape",
            [node],
            f"invalid target shape {shape}",
            "use non-negative sizes and at most one -1",
        )
    known = math.prod(n for n in shape if n != -1)  # exact ints; np.prod costs microseconds
    if unknown:
        if known == 0 or node.size % known:
            raise shape_error(
                "reshape",
                [node],
                f"cannot reshape size {node.size} into {shape}",
                "make the sizes multiply to the element count",
            )
        shape = tuple(node.size // known if n == -1 else n for n in shape)
    elif known != node.size:
        raise shape_error(
            "reshape",
            [node],
            f"cannot reshape size {node.size} into {shape}",
            "make the sizes multiply to the element count",
        )
    return shape


@dataclass(frozen=True)
class Transpose(View):
    axes: tuple[int, ...]
    name: ClassVar[str] = "transpose"

    def infer(self, *inputs: Node) -> Spec:
        x = inputs[0]
        if sorted(self.axes) != list(range(x.ndim)):
            raise shape_error(
                "transpose",
                inputs,
                f"axes {self.axes} are not a permutation of {x.ndim} axes",
                f"pass each of 0..{x.ndim - 1} once",
            )
        return tuple(x.shape[a] for a in self.axes), x.dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return arrays[0].transpose(self.axes)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [g.transpose(tuple(int(i) for i in np.argsort(self.axes)))]


@dataclass(frozen=True)
class BroadcastTo(View):
    shape: tuple[int, ...]
    name: ClassVar[str] = "broadcast_to"

    def infer(self, *inputs: Node) -> Spec:
        x = inputs[0]
        if not broadcasts_to(x.shape, self.shape):
            raise shape_error(
                "broadcast_to",
                inputs,
                f"cannot broadcast to {self.shape}",
                "target dimensions must equal the input's or replace a 1",
            )
        return self.shape, x.dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return np.broadcast_to(arrays[0], self.shape)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [sum_to(g, inputs[0].shape)]


def sum_to(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``g`` over the axes that broadcasting added or stretched, back to ``shape``.

    >>> from mg_tensor import Tensor
    >>> sum_to(Tensor(np.ones((2, 3))), (3,)).data
    array([2., 2., 2.])
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    summed = g.sum(axes, keepdims=True) if axes else g
    return summed.reshape(shape)


@dataclass(frozen=True)
class Concatenate(TensorOp):
    axis: int
    name: ClassVar[str] = "concatenate"

    def infer(self, *inputs: Node) -> Spec:
        first = inputs[0]
        if first.ndim == 0:
            raise shape_error(
                "concatenate",
                inputs,
                "zero-dimensional tensors cannot be concatenated",
                "use stack() or unsqueeze first",
            )
        for node in inputs[1:]:
            if node.ndim != first.ndim or any(
                a != b
                for i, (a, b) in enumerate(zip(node.shape, first.shape, strict=True))
                if i != self.axis
            ):
                raise shape_error(
                    "concatenate",
                    inputs,
                    f"shapes differ outside axis {self.axis}",
                    "make every other dimension equal",
                )
        shape = list(first.shape)
        shape[self.axis] = sum(n.shape[self.axis] for n in inputs)
        return tuple(shape), probe_dtype("concatenate", _concat_probe, inputs)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return np.concatenate(arrays, axis=self.axis, out=out)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        grads: list[Tensor | None] = []
        start = 0
        for x, need in zip(inputs, needed, strict=True):
            stop = start + x.shape[self.axis]
            index = (slice(None),) * self.axis + (slice(start, stop),)
            grads.append(g[index] if need else None)
            start = stop
        return grads


def _concat_probe(*arrays: NDArray[Any]) -> NDArray[Any]:
    return np.concatenate(arrays)
