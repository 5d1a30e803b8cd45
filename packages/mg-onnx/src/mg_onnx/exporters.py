"""The export table: one entry per Macrograd op class, in one place.

`EXPORTERS` maps an op class to a function writing its ONNX nodes (through a `Call`);
`NOT_EXPORTABLE` maps an op class to the reason it has none (gradient-only ops: export
writes the inference graph). A new op joins one of the two; the test suite walks every
`TensorOp` subclass of mg_tensor and mg_nn and names any op that is in neither, and
checks every exporter against onnxruntime.

>>> from mg_tensor.ops.binary import Add
>>> Add in EXPORTERS
True
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import numpy_helper

from mg_graph import Alias, Op
from mg_nn import ops as nn
from mg_onnx.emitter import INT64_MAX, INT64_MIN, Call, batch_axes, elem_type
from mg_tensor.ops import binary as b
from mg_tensor.ops import index as ix
from mg_tensor.ops import reduce as r
from mg_tensor.ops import select as s
from mg_tensor.ops import shape as sh
from mg_tensor.ops import unary as u
from mg_tensor.ops.base import TensorOp
from mg_tensor.ops.linalg import MatMul
from mg_tensor.ops.softmax import LogSoftmax, Softmax
from mg_tensor.random import Random

Exporter = Callable[[Call], str]


# ------------------------------------------------------------------ exporter makers
def elementwise(op_type: str) -> Exporter:
    """An ONNX op of the same name and arity, on inputs cast to the node's dtype."""

    def emit(c: Call) -> str:
        return c.emit(op_type, [c.arg(i) for i in range(len(c.args))])

    return emit


def compare(op_type: str, negate: bool = False) -> Exporter:
    """A comparison on inputs cast to their common dtype (``Not`` after it if ``negate``)."""

    def emit(c: Call) -> str:
        common = c.common()
        out = c.emit(op_type, [c.arg(i, common) for i in range(len(c.args))])
        return c.emit("Not", [out]) if negate else out

    return emit


def reduce(op_type: str) -> Exporter:
    """A reduction over the op's ``axes`` (opset 18: axes are an input)."""

    def emit(c: Call) -> str:
        if not c.op.axes:  # numpy reduces nothing; ONNX would reduce everything
            return c.emit("Identity", [c.arg(0)])
        return c.emit(op_type, [c.arg(0), c.ints(c.op.axes)], keepdims=int(c.op.keepdims))

    return emit


def arg_reduce(op_type: str) -> Exporter:
    """ArgMax/ArgMin; ``axis=None`` is over the flattened input, as numpy."""

    def emit(c: Call) -> str:
        x = c.arg(0, c.node.inputs[0].dtype)
        if c.op.axis is not None:
            return c.emit(op_type, [x], axis=c.op.axis, keepdims=int(c.op.keepdims))
        flat = c.emit("Reshape", [x, c.ints([-1])])
        index = c.emit(op_type, [flat], axis=0, keepdims=0)
        return c.emit("Reshape", [index, c.ints(c.node.shape)])

    return emit


def pool(op_type: str) -> Exporter:
    """MaxPool/AveragePool; inputs that are not NCHW are reshaped to (-1, 1, H, W)."""

    def emit(c: Call) -> str:
        x = c.arg(0)
        attrs = {"kernel_shape": list(c.op.window), "strides": list(c.op.stride)}
        if c.node.inputs[0].ndim == 4:
            return c.emit(op_type, [x], **attrs)
        h, w = c.node.inputs[0].shape[-2:]
        pooled = c.emit(op_type, [c.emit("Reshape", [x, c.ints([-1, 1, h, w])])], **attrs)
        return c.emit("Reshape", [pooled, c.ints(c.dynamic_shape())])

    return emit


def batch_aware(exporter: Exporter) -> Exporter:
    """Mark an exporter that reads batch-dependent sizes from the node's shapes, not
    from the op's parameters (which differ between the two traces)."""
    exporter.batch_aware = True  # type: ignore[attr-defined]
    return exporter


# ------------------------------------------------------------------ one-off exporters
def _cast(c: Call) -> str:
    return c.emit("Cast", [c.args[0]], to=elem_type(c.node.dtype))


def _identity(c: Call) -> str:
    return c.emit("Identity", [c.args[0]])


def _logical_and(c: Call) -> str:
    return c.emit("And", [c.arg(0, np.bool_), c.arg(1, np.bool_)])


def _clip(c: Call) -> str:
    bounds = ["" if v is None else c.const(v, c.node.dtype) for v in (c.op.low, c.op.high)]
    return c.emit("Clip", [c.arg(0), *bounds])


def _where(c: Call) -> str:
    return c.emit("Where", [c.arg(0, np.bool_), c.arg(1), c.arg(2)])


@batch_aware
def _reshape(c: Call) -> str:
    return c.emit("Reshape", [c.args[0], c.ints(c.target_shape())])


def _transpose(c: Call) -> str:
    return c.emit("Transpose", [c.args[0]], perm=list(c.op.axes))


@batch_aware
def _broadcast_to(c: Call) -> str:
    # ONNX's Expand broadcasts both ways: a 1 keeps the input's (batch) length
    offset = c.node.ndim - c.node.inputs[0].ndim
    kept = {a + offset for a in batch_axes(c.node.inputs[0], c.twin.inputs[0])}
    if set(batch_axes(c.node, c.twin)) - kept:
        raise c.error("it broadcasts to a batch size the input does not carry")
    shape = [1 if a in kept else n for a, n in enumerate(c.node.shape)]
    return c.emit("Expand", [c.args[0], c.ints(shape)])


def _concatenate(c: Call) -> str:
    return c.emit("Concat", [c.arg(i) for i in range(len(c.args))], axis=c.op.axis)


def _along_axis(op_type: str) -> Exporter:
    def emit(c: Call) -> str:
        return c.emit(op_type, [c.args[0]], axis=c.op.axis)

    return emit


def _slices(c: Call, template: ix.Template) -> list[tuple[Any, ...]]:
    """The template with ``...`` expanded and trailing full slices added."""
    items = list(template)
    used = sum(item[0] in ("int", "slice", "array") for item in items)
    rest = [("slice", None, None, None)] * (c.node.inputs[0].ndim - used)
    if ("ellipsis",) in items:
        at = items.index(("ellipsis",))
        return items[:at] + rest + items[at + 1 :]
    return items + rest


def _index(c: Call) -> str:
    """Basic indexing: one Slice, a Squeeze for int indices, an Unsqueeze for None."""
    x, x_twin = c.node.inputs[0], c.twin.inputs[0]
    batch = set(batch_axes(x, x_twin))
    cuts: list[tuple[int, int, int, int]] = []  # (start, end, axis, step) of the Slice
    squeeze: list[int] = []
    unsqueeze: list[int] = []
    axis = position = 0
    for item in _slices(c, c.op.template):
        if item[0] == "none":
            unsqueeze.append(position)
            position += 1
        elif item[0] == "int":
            cuts.append((item[1], item[1] + 1 or INT64_MAX, axis, 1))  # -1 ends at the end
            squeeze.append(axis)
            axis += 1
        else:
            if item[1:] != (None, None, None):
                if axis in batch:
                    raise c.error("it slices the batch axis", "export with dynamic_batch=False")
                start, stop, step = slice(*item[1:]).indices(x.shape[axis])
                if step < 0 and stop < 0:  # before the first element: ONNX clamps this one
                    stop = INT64_MIN
                cuts.append((start, stop, axis, step))
            axis += 1
            position += 1
    out = c.args[0]
    if cuts:
        out = c.emit("Slice", [out, *(c.ints(column) for column in zip(*cuts, strict=True))])
    if squeeze:
        out = c.emit("Squeeze", [out, c.ints(squeeze)])
    if unsqueeze:
        out = c.emit("Unsqueeze", [out, c.ints(unsqueeze)])
    return out if out != c.args[0] else c.emit("Identity", [out])


def _gather(c: Call) -> str:
    """Integer-array indexing: one array at one axis is a Gather; arrays on the leading
    axes (``x[rows, cols]``) are a GatherND."""
    items = _slices(c, c.op.template)
    full = ("slice", None, None, None)
    where = [k for k, item in enumerate(items) if item[0] == "array"]
    others = [item for item in items if item[0] != "array"]
    contiguous = where == list(range(where[0], where[0] + len(where)))
    if any(item != full for item in others) or not contiguous:
        raise c.error(
            f"index {c.op.template} mixes arrays with other indices in a form ONNX's "
            "Gather/GatherND cannot express",
            "index with one integer array per axis on the leading axes, or one array",
        )
    indices = [c.arg(k + 1, np.int64) for k in range(len(where))]
    if len(where) == 1:
        return c.emit("Gather", [c.args[0], indices[0]], axis=where[0])
    if where[0] != 0:
        raise c.error("several index arrays after a slice", "move the indexed axes first")
    shape = np.broadcast_shapes(*(n.shape for n in c.node.inputs[1:]))
    stacked = [
        c.emit("Unsqueeze", [c.emit("Expand", [i, c.ints(shape)]), c.ints([-1])]) for i in indices
    ]
    return c.emit("GatherND", [c.args[0], c.emit("Concat", stacked, axis=-1)])


def _linear(c: Call) -> str:
    x, w, *bias = (c.arg(i) for i in range(len(c.args)))
    if c.node.inputs[0].ndim == 2:
        return c.emit("Gemm", [x, w, *bias], transB=1)
    out = c.emit("MatMul", [x, c.emit("Transpose", [w], perm=[1, 0])])
    return c.emit("Add", [out, *bias]) if bias else out


def _conv2d(c: Call) -> str:
    (ph, pw), w = c.op.padding, c.node.inputs[1]
    return c.emit(
        "Conv",
        [c.arg(i) for i in range(len(c.args))],
        kernel_shape=list(w.shape[2:]),
        strides=list(c.op.stride),
        pads=[ph, pw, ph, pw],
    )


def _dropout_mask(c: Call) -> str:
    # evaluation mode: the mask is all ones (dropout is the identity at inference)
    one = np.ones(1, c.node.dtype)
    return c.emit(
        "ConstantOfShape", [c.emit("Shape", [c.args[0]])], value=numpy_helper.from_array(one)
    )


def _cross_entropy(c: Call) -> str:
    reduction = c.op.reduction
    if c.node.inputs[1].dtype.kind in "iu":
        return c.emit(
            "SoftmaxCrossEntropyLoss", [c.arg(0), c.arg(1, np.int64)], reduction=reduction
        )
    log_p = c.emit("LogSoftmax", [c.arg(0)], axis=1)
    rows = c.emit("ReduceSum", [c.emit("Mul", [c.arg(1), log_p]), c.ints([1])], keepdims=0)
    loss = c.emit("Neg", [rows])
    if reduction == "none":
        return loss
    return c.emit("ReduceMean" if reduction == "mean" else "ReduceSum", [loss], keepdims=0)


GRADIENT_ONLY = "gradient-only: export writes the inference (forward) graph"

# ------------------------------------------------------------------ the table
EXPORTERS: dict[type[Op], Exporter] = {
    Alias: _identity,
    # mg_tensor.ops.binary
    b.Add: elementwise("Add"),
    b.Subtract: elementwise("Sub"),
    b.Multiply: elementwise("Mul"),
    b.Divide: elementwise("Div"),
    b.Power: elementwise("Pow"),
    b.Maximum: elementwise("Max"),
    b.Minimum: elementwise("Min"),
    b.Less: compare("Less"),
    b.LessEqual: compare("LessOrEqual"),
    b.Greater: compare("Greater"),
    b.GreaterEqual: compare("GreaterOrEqual"),
    b.Equal: compare("Equal"),
    b.NotEqual: compare("Equal", negate=True),
    b.LogicalAnd: _logical_and,
    # mg_tensor.ops.unary
    u.Negative: elementwise("Neg"),
    u.Exp: elementwise("Exp"),
    u.Log: elementwise("Log"),
    u.Sqrt: elementwise("Sqrt"),
    u.Sign: elementwise("Sign"),
    u.Absolute: elementwise("Abs"),
    u.Tanh: elementwise("Tanh"),
    u.Sigmoid: elementwise("Sigmoid"),
    u.Relu: elementwise("Relu"),
    u.AsType: _cast,
    u.StopGradient: _identity,
    # mg_tensor.ops.select
    s.Clip: _clip,
    s.Where: _where,
    # mg_tensor.ops.reduce
    r.Sum: reduce("ReduceSum"),
    r.Mean: reduce("ReduceMean"),
    r.Max: reduce("ReduceMax"),
    r.Min: reduce("ReduceMin"),
    r.ArgMax: arg_reduce("ArgMax"),
    r.ArgMin: arg_reduce("ArgMin"),
    # mg_tensor.ops.shape, index, linalg, softmax
    sh.Reshape: _reshape,
    sh.Transpose: _transpose,
    sh.BroadcastTo: _broadcast_to,
    sh.Concatenate: _concatenate,
    ix.Index: _index,
    ix.Gather: _gather,
    MatMul: elementwise("MatMul"),
    Softmax: _along_axis("Softmax"),
    LogSoftmax: _along_axis("LogSoftmax"),
    # mg_nn.ops
    nn.Linear: _linear,
    nn.Conv2d: _conv2d,
    nn.MaxPool2d: pool("MaxPool"),
    nn.AvgPool2d: pool("AveragePool"),
    nn.DropoutMask: _dropout_mask,
    nn.CrossEntropy: _cross_entropy,
    nn.Softplus: elementwise("Softplus"),
}

NOT_EXPORTABLE: dict[type[Op], str] = {
    Random: "a random draw: the inference graph is deterministic (dropout is not traced in "
    "evaluation mode); draw the values outside and pass them as an input",
    ix.ScatterAdd: GRADIENT_ONLY,
    nn.Conv2dInputGrad: GRADIENT_ONLY,
    nn.Conv2dWeightGrad: GRADIENT_ONLY,
    nn.MaxPool2dGrad: GRADIENT_ONLY,
    nn.MaxPool2dPick: GRADIENT_ONLY,
    nn.AvgPool2dGrad: GRADIENT_ONLY,
    nn.CrossEntropyGrad: GRADIENT_ONLY,
}


def op_classes() -> list[type[TensorOp]]:
    """Every concrete op class of mg_tensor and mg_nn (one that names itself), after
    importing all their modules, so ops added in new files are found too.

    >>> from mg_tensor.ops.binary import Add
    >>> Add in op_classes()
    True
    """
    import mg_nn
    import mg_tensor

    for package in (mg_tensor, mg_nn):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)
    found: list[type[TensorOp]] = []
    stack: list[type[TensorOp]] = [TensorOp]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            own = "name" in vars(sub) and sub.__module__.split(".")[0] in ("mg_tensor", "mg_nn")
            if own and sub not in found:
                found.append(sub)
    return sorted(found, key=lambda cls: (cls.__module__, cls.__name__))
