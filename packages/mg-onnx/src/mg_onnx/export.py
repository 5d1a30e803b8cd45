"""`export`: write the inference graph of a Model or a compiled function as ONNX.

The function is traced by `compute_graph` twice, at the example's batch size and at one
more: the frozen graphs (after the passes: ``log(softmax)`` is already ``log_softmax``)
have the same nodes, and an axis whose length differs between the two is a batch axis.
Parameters become initializers under their dotted names, other leaves ``Constant``
nodes, input buffers graph inputs with a symbolic ``batch`` axis.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper

from mg_graph import Node, Role, describe, topo_order, user_location
from mg_nn import Model
from mg_onnx.emitter import Builder, Call, batch_axes, elem_type
from mg_onnx.errors import ExportError
from mg_onnx.exporters import EXPORTERS, NOT_EXPORTABLE
from mg_tensor import CompiledFunction, Tensor

OPSET = 18
IR_VERSION = 10  # what onnxruntime 1.20 and newer read
BATCH = "batch"


def export(
    model: Model | Callable[..., Any],
    example: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = True,
) -> onnx.ModelProto:
    """Write the inference graph of ``model`` (a Model, a ``@compute_graph`` function or
    any function of tensors) called on ``example`` (an array, or a tuple of them) as an
    ONNX model (opset 18); save it to ``path`` if given, and return it.

    A Model is switched to evaluation mode for the export (and back afterwards). Axis 0
    of every input is the batch: it is symbolic in the file unless ``dynamic_batch`` is
    false. The model passes ``onnx.checker.check_model(..., full_check=True)``.

    >>> import numpy as np
    >>> from mg_nn import Linear
    >>> proto = export(Linear(3, 2), np.ones((4, 3), np.float32))
    >>> [i.name for i in proto.graph.initializer], proto.graph.node[0].op_type
    (['weight', 'bias'], 'Gemm')
    >>> proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    'batch'
    """
    arrays = [np.asarray(a.data if isinstance(a, Tensor) else a) for a in _as_tuple(example)]
    if isinstance(model, CompiledFunction):  # a fresh one: the user's keeps its variants
        fn, optimize, passes = model.fn, model.optimize, model.passes
    else:
        fn, optimize, passes = model, True, None
    names = list(input_names or _input_names(fn, len(arrays)))
    with _evaluation_mode(model):
        traced: CompiledFunction[..., Any] = CompiledFunction(fn, optimize=optimize, passes=passes)
        result = traced(*arrays)
        first = _trace_nodes(traced)
        if dynamic_batch:
            traced(*(_one_more(a, k) for k, a in enumerate(arrays)))
            second = _trace_nodes(traced)
        else:
            second = first
    out_names = list(output_names or _output_names(result, len(first.outputs)))
    for what, given, count in (
        ("input", names, len(arrays)),
        ("output", out_names, len(first.outputs)),
    ):
        if len(given) != count:
            raise ValueError(
                describe(
                    "export",
                    f"{len(given)} {what} names for {count} {what}s",
                    user_location(),
                    f"pass one name per {what}",
                )
            )
    proto = _build(first, second, names, out_names, traced.__name__)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save(proto, os.fspath(path))
    return proto


# ------------------------------------------------------------------ tracing
def _as_tuple(example: Any) -> tuple[Any, ...]:
    return tuple(example) if isinstance(example, tuple | list) else (example,)


@contextlib.contextmanager
def _evaluation_mode(model: Any) -> Iterator[None]:
    if not isinstance(model, Model):
        yield
        return
    modes = [(m, m.training) for _, m in model.named_modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def _one_more(array: NDArray[Any], k: int) -> NDArray[Any]:
    """``array`` with one more row (a copy of the first): the second trace's batch."""
    if array.ndim == 0 or array.shape[0] == 0:
        raise ExportError(
            describe(
                "export",
                f"input {k} of shape {array.shape} has no batch axis to vary",
                user_location(),
                "pass examples with a non-empty first (batch) axis, or dynamic_batch=False",
            )
        )
    return np.concatenate([array, array[:1]])


class _Trace:
    """One traced variant: its input buffers, and every node the outputs need."""

    def __init__(self, inputs: list[Node], outputs: list[Node]) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = topo_order(outputs)


def _trace_nodes(traced: CompiledFunction[..., Any]) -> _Trace:
    """The latest variant: its input buffers and outputs (the returned tensors, in order,
    each once: freezing made equal results distinct nodes)."""
    variant = traced.variants[-1]
    return _Trace(list(variant.inputs), list(variant.graph.outputs))


def _input_names(fn: Callable[..., Any], count: int) -> list[str]:
    """The function's parameter names (a Model's ``__call__``, else its ``forward``)."""
    for candidate in (fn, getattr(fn, "forward", None)) if isinstance(fn, Model) else (fn,):
        try:
            params = list(inspect.signature(candidate).parameters.values())  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        plain = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(plain) >= count:
            return plain[:count]
    return ["input"] if count == 1 else [f"input_{k}" for k in range(count)]


def _output_names(result: Any, count: int) -> list[str]:
    if isinstance(result, dict) and len(result) == count:
        return [str(k) for k in result]
    return ["output"] if count == 1 else [f"output_{k}" for k in range(count)]


# ------------------------------------------------------------------ building
def _mismatch(node: Node, problem: str) -> ExportError:
    return ExportError(
        describe(
            node.op.name if node.op is not None else "export",
            f"cannot export: {problem}",
            node.location,
            "make the function's graph the same for every batch size (no Python branches "
            "or constants that depend on it), or export with dynamic_batch=False",
        )
    )


def _check_twins(node: Node, twin: Node) -> None:
    if type(node.op) is not type(twin.op) or node.role is not twin.role or node.ndim != twin.ndim:
        raise _mismatch(node, "the traced graph changes with the batch size")
    if node.is_leaf and node.role is Role.CONSTANT:
        if node.value is None or twin.value is None:
            return
        if node.value.shape != twin.value.shape or not np.array_equal(node.value, twin.value):
            raise _mismatch(node, f"a constant of shape {node.shape} depends on the batch size")
    elif node.op is not None and node.op != twin.op:
        exporter = EXPORTERS.get(type(node.op))
        if not getattr(exporter, "batch_aware", False):
            raise _mismatch(node, f"the parameters of {node.op.label()} depend on the batch size")


def _value_info(name: str, node: Node, twin: Node, batch: tuple[int, int]) -> onnx.ValueInfoProto:
    """Name, type and shape; an axis as long as the inputs' batch in both traces is the
    symbolic ``batch``, another varying one (a merged batch) is left unnamed."""
    varying = set(batch_axes(node, twin))
    dims: list[int | str | None] = [
        (BATCH if (n, twin.shape[a]) == batch else None) if a in varying else n
        for a, n in enumerate(node.shape)
    ]
    return helper.make_tensor_value_info(name, elem_type(node.dtype), dims)


def _emit(builder: Builder, node: Node, twin: Node, names: dict[int, str]) -> str:
    assert node.op is not None
    exporter = EXPORTERS.get(type(node.op))
    if exporter is None:
        reason = NOT_EXPORTABLE.get(type(node.op), "no ONNX mapping in mg_onnx's export table")
        raise ExportError(
            describe(
                node.op.name,
                f"cannot export {type(node.op).__name__}: {reason}",
                node.location,
                "add it to mg_onnx.exporters.EXPORTERS, or leave it out of the exported "
                "function (export the model's forward, not its loss or gradients)",
            )
        )
    call = Call(builder, node, twin, [names[i.id] for i in node.inputs])
    return exporter(call)


def _leading(inputs: list[Node]) -> int:
    """The first input's batch size (-1 when it has none)."""
    return inputs[0].shape[0] if inputs and inputs[0].ndim else -1


def _build(
    first: _Trace, second: _Trace, input_names: list[str], output_names: list[str], title: str
) -> onnx.ModelProto:
    if len(first.nodes) != len(second.nodes) or len(input_names) != len(first.inputs):
        node = first.outputs[0] if first.outputs else first.inputs[0]
        raise _mismatch(node, "the traced graph changes with the batch size")
    builder = Builder()
    builder.names.update(input_names)
    builder.names.update(output_names)
    twins = {n.id: t for n, t in zip(first.nodes, second.nodes, strict=True)}
    twins.update({n.id: t for n, t in zip(first.inputs, second.inputs, strict=True)})
    names: dict[int, str] = {}
    inputs = []
    batch = (_leading(first.inputs), _leading(second.inputs))
    for node, name in zip(first.inputs, input_names, strict=True):
        names[node.id] = name
        inputs.append(_value_info(name, node, twins[node.id], batch))
    for node in first.nodes:
        twin = twins[node.id]
        _check_twins(node, twin)
        if node.id in names:
            continue
        if node.role is Role.PARAMETER:
            assert node.value is not None
            names[node.id] = builder.initializer(node.value, node.name or "parameter")
        elif node.is_leaf:
            assert node.value is not None
            names[node.id] = builder.constant(node.value, "")
        else:
            names[node.id] = _emit(builder, node, twin, names)
    outputs = []
    for node, name in zip(first.outputs, output_names, strict=True):
        builder.node("Identity", [names[node.id]], "", output=name)
        outputs.append(_value_info(name, node, twins[node.id], batch))
    graph = helper.make_graph(builder.nodes, title, inputs, outputs, builder.initializers)
    return helper.make_model(
        graph,
        producer_name="macrograd",
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
