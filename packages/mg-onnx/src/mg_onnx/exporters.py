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
from mg_tensor.ops import logical as lg
from mg_tensor.ops import rearrange as re
from mg_tensor.ops import reduce as r
from mg_tensor.ops import rounding as rd
from mg_tensor.ops import scan as sc
from mg_tensor.ops import select as s
from mg_tensor.ops import shape as sh
from mg_tensor.ops import special as sp
from mg_tensor.ops import stats as st
from mg_tensor.ops import trig as tr
from mg_tensor.ops import unary as u
from mg_tensor.ops.base import TensorOp
from mg_tensor.ops.einsum import Einsum
from mg_tensor.ops.gather import OneHot, ScatterAddAlongAxis, TakeAlongAxis
from mg_tensor.ops.linalg import MatMul
from mg_tensor.ops.pad import Pad
from mg_tensor.ops.softmax import LogSoftmax, Softmax
from mg_tensor.ops.sort import Argsort
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


def chain(*steps: str | tuple[str, float]) -> Exporter:
    """Unary ops in turn on the input (cast to the node's dtype); a ``(op, k)`` step
    applies a binary op with the constant ``k``: ``log10`` is ``("Log", ("Div", ln 10))``."""

    def emit(c: Call) -> str:
        out = c.arg(0)
        for step in steps:
            if isinstance(step, tuple):
                out = c.emit(step[0], [out, c.const(step[1], c.node.dtype)])
            else:
                out = c.emit(step, [out])
        return out

    return emit


def logical(op_type: str) -> Exporter:
    """A logical op on inputs cast to bool."""

    def emit(c: Call) -> str:
        return c.emit(op_type, [c.arg(i, np.bool_) for i in range(len(c.args))])

    return emit


def bitwise(op_type: str, on_bools: str) -> Exporter:
    """A bitwise op (``on_bools`` for booleans, which ONNX's Bitwise ops do not take)."""

    def emit(c: Call) -> str:
        kind = on_bools if c.node.dtype == np.bool_ else op_type
        return c.emit(kind, [c.arg(i) for i in range(len(c.args))])

    return emit


def _reduce_bools(op_type: str) -> Exporter:
    """any/all: a max/min over the input as int32 (ONNX reduces booleans only from
    opset 20), cast back to bool."""

    def emit(c: Call) -> str:
        as_int = c.arg(0, np.int32)
        if not c.op.axes:
            return c.emit("Cast", [as_int], to=elem_type(c.node.dtype))
        out = c.emit(op_type, [as_int, c.ints(c.op.axes)], keepdims=int(c.op.keepdims))
        return c.emit("Cast", [out], to=elem_type(c.node.dtype))

    return emit


def pool(op_type: str) -> Exporter:
    """MaxPool/AveragePool; inputs that are not NCHW are reshaped to (-1, 1, H, W)."""

    def emit(c: Call) -> str:
        x = c.arg(0)
        ph, pw = c.op.padding
        attrs: dict[str, Any] = {
            "kernel_shape": list(c.op.window),
            "strides": list(c.op.stride),
            "pads": [ph, pw, ph, pw],
            "ceil_mode": int(c.op.ceil_mode),
        }
        if op_type == "AveragePool":
            attrs["count_include_pad"] = int(getattr(c.op, "count_include_pad", True))
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


def _conv_attributes(c: Call) -> dict[str, Any]:
    """Conv/ConvTranspose attributes of a convolution op (ONNX's pads: all begins, then
    all ends)."""
    (top, bottom), (left, right) = c.op.padding
    return {
        "kernel_shape": list(c.node.inputs[1].shape[2:]),
        "strides": list(c.op.stride),
        "pads": [top, left, bottom, right],
        "dilations": list(c.op.dilation),
        "group": c.op.groups,
    }


def _conv2d(c: Call) -> str:
    return c.emit("Conv", [c.arg(i) for i in range(len(c.args))], **_conv_attributes(c))


def _conv_transpose2d(c: Call) -> str:
    attrs = _conv_attributes(c)
    attrs["output_shape"] = list(c.op.size)  # with output_padding's rows no window reaches
    return c.emit("ConvTranspose", [c.arg(i) for i in range(len(c.args))], **attrs)


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


def _round(c: Call) -> str:
    if not c.op.decimals:
        return c.emit("Round", [c.arg(0)])
    scale = c.const(10.0**c.op.decimals, c.node.dtype)
    scaled = c.emit("Round", [c.emit("Mul", [c.arg(0), scale])])
    return c.emit("Div", [scaled, scale])


def _floor_divide(c: Call) -> str:
    if c.node.dtype.kind == "f":
        return c.emit("Floor", [c.emit("Div", [c.arg(0), c.arg(1)])])
    # integers: numpy floors, ONNX's Div truncates; float64 is exact for these quotients
    wide = [c.arg(i, np.float64) for i in range(2)]
    floor = c.emit("Floor", [c.emit("Div", wide)])
    return c.emit("Cast", [floor], to=elem_type(c.node.dtype))


def _remainder(c: Call) -> str:
    a, d = c.arg(0), c.arg(1)
    if c.node.dtype.kind != "f":
        return c.emit("Mod", [a, d])  # fmod=0: the sign of the divisor, as numpy
    quotient = c.emit("Floor", [c.emit("Div", [a, d])])
    return c.emit("Sub", [a, c.emit("Mul", [quotient, d])])


def _invert(c: Call) -> str:
    return c.emit("Not" if c.node.dtype == np.bool_ else "BitwiseNot", [c.arg(0)])


def _isfinite(c: Call) -> str:
    x = c.arg(0, c.node.inputs[0].dtype)
    bad = c.emit("Or", [c.emit("IsNaN", [x]), c.emit("IsInf", [x])])
    return c.emit("Not", [bad])


def _on_input(op_type: str) -> Exporter:
    def emit(c: Call) -> str:
        return c.emit(op_type, [c.arg(0, c.node.inputs[0].dtype)])

    return emit


def _pad(c: Call) -> str:
    begins, ends = zip(*c.op.widths, strict=True) if c.op.widths else ((), ())
    value = c.const(np.array(c.op.value, c.node.dtype))
    return c.emit("Pad", [c.args[0], c.ints([*begins, *ends]), value], mode="constant")


def _flip(c: Call) -> str:
    n = len(c.op.axes)
    starts, ends = c.ints([-1] * n), c.ints([INT64_MIN] * n)
    return c.emit("Slice", [c.args[0], starts, ends, c.ints(c.op.axes), c.ints([-1] * n)])


def _roll(c: Call) -> str:
    out = c.args[0]
    batch = set(batch_axes(c.node, c.twin))
    for shift, axis in zip(c.op.shifts, c.op.axes, strict=True):
        if axis in batch:
            raise c.error("it rolls the batch axis", "export with dynamic_batch=False")
        cut = c.node.shape[axis] - shift % max(c.node.shape[axis], 1)
        parts = [
            c.emit("Slice", [out, c.ints([start]), c.ints([stop]), c.ints([axis])])
            for start, stop in ((cut, INT64_MAX), (0, cut))
        ]
        out = c.emit("Concat", parts, axis=axis)
    return out if out != c.args[0] else c.emit("Identity", [out])


def _cumsum(c: Call) -> str:
    return c.emit("CumSum", [c.arg(0), c.const(np.array(c.op.axis, np.int64))])


def _argsort(c: Call) -> str:
    x, axis = c.arg(0, c.node.inputs[0].dtype), c.op.axis
    if axis in batch_axes(c.node, c.twin):  # k is the batch size: read it from the shape
        k = c.emit("Shape", [x], start=axis, end=axis + 1)
    else:
        k = c.ints([c.node.shape[axis]])
    # TopK orders equal values by index, as the stable sort; descending is its reverse
    _, order = c.builder.multi("TopK", [x, k], 2, c.scope, axis=axis, largest=0, sorted=1)
    if not c.op.descending:
        return order
    flip = [c.ints([v]) for v in (-1, INT64_MIN, axis, -1)]
    return c.emit("Slice", [order, *flip])


def _var(c: Call) -> str:
    x, axes = c.arg(0), list(c.op.axes)
    if set(axes) & set(batch_axes(c.node.inputs[0], c.twin.inputs[0])) and c.op.correction:
        raise c.error("a corrected variance over the batch axis", "use correction=0")
    count = int(np.prod([c.node.inputs[0].shape[a] for a in axes], dtype=np.int64))
    centred = c.emit("Sub", [x, c.emit("ReduceMean", [x, c.ints(axes)], keepdims=1)])
    squares = c.emit("Mul", [centred, centred])
    mean = c.emit("ReduceMean", [squares, c.ints(axes)], keepdims=int(c.op.keepdims))
    if not c.op.correction:
        return mean
    return c.emit("Mul", [mean, c.const(count / (count - c.op.correction), c.node.dtype)])


def _norm(c: Call) -> str:
    x, p = c.arg(0), c.op.p
    axes, keep = c.ints(c.op.axes), int(c.op.keepdims)
    if p == 2:
        return c.emit("ReduceL2", [x, axes], keepdims=keep)
    if p == 1:
        return c.emit("ReduceL1", [x, axes], keepdims=keep)
    magnitude = c.emit("Abs", [x])
    if p in (np.inf, -np.inf):
        return c.emit("ReduceMax" if p > 0 else "ReduceMin", [magnitude, axes], keepdims=keep)
    if p == 0:
        nonzero = c.emit(
            "Cast",
            [c.emit("Not", [c.emit("Equal", [magnitude, c.const(0, c.node.dtype)])])],
            to=elem_type(c.node.dtype),
        )
        return c.emit("ReduceSum", [nonzero, axes], keepdims=keep)
    powered = c.emit("Pow", [magnitude, c.const(p, c.node.dtype)])
    total = c.emit("ReduceSum", [powered, axes], keepdims=keep)
    return c.emit("Pow", [total, c.const(1 / p, c.node.dtype)])


def _einsum(c: Call) -> str:
    return c.emit("Einsum", [c.arg(i) for i in range(len(c.args))], equation=c.op.equation)


def _one_hot(c: Call) -> str:
    depth = c.ints([c.op.num_classes])
    values = c.const(np.array([0, 1], c.node.dtype))
    return c.emit("OneHot", [c.arg(0, np.int64), depth, values], axis=-1)


def _take_along_axis(c: Call) -> str:
    return c.emit("GatherElements", [c.args[0], c.arg(1, np.int64)], axis=c.op.axis)


def _scatter_add(c: Call) -> str:
    base, index, src = c.arg(0), c.arg(1, np.int64), c.arg(2)
    return c.emit("ScatterElements", [base, index, src], axis=c.op.axis, reduction="add")


def _clamped_log(c: Call) -> str:
    log = c.emit("Log", [c.arg(0)])
    return c.emit("Max", [log, c.const(c.op.floor, c.node.dtype)])


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
    # mg_tensor.ops: trig, special, rounding, logical
    tr.Sin: elementwise("Sin"),
    tr.Cos: elementwise("Cos"),
    tr.Tan: elementwise("Tan"),
    sp.Erf: elementwise("Erf"),
    sp.Expm1: chain("Exp", ("Sub", 1.0)),
    sp.Log1p: chain(("Add", 1.0), "Log"),
    sp.Log2: chain("Log", ("Div", float(np.log(2.0)))),
    sp.Log10: chain("Log", ("Div", float(np.log(10.0)))),
    sp.Reciprocal: elementwise("Reciprocal"),
    sp.Rsqrt: chain("Sqrt", "Reciprocal"),
    sp.Square: chain(("Pow", 2.0)),
    rd.Ceil: elementwise("Ceil"),
    rd.Floor: elementwise("Floor"),
    rd.Round: _round,
    rd.FloorDivide: _floor_divide,
    rd.Remainder: _remainder,
    lg.BitwiseAnd: bitwise("BitwiseAnd", "And"),
    lg.BitwiseOr: bitwise("BitwiseOr", "Or"),
    lg.BitwiseXor: bitwise("BitwiseXor", "Xor"),
    lg.Invert: _invert,
    lg.IsFinite: _isfinite,
    lg.IsInf: _on_input("IsInf"),
    lg.IsNan: _on_input("IsNaN"),
    lg.LogicalNot: logical("Not"),
    lg.LogicalOr: logical("Or"),
    lg.LogicalXor: logical("Xor"),
    # mg_tensor.ops: stats, scan, sort, gather, pad, rearrange, einsum
    st.Prod: reduce("ReduceProd"),
    st.LogSumExp: reduce("ReduceLogSumExp"),
    st.AnyOf: _reduce_bools("ReduceMax"),
    st.AllOf: _reduce_bools("ReduceMin"),
    st.Var: _var,
    st.VectorNorm: _norm,
    sc.Cumsum: _cumsum,
    Argsort: _argsort,
    TakeAlongAxis: _take_along_axis,
    ScatterAddAlongAxis: _scatter_add,
    OneHot: _one_hot,
    Pad: _pad,
    re.Flip: _flip,
    re.Roll: _roll,
    re.Copy: _identity,
    Einsum: _einsum,
    # mg_nn.ops
    nn.Linear: _linear,
    nn.Conv2d: _conv2d,
    nn.ConvTranspose2d: _conv_transpose2d,
    nn.MaxPool2d: pool("MaxPool"),
    nn.AvgPool2d: pool("AveragePool"),
    nn.DropoutMask: _dropout_mask,
    nn.CrossEntropy: _cross_entropy,
    nn.ClampedLog: _clamped_log,
    u.Softplus: elementwise("Softplus"),
}

NOT_EXPORTABLE: dict[type[Op], str] = {
    nn.RunningStats: "a training-mode side effect (BatchNorm's running statistics): export "
    "in evaluation mode, where BatchNorm normalises with its buffers",
    sc.Cumprod: "no ONNX operator computes a running product (exp(cumsum(log)) fails at "
    "zeros and negative values)",
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
