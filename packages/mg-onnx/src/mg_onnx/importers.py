"""The import table: one rule per ONNX op type, building Macrograd tensor ops.

A value is a `Tensor` (computed by the graph) or a numpy array (static: integer
initializers, constants, shapes and what is computed from them alone). A rule names its
``static`` inputs (shapes, axes, bounds: read as arrays) and its ``buffers`` (statistics
such as BatchNormalization's mean and variance); every other float initializer it reads
becomes a trainable parameter. `load` runs a node whose inputs are all static at load
time, with the same rule, so ``Reshape(x, Concat(Gather(Shape(x), 0), [-1]))`` gives a
plain reshape.

>>> sorted(IMPORTERS)[:4]
['Abs', 'Add', 'And', 'ArgMax']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import helper, numpy_helper

from mg_nn import functional as F
from mg_onnx.errors import LoadError
from mg_tensor import ops as t
from mg_tensor.ops.binary import LogicalAnd
from mg_tensor.ops.core import apply
from mg_tensor.ops.unary import Sign
from mg_tensor.tensor import Tensor

Value = Tensor | NDArray[Any]


@dataclass
class Site:
    """One ONNX node being built: its inputs (None where omitted) and attributes."""

    node: onnx.NodeProto
    args: list[Value | None]
    opset: int

    def attr(self, name: str, default: Any = None) -> Any:
        for a in self.node.attribute:
            if a.name == name:
                value = helper.get_attribute_value(a)
                if isinstance(value, onnx.TensorProto):
                    return numpy_helper.to_array(value)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def x(self, i: int) -> Value:
        value = self.args[i] if i < len(self.args) else None
        if value is None:
            raise self.error(f"input {i} is missing")
        return value

    def given(self, i: int) -> bool:
        return i < len(self.args) and self.args[i] is not None

    def static(self, i: int) -> NDArray[Any]:
        value = self.x(i)
        if isinstance(value, Tensor):
            raise self.error(
                f"input {i} ({self.node.input[i]}) must be known when the graph is built",
                "compute it from shapes and constants only",
            )
        return value

    def ints(self, i: int, attr: str) -> list[int] | None:
        """An int list given as input ``i`` (new opsets) or attribute ``attr`` (old)."""
        if self.given(i):
            return [int(v) for v in self.static(i).reshape(-1)]
        value = self.attr(attr)
        return None if value is None else [int(v) for v in value]

    def error(self, problem: str, fix: str | None = None) -> LoadError:
        text = f"load: {self.node.op_type} node {self.node.name!r}: {problem}"
        return LoadError(text + (f"\n  fix: {fix}" if fix else ""))

    def refuse(self, attr: str, allowed: Any) -> None:
        """A LoadError if attribute ``attr`` is set to anything but ``allowed``."""
        value = self.attr(attr, allowed)
        if (list(value) if isinstance(value, list | tuple) else value) != allowed:
            raise self.error(f"{attr}={value!r} is not supported (only {allowed!r})")


Build = Callable[[Site], Value | Sequence[Value]]


@dataclass(frozen=True)
class Rule:
    build: Build
    static: tuple[int, ...] = ()
    buffers: tuple[int, ...] = ()


IMPORTERS: dict[str, Rule] = {}


def rule(
    *op_types: str, static: tuple[int, ...] = (), buffers: tuple[int, ...] = ()
) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        for op_type in op_types:
            IMPORTERS[op_type] = Rule(build, static, buffers)
        return build

    return register


def _tensor(value: Value) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(value)


def _same(name: str, fn: Callable[..., Value]) -> None:
    """An ONNX op that is exactly a Macrograd function of the same inputs."""
    rule(name)(lambda s: fn(*(s.x(i) for i in range(len(s.args)))))


# ------------------------------------------------------------------ elementwise
_SAME: dict[str, Callable[..., Value]] = {
    "Add": t.add,
    "Sub": t.subtract,
    "Mul": t.multiply,
    "Less": t.less,
    "LessOrEqual": t.less_equal,
    "Greater": t.greater,
    "GreaterOrEqual": t.greater_equal,
    "Equal": t.equal,
    "Neg": t.negative,
    "Exp": t.exp,
    "Log": t.log,
    "Sqrt": t.sqrt,
    "Abs": t.absolute,
    "Tanh": t.tanh,
    "Sigmoid": t.sigmoid,
    "Relu": t.relu,
    "Softplus": F.softplus,
    "MatMul": t.matmul,
    "Where": t.where,
    "Sin": t.sin,
    "Cos": t.cos,
    "Tan": t.tan,
    "Erf": t.erf,
    "Reciprocal": t.reciprocal,
    "Ceil": t.ceil,
    "Floor": t.floor,
    "Round": t.round,
    "Or": t.logical_or,
    "Xor": t.logical_xor,
    "BitwiseAnd": t.bitwise_and,
    "BitwiseOr": t.bitwise_or,
    "BitwiseXor": t.bitwise_xor,
    "BitwiseNot": t.invert,
    "IsNaN": t.isnan,
}
for _name, _fn in _SAME.items():
    _same(_name, _fn)


@rule("Div")
def _div(s: Site) -> Value:
    a, b = s.x(0), s.x(1)
    out = t.divide(a, b)
    return out.astype(a.dtype) if a.dtype.kind in "iu" else out  # ONNX truncates integers


@rule("Pow")
def _pow(s: Site) -> Value:
    a = s.x(0)
    return t.power(a, _tensor(s.x(1)).astype(a.dtype))  # the base's dtype, as ONNX


@rule("Max", "Min", "Sum")
def _variadic(s: Site) -> Value:
    fn = {"Max": t.maximum, "Min": t.minimum, "Sum": t.add}[s.node.op_type]
    return functools.reduce(fn, (s.x(i) for i in range(len(s.args))))


@rule("Sign")
def _sign(s: Site) -> Value:
    return apply(Sign(), s.x(0))


@rule("And")
def _and(s: Site) -> Value:
    return apply(LogicalAnd(), s.x(0), s.x(1))


@rule("Not")
def _not(s: Site) -> Value:
    return t.equal(s.x(0), False)


@rule("Identity")
def _identity(s: Site) -> Value:
    return s.x(0)


@rule("Dropout")
def _dropout(s: Site) -> Value | list[Value]:
    if s.attr("training_mode") or (s.given(2) and bool(s.static(2))):
        raise s.error("training_mode is not supported", "export the model in evaluation mode")
    x = s.x(0)
    return [x, np.ones(x.shape, np.bool_)]


@rule("Cast")
def _cast(s: Site) -> Value:
    return t.astype(s.x(0), helper.tensor_dtype_to_np_dtype(s.attr("to")))


@rule("Clip", static=(1, 2))
def _clip(s: Site) -> Value:
    low, high = (
        (s.static(i).item() if s.given(i) else None for i in (1, 2))
        if s.opset >= 11
        else (s.attr("min"), s.attr("max"))
    )
    return t.clip(s.x(0), low, high)


# ------------------------------------------------------------------ constants and shapes
@rule("Constant")
def _constant(s: Site) -> Value:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        value = s.attr(key)
        if value is not None:
            dtype = np.float32 if "float" in key else np.int64 if "int" in key else None
            return np.asarray(value, dtype)
    raise s.error("only tensor, float and int constants are supported")


@rule("ConstantOfShape", static=(0,))
def _constant_of_shape(s: Site) -> Value:
    value = s.attr("value", np.zeros(1, np.float32))
    return np.full(tuple(int(n) for n in s.static(0)), value.reshape(-1)[0], value.dtype)


@rule("Shape")
def _shape(s: Site) -> Value:
    shape = np.array(s.x(0).shape, np.int64)
    return shape[s.attr("start", 0) : s.attr("end", len(shape))]


@rule("Reshape", static=(1,))
def _reshape(s: Site) -> Value:
    x, shape = s.x(0), [int(n) for n in s.static(1)]
    if not s.attr("allowzero", 0):  # 0 copies the input's length
        shape = [x.shape[a] if n == 0 else n for a, n in enumerate(shape)]
    return t.reshape(x, shape)


@rule("Flatten")
def _flatten(s: Site) -> Value:
    x = s.x(0)
    axis = s.attr("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    lead = int(np.prod(x.shape[:axis], dtype=np.int64))
    return t.reshape(x, (lead, int(np.prod(x.shape[axis:], dtype=np.int64))))


@rule("Squeeze", static=(1,))
def _squeeze(s: Site) -> Value:
    axes = s.ints(1, "axes")
    return t.squeeze(s.x(0), None if axes is None else tuple(axes))


@rule("Unsqueeze", static=(1,))
def _unsqueeze(s: Site) -> Value:
    x, axes = s.x(0), s.ints(1, "axes") or []
    rank = x.ndim + len(axes)
    shape = list(x.shape)
    for a in sorted(a % rank for a in axes):
        shape.insert(a, 1)
    return t.reshape(x, tuple(shape))


@rule("Transpose")
def _transpose(s: Site) -> Value:
    perm = s.attr("perm")
    return t.transpose(s.x(0), None if perm is None else [int(a) for a in perm])


@rule("Expand", static=(1,))
def _expand(s: Site) -> Value:
    x = s.x(0)
    return t.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(int(n) for n in s.static(1))))


@rule("Concat")
def _concat(s: Site) -> Value:
    parts = [s.x(i) for i in range(len(s.args))]
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts, axis=s.attr("axis"))
    return t.concatenate(parts, axis=s.attr("axis"))


@rule("Slice", static=(1, 2, 3, 4))
def _slice(s: Site) -> Value:
    x = s.x(0)
    starts, ends = s.ints(1, "starts") or [], s.ints(2, "ends") or []
    axes = s.ints(3, "axes") or list(range(len(starts)))
    steps = s.ints(4, "steps") or [1] * len(starts)
    index: list[slice] = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[axis % x.ndim] = slice(start, end, step)
    return t.getitem(x, tuple(index))


@rule("Gather")
def _gather(s: Site) -> Value:
    x, indices = s.x(0), s.x(1)
    axis = s.attr("axis", 0) % x.ndim
    if isinstance(x, np.ndarray) and isinstance(indices, np.ndarray):
        return np.take(x, indices, axis=axis)
    return t.getitem(x, (slice(None),) * axis + (indices,))


@rule("GatherND")
def _gather_nd(s: Site) -> Value:
    s.refuse("batch_dims", 0)
    x, indices = s.x(0), s.x(1)
    depth = indices.shape[-1]
    columns = tuple(indices[..., k] for k in range(depth))
    return t.getitem(x, columns)


# ------------------------------------------------------------------ reductions
def _axes(s: Site) -> tuple[int, ...] | None:
    """Reduction axes: an input (opset 13/18 on) or an attribute; none means all axes,
    unless ``noop_with_empty_axes`` says none means none."""
    axes = s.ints(1, "axes")
    if axes:
        return tuple(axes)
    return () if s.attr("noop_with_empty_axes", 0) else None


for _name, _fn in {
    "ReduceSum": t.sum,
    "ReduceMean": t.mean,
    "ReduceMax": t.max,
    "ReduceMin": t.min,
    "ReduceProd": t.prod,
    "ReduceLogSumExp": t.logsumexp,
    "ReduceL1": lambda x, axes, keepdims: t.norm(x, 1, axes, keepdims),
    "ReduceL2": lambda x, axes, keepdims: t.norm(x, 2, axes, keepdims),
}.items():

    def _reduce(s: Site, fn: Any = _fn) -> Value:
        axes = _axes(s)
        x = s.x(0)
        return x if axes == () else fn(x, axes, keepdims=bool(s.attr("keepdims", 1)))

    rule(_name, static=(1,))(_reduce)


@rule("ArgMax", "ArgMin")
def _arg(s: Site) -> Value:
    s.refuse("select_last_index", 0)
    fn = t.argmax if s.node.op_type == "ArgMax" else t.argmin
    return fn(s.x(0), s.attr("axis", 0), keepdims=bool(s.attr("keepdims", 1))).astype(np.int64)


@rule("Softmax", "LogSoftmax")
def _softmax(s: Site) -> Value:
    fn = t.softmax if s.node.op_type == "Softmax" else t.log_softmax
    x = s.x(0)
    if s.opset >= 13:
        return fn(x, s.attr("axis", -1))
    axis = s.attr("axis", 1) % x.ndim  # before opset 13: over the axes from ``axis`` on
    flat = t.reshape(x, (int(np.prod(x.shape[:axis], dtype=np.int64)), -1))
    return t.reshape(fn(flat, 1), x.shape)


# ------------------------------------------------------------------ layers
@rule("Gemm")
def _gemm(s: Site) -> Value:
    a, b = s.x(0), s.x(1)
    alpha, beta = s.attr("alpha", 1.0), s.attr("beta", 1.0)
    c = s.x(2) if s.given(2) else None
    trans_a, trans_b = s.attr("transA", 0), s.attr("transB", 0)
    if trans_b and not trans_a and alpha == beta == 1.0 and (c is None or c.ndim == 1):
        return F.linear(a, b, c)  # PyTorch's layout: weight (out, in)
    y = t.matmul(t.transpose(a) if trans_a else a, t.transpose(b) if trans_b else b)
    y = y * alpha if alpha != 1.0 else y
    return y if c is None else y + (c * beta if beta != 1.0 else c)


def _symmetric(s: Site, rank: int) -> tuple[int, int]:
    if s.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise s.error(f"auto_pad={s.attr('auto_pad')!r} is not supported", "give explicit pads")
    pads = s.attr("pads", [0] * 2 * rank)
    if list(pads[:rank]) != list(pads[rank:]):
        raise s.error(f"asymmetric pads {list(pads)} are not supported", "pad the input first")
    return int(pads[0]), int(pads[1])


def _conv_settings(s: Site) -> dict[str, Any]:
    x = s.x(0)
    if x.ndim != 4:
        raise s.error(f"only 2-d convolutions (4-d input) are supported, got {x.ndim}-d")
    return {
        "stride": tuple(s.attr("strides", [1, 1])),
        "padding": _symmetric(s, 2),
        "dilation": tuple(s.attr("dilations", [1, 1])),
        "groups": int(s.attr("group", 1)),
    }


@rule("Conv")
def _conv(s: Site) -> Value:
    return F.conv2d(s.x(0), s.x(1), s.x(2) if s.given(2) else None, **_conv_settings(s))


@rule("ConvTranspose")
def _conv_transpose(s: Site) -> Value:
    settings = _conv_settings(s)
    x, w = s.x(0), s.x(1)
    extra = list(s.attr("output_padding", [0, 0]))
    shape = s.attr("output_shape")
    if shape is not None:  # the rows no window reaches, as output_padding
        for i in range(2):
            stride, pad, spread = (
                settings["stride"][i],
                settings["padding"][i],
                settings["dilation"][i],
            )
            reach = (x.shape[2 + i] - 1) * stride - 2 * pad + spread * (w.shape[2 + i] - 1) + 1
            extra[i] = int(shape[-2 + i]) - reach
    return F.conv_transpose2d(
        x, w, s.x(2) if s.given(2) else None, output_padding=tuple(extra), **settings
    )


@rule("MaxPool", "AveragePool")
def _pool(s: Site) -> Value:
    if len(s.node.output) > 1 and s.node.output[1]:
        raise s.error("the Indices output is not supported")
    s.refuse("dilations", [1, 1])
    kernel = tuple(s.attr("kernel_shape"))
    stride = tuple(s.attr("strides", [1, 1]))
    padding, ceil = _symmetric(s, 2), bool(s.attr("ceil_mode", 0))
    if s.node.op_type == "MaxPool":
        return F.max_pool2d(s.x(0), kernel, stride, padding, ceil_mode=ceil)
    include = bool(s.attr("count_include_pad", 0))  # ONNX's default is 0, PyTorch's 1
    return F.avg_pool2d(s.x(0), kernel, stride, padding, ceil, count_include_pad=include)


@rule("BatchNormalization", buffers=(3, 4))
def _batch_norm(s: Site) -> Value:
    s.refuse("training_mode", 0)
    x = s.x(0)
    channels = (1, -1) + (1,) * (x.ndim - 2)
    scale, bias, mean, var = (t.reshape(s.x(i), channels) for i in range(1, 5))
    return (x - mean) / t.sqrt(var + s.attr("epsilon", 1e-5)) * scale + bias


@rule("SoftmaxCrossEntropyLoss")
def _softmax_cross_entropy(s: Site) -> Value | list[Value]:
    if s.given(2) or s.attr("ignore_index") is not None:
        raise s.error("class weights and ignore_index are not supported")
    x, target = s.x(0), s.x(1)
    loss = F.cross_entropy(x, target, reduction=s.attr("reduction", "mean"))
    return [loss, t.log_softmax(x, 1)] if len(s.node.output) > 1 else loss


# ------------------------------------------------------------------ the breadth ops
@rule("IsInf")
def _isinf(s: Site) -> Value:
    s.refuse("detect_negative", 1)
    s.refuse("detect_positive", 1)
    return t.isinf(s.x(0))


@rule("Mod")
def _mod(s: Site) -> Value:
    s.refuse("fmod", 0)  # numpy's remainder: the sign of the divisor
    return t.remainder(s.x(0), s.x(1))


@rule("CumSum", static=(1,))
def _cumsum(s: Site) -> Value:
    s.refuse("exclusive", 0)
    s.refuse("reverse", 0)
    return t.cumsum(s.x(0), int(s.static(1)))


@rule("Pad", static=(1, 2, 3))
def _pad(s: Site) -> Value:
    s.refuse("mode", "constant")
    x = s.x(0)
    pads = s.ints(1, "pads") or []
    axes = s.ints(3, "axes") or list(range(x.ndim))
    widths = [(0, 0)] * x.ndim
    for k, axis in enumerate(axes):
        widths[axis % x.ndim] = (pads[k], pads[k + len(axes)])
    value = s.static(2).item() if s.given(2) else s.attr("value", 0.0)
    return t.pad(x, widths, constant_values=value)


@rule("OneHot", static=(1, 2))
def _one_hot(s: Site) -> Value:
    s.refuse("axis", -1)
    off, on = s.static(2).reshape(-1)
    hot = t.equal(t.one_hot(s.x(0), int(s.static(1).reshape(-1)[0])), 1)
    return t.where(hot, on, off)


@rule("GatherElements")
def _gather_elements(s: Site) -> Value:
    return t.take_along_axis(s.x(0), s.x(1), s.attr("axis", 0))


@rule("ScatterElements")
def _scatter_elements(s: Site) -> Value:
    s.refuse("reduction", "add")
    return t.scatter_add(s.x(0), s.attr("axis", 0), s.x(1), s.x(2))


@rule("TopK", static=(1,))
def _top_k(s: Site) -> list[Value]:
    x, k = s.x(0), int(s.static(1).reshape(-1)[0])
    axis = s.attr("axis", -1) % x.ndim
    order = t.argsort(x, axis, descending=bool(s.attr("largest", 1)))
    indices = t.getitem(order, (slice(None),) * axis + (slice(0, k),))
    return [t.take_along_axis(x, indices, axis), indices.astype(np.int64)]


@rule("Einsum")
def _einsum(s: Site) -> Value:
    return t.einsum(s.attr("equation"), *(s.x(i) for i in range(len(s.args))))
