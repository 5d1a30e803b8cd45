"""`load`: an ONNX model as a Macrograd `Model` whose forward builds the graph.

Float initializers read as differentiable inputs become parameters (blue, trainable,
under their ONNX names), statistics such as BatchNormalization's become buffers
(constants), integer initializers and constants are static values; graph inputs become
input buffers. Each call builds the graph for its input's shape, so the model runs
eagerly, under `compute_graph`, and under an optimiser like any other Model.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper, numpy_helper

from mg_graph import Graph, ShapeError, describe, named_scope, user_location
from mg_nn import Model
from mg_onnx.errors import LoadError, UnsupportedOpsError
from mg_onnx.importers import IMPORTERS, Site, Value

__all__ = ["IMPORTERS", "OnnxModel", "load"]
from mg_tensor.tensor import Tensor

DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype[Any]
    dims: tuple[int | None, ...]  # None: symbolic (the batch)

    def fits(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == len(self.dims) and all(
            d is None or d == n for d, n in zip(self.dims, shape, strict=True)
        )


@dataclass
class _Program:
    """What forward replays: the ONNX nodes, and the values that are not parameters."""

    nodes: list[onnx.NodeProto]
    inputs: list[InputSpec]
    outputs: list[str]
    opset: int
    statics: dict[str, NDArray[Any]]
    buffers: dict[str, Tensor]


def load(source: str | os.PathLike[str] | bytes | onnx.ModelProto) -> OnnxModel:
    """Open an ONNX model (a path, the file's bytes or a ModelProto) as a Model.

    >>> import numpy as np
    >>> from onnx import TensorProto, helper
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Relu", ["x"], ["y"])], "relu",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])])
    >>> load(helper.make_model(graph))(np.array([[-1.0, 2.0]], np.float32)).data
    array([[0., 2.]], dtype=float32)
    """
    if isinstance(source, onnx.ModelProto):
        return OnnxModel(source)
    try:
        if isinstance(source, bytes):
            proto = onnx.load_from_string(source)
        else:
            proto = onnx.load(os.fspath(source))
    except OSError:
        raise
    except Exception as error:  # protobuf's DecodeError: these bytes are no ONNX model
        what = "the bytes" if isinstance(source, bytes) else repr(os.fspath(source))
        raise LoadError(f"load: {what} is not an ONNX model ({error})") from None
    return OnnxModel(proto)


class OnnxModel(Model):
    """A Model built from an ONNX graph; ``named_parameters()`` gives the initializers'
    names, ``named_buffers()`` the statistics (registered buffers). Call it on arrays or
    tensors (one per ONNX input); it returns one tensor, or a tuple for several outputs."""

    def __init__(self, proto: onnx.ModelProto) -> None:
        super().__init__()
        graph = proto.graph
        missing = sorted(
            {
                _op_name(n)
                for n in graph.node
                if n.domain not in DEFAULT_DOMAINS or n.op_type not in IMPORTERS
            }
        )
        if missing:
            raise UnsupportedOpsError(missing)
        opset = next((o.version for o in proto.opset_import if o.domain in DEFAULT_DOMAINS), 1)
        arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        roles = _roles(graph, arrays)
        statics = {name: a for name, a in arrays.items() if roles.get(name, "static") == "static"}
        buffers = {
            name: self.register_buffer(name, a)
            for name, a in arrays.items()
            if roles.get(name) == "buffer"
        }
        for name, array in arrays.items():
            if roles.get(name) == "parameter":
                if hasattr(self, name):
                    raise LoadError(
                        f"load: initializer {name!r} clashes with a Model attribute; rename it"
                    )
                setattr(self, name, Tensor(array, requires_grad=True, name=name))
        inputs = [_input_spec(v) for v in graph.input if v.name not in arrays]
        outputs = [v.name for v in graph.output]
        self.program = _Program(list(graph.node), inputs, outputs, opset, statics, buffers)

    def forward(self, *inputs: Any) -> Any:
        program = self.program
        if len(inputs) != len(program.inputs):
            names = ", ".join(spec.name for spec in program.inputs)
            raise TypeError(
                f"the ONNX model takes {len(program.inputs)} inputs ({names}), got {len(inputs)}"
            )
        env: dict[str, Value | None] = {**program.statics, **program.buffers}
        env.update({name: p for name, p in self.named_parameters()})
        for spec, value in zip(program.inputs, inputs, strict=True):
            env[spec.name] = _feed(spec, value)
        for node in program.nodes:
            with _scopes(node.name):
                _run(node, env, program.opset)
        results = [_as_tensor(env[name]) for name in program.outputs]
        return results[0] if len(results) == 1 else tuple(results)


def _op_name(node: onnx.NodeProto) -> str:
    return f"{node.domain}.{node.op_type}" if node.domain not in DEFAULT_DOMAINS else node.op_type


def _roles(graph: onnx.GraphProto, arrays: dict[str, NDArray[Any]]) -> dict[str, str]:
    """parameter, buffer or static for each float initializer, from how nodes read it
    (a parameter wherever one node differentiates it)."""
    rank = {"static": 0, "buffer": 1, "parameter": 2}
    roles: dict[str, str] = {}
    for node in graph.node:
        rule = IMPORTERS[node.op_type]
        for i, name in enumerate(node.input):
            if name not in arrays or arrays[name].dtype.kind not in "fc":
                continue
            role = "static" if i in rule.static else "buffer" if i in rule.buffers else "parameter"
            if rank[role] > rank[roles.get(name, "static")]:
                roles[name] = role
    return roles


def _input_spec(value: onnx.ValueInfoProto) -> InputSpec:
    tensor = value.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
    return InputSpec(value.name, np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)), dims)


def _feed(spec: InputSpec, value: Any) -> Tensor:
    """An argument as the tensor for one graph input: arrays become input buffers."""
    shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
    if not spec.fits(shape):
        expected = tuple("batch" if d is None else d for d in spec.dims)
        raise ShapeError(
            describe(
                "OnnxModel",
                f"input {spec.name!r} has shape {shape}, the ONNX model expects {expected}",
                user_location(),
                "pass one array per ONNX input with the sizes the model was exported with",
            )
        )
    if isinstance(value, Tensor):
        return value if value.dtype == spec.dtype else value.astype(spec.dtype)
    return Tensor.input(np.asarray(value, spec.dtype), name=spec.name)


@contextlib.contextmanager
def _scopes(node_name: str) -> Iterator[None]:
    """Named scopes from a node name like ``/hidden_1/Gemm`` (exporters write them so),
    so drawn graphs group each layer's nodes again."""
    with contextlib.ExitStack() as stack:
        for part in node_name.split("/")[1:-1]:
            stack.enter_context(named_scope(part))
        yield


def _run(node: onnx.NodeProto, env: dict[str, Value | None], opset: int) -> None:
    args = [env[name] if name else None for name in node.input]
    build = IMPORTERS[node.op_type].build
    outs: list[Value]
    if all(a is None or isinstance(a, np.ndarray) for a in args):
        # static inputs only (shapes, constants): compute now, in a scratch graph
        with Graph("onnx-static").as_default():
            outs = [_as_array(v) for v in _listed(build(Site(node, args, opset)))]
    else:
        outs = _listed(build(Site(node, args, opset)))
    for name, value in zip(node.output, outs, strict=False):
        if name:
            env[name] = value


def _listed(value: Any) -> list[Value]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _as_array(value: Value) -> NDArray[Any]:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _as_tensor(value: Value | None) -> Tensor:
    assert value is not None
    return value if isinstance(value, Tensor) else Tensor(value)
