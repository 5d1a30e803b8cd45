"""Tiny ops for testing the runtime without mg-tensor: frozen dataclasses subclassing
`mg_graph.Op`, each counting its kernel calls in `CALLS` (by op name)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Graph, Node, Op, ShapeError, describe

CALLS: Counter[str] = Counter()
RNG = np.random.default_rng(0)

Spec = tuple[tuple[int, ...], np.dtype[Any]]


def calls() -> int:
    """Kernel calls of every op since the last reset."""
    return sum(CALLS.values())


def _broadcast(name: str, *nodes: Node) -> Spec:
    try:
        shape = tuple(np.broadcast_shapes(*(n.shape for n in nodes)))
    except ValueError:
        shapes = " and ".join(str(n.shape) for n in nodes)
        raise ShapeError(describe(name, f"shapes {shapes} do not broadcast", "?")) from None
    return shape, np.result_type(*(n.dtype for n in nodes))


@dataclass(frozen=True)
class Add(Op):
    name: ClassVar[str] = "add"
    elementwise: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        return _broadcast(self.name, *inputs)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        CALLS[self.name] += 1
        return np.add(arrays[0], arrays[1], out=out)


@dataclass(frozen=True)
class Mul(Op):
    name: ClassVar[str] = "mul"
    elementwise: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        return _broadcast(self.name, *inputs)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        CALLS[self.name] += 1
        return np.multiply(arrays[0], arrays[1], out=out)


@dataclass(frozen=True)
class Exp(Op):
    name: ClassVar[str] = "exp"
    elementwise: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        CALLS[self.name] += 1
        return np.exp(arrays[0], out=out)


@dataclass(frozen=True)
class Sum(Op):
    """Sum of every element: a 0-d result (numpy returns a scalar without ``out``)."""

    name: ClassVar[str] = "sum"

    def infer(self, *inputs: Node) -> Spec:
        return (), inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        CALLS[self.name] += 1
        return np.sum(arrays[0], out=out)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Scale(Op):
    """``x * factor`` with a static parameter: ops with different factors differ."""

    factor: float
    name: ClassVar[str] = "scale"
    elementwise: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        CALLS[self.name] += 1
        return np.multiply(arrays[0], arrays[0].dtype.type(self.factor), out=out)


@dataclass(frozen=True)
class Reshape(Op):
    """A free view of its input."""

    shape: tuple[int, ...]
    name: ClassVar[str] = "reshape"
    view: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> Spec:
        if int(np.prod(self.shape)) != inputs[0].size:
            raise ShapeError(describe(self.name, f"{inputs[0].shape} -> {self.shape}", "?"))
        return self.shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        CALLS[self.name] += 1
        result = arrays[0].reshape(self.shape)
        if out is not None:
            np.copyto(out, result)
            return out
        return result


@dataclass(frozen=True)
class Flip(Op):
    """A view op that sometimes must copy (as reshape does for a non-contiguous array):
    reversed order, returned as a view, or as a copy when ``copy`` is set."""

    copy: bool = False
    name: ClassVar[str] = "flip"
    view: ClassVar[bool] = True
    uses_out: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        CALLS[self.name] += 1
        result = arrays[0][::-1]
        return result.copy() if self.copy else result


@dataclass(frozen=True)
class Double(Op):
    """``2 * x`` whose kernel ignores ``out`` (the executor copies the result)."""

    name: ClassVar[str] = "double"
    uses_out: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        CALLS[self.name] += 1
        return arrays[0] * 2


@dataclass(frozen=True)
class Noise(Op):
    """``x + uniform noise``: not pure, so never folded nor merged."""

    name: ClassVar[str] = "noise"
    pure: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        CALLS[self.name] += 1
        noise = RNG.random(arrays[0].shape).astype(arrays[0].dtype)
        return np.add(arrays[0], noise, out=out)


def chain(graph: Graph, x: Node, length: int, constant: Node | None = None) -> list[Node]:
    """``length`` nodes alternating ``+ c`` and ``* c`` (c = 1.5 unless given)."""
    c = constant if constant is not None else graph.leaf(np.full(x.shape, 1.5, x.dtype))
    nodes = []
    for i in range(length):
        x = graph.apply(Add() if i % 2 == 0 else Mul(), x, c)
        nodes.append(x)
    return nodes


def chain_reference(x: NDArray[Any], length: int, c: float = 1.5) -> NDArray[Any]:
    """What `chain` computes, in plain numpy."""
    value = x.copy()
    for i in range(length):
        value = value + value.dtype.type(c) if i % 2 == 0 else value * value.dtype.type(c)
    return value
