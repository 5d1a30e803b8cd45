"""What an exporter sees: the node, its twin in the second trace, and an ONNX builder.

`export` traces the function at two batch sizes; a node's *twin* is the same node in the
second trace, so an axis whose length differs between the two is a batch axis (values
are never compared to guess it). Exporters write ONNX nodes through `Call`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper, numpy_helper

from mg_graph import Node, describe
from mg_onnx.errors import ExportError

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def elem_type(dtype: np.dtype[Any]) -> int:
    """The ONNX element type of a numpy dtype.

    >>> elem_type(np.dtype(np.float32)) == onnx.TensorProto.FLOAT
    True
    """
    return int(helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


def batch_axes(node: Node, twin: Node) -> tuple[int, ...]:
    """The axes whose length differs between the two traces."""
    return tuple(i for i, (a, b) in enumerate(zip(node.shape, twin.shape, strict=True)) if a != b)


@dataclass
class Builder:
    """Accumulates ONNX nodes, constants and initializers with unique names."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    def fresh(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.names:
            name, k = f"{hint}_{k}", k + 1
        self.names.add(name)
        return name

    def node(
        self,
        op_type: str,
        inputs: Sequence[str],
        scope: str,
        output: str | None = None,
        **attrs: Any,
    ) -> str:
        """Add one single-output node; returns the output's name."""
        name = self.fresh(f"{scope}/{op_type}")
        out = output or self.fresh(f"{name}_output")
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=name, **attrs))
        return out

    def multi(
        self, op_type: str, inputs: Sequence[str], count: int, scope: str, **attrs: Any
    ) -> list[str]:
        """Add one node with ``count`` outputs; returns their names."""
        name = self.fresh(f"{scope}/{op_type}")
        outs = [self.fresh(f"{name}_output_{k}") for k in range(count)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=name, **attrs))
        return outs

    def constant(self, value: Any, scope: str, dtype: Any = None) -> str:
        array = np.asarray(value, dtype=dtype)
        return self.node("Constant", [], scope, value=numpy_helper.from_array(array))

    def initializer(self, array: NDArray[Any], hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name


@dataclass
class Call:
    """One computed node being exported: ``args`` are the ONNX names of its inputs."""

    builder: Builder
    node: Node
    twin: Node
    args: list[str]

    @property
    def op(self) -> Any:
        return self.node.op

    @property
    def scope(self) -> str:
        return "/" + "/".join(self.node.scope) if self.node.scope else ""

    def emit(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        return self.builder.node(op_type, inputs, self.scope, **attrs)

    def const(self, value: Any, dtype: Any = None) -> str:
        return self.builder.constant(value, self.scope, dtype)

    def ints(self, values: Sequence[int]) -> str:
        """A 1-d int64 constant (shapes, axes, starts...)."""
        return self.const(np.array(values, np.int64).reshape(-1))

    def arg(self, i: int, dtype: Any = None) -> str:
        """Input ``i`` as ONNX sees it, cast to ``dtype`` (default: the node's dtype),
        since ONNX ops take one element type where numpy promotes."""
        target = self.node.dtype if dtype is None else np.dtype(dtype)
        source = self.node.inputs[i].dtype
        if source == target:
            return self.args[i]
        return self.emit("Cast", [self.args[i]], to=elem_type(target))

    def common(self) -> np.dtype[Any]:
        """The dtype numpy computes mixed operands in (comparisons give bools)."""
        return np.dtype(np.result_type(*(n.dtype for n in self.node.inputs)))

    def target_shape(self) -> list[int]:
        """The node's shape for a Reshape of its first input: the batch axis becomes -1
        (or 0, ONNX's "copy the input's length", where it stays at the input's position)."""
        node, twin, source, source_twin = (
            self.node,
            self.twin,
            self.node.inputs[0],
            self.twin.inputs[0],
        )
        shape = list(node.shape)
        varying = batch_axes(node, twin)
        if len(varying) <= 1:
            return self.dynamic_shape()
        copied = {
            a
            for a in batch_axes(source, source_twin)
            if a < node.ndim
            and (source.shape[a], source_twin.shape[a]) == (node.shape[a], twin.shape[a])
        }
        free = [a for a in varying if a not in copied]
        if len(free) > 1 or (varying and 0 in node.shape):
            raise self.error(
                f"its output shape {node.shape} depends on the batch size in several axes",
                "keep the batch in one axis, or export with dynamic_batch=False",
            )
        for a in varying:
            shape[a] = 0 if a in copied else -1
        return shape

    def dynamic_shape(self) -> list[int]:
        """The node's shape with -1 for its batch axis (an error if it has several)."""
        varying = batch_axes(self.node, self.twin)
        if len(varying) > 1:
            raise self.error(
                f"its output shape {self.node.shape} depends on the batch size in several axes",
                "keep the batch in one axis, or export with dynamic_batch=False",
            )
        return [-1 if a in varying else n for a, n in enumerate(self.node.shape)]

    def error(self, problem: str, fix: str | None = None) -> ExportError:
        return ExportError(
            describe(
                self.node.op.name if self.node.op is not None else "export",
                f"cannot export: {problem}",
                self.node.location,
                fix,
            )
        )
