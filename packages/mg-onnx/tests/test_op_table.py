"""Every op class is either exported (and checked against onnxruntime) or listed as not
exportable with its reason. A new op (in a new file too) that is in neither table fails
`test_every_op_class_is_in_a_table` by name; an exporter without a sample here fails
`test_every_exporter_has_a_sample`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from onnx_support import assert_close, run

from mg_graph import Alias
from mg_nn import F, Linear, Model
from mg_nn import ops as nn
from mg_onnx import EXPORTERS, NOT_EXPORTABLE, export, load, op_classes
from mg_tensor import Tensor, compute_graph
from mg_tensor import ops as t
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
from mg_tensor.ops.core import apply
from mg_tensor.ops.einsum import Einsum
from mg_tensor.ops.gather import OneHot, ScatterAddAlongAxis, TakeAlongAxis
from mg_tensor.ops.linalg import MatMul
from mg_tensor.ops.pad import Pad
from mg_tensor.ops.softmax import LogSoftmax, Softmax
from mg_tensor.ops.sort import Argsort

rng = np.random.default_rng(0)
X = rng.standard_normal((4, 6)).astype(np.float32)
Y = rng.standard_normal((4, 6)).astype(np.float32)
X3 = rng.standard_normal((4, 2, 6)).astype(np.float32)
ROW = rng.standard_normal((1, 6)).astype(np.float32)
IMAGES = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
W = rng.standard_normal((6, 5)).astype(np.float32)
LABELS = np.array([0, 3, 5, 1])
IDS = np.array([[1, 0, 3], [2, 2, 4], [0, 1, 1], [4, 3, 2]])


@dataclass
class Sample:
    op: type
    fn: Callable[..., Any]
    inputs: tuple[Any, ...]
    label: str = ""


class _Dropped(Model):
    """A layer owning a dropout mask: evaluation mode makes the mask ones."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = Linear(6, 6, generator=0)

    def forward(self, x: Tensor) -> Tensor:
        y = self.linear(x)
        return y * apply(nn.DropoutMask(0.5, owner=self), y)


def _weights() -> Tensor:
    return Tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True, name="table")


TABLE = _weights()

SAMPLES = [
    Sample(Alias, lambda x: (x.exp(), x.exp()), (X,), "duplicate outputs"),
    Sample(b.Add, lambda x: x + ROW, (X,)),
    Sample(b.Subtract, lambda x, y: x - y, (X, Y)),
    Sample(b.Multiply, lambda x: x * 3, (X,)),
    Sample(b.Divide, lambda x, y: x / (y * y + 1), (X, Y)),
    Sample(b.Divide, lambda i: i / 2, (IDS,), "int / int is float"),
    Sample(b.Power, lambda x: (x * x + 0.5) ** ROW, (X,)),
    Sample(b.Maximum, lambda x, y: t.maximum(x, y), (X, Y)),
    Sample(b.Minimum, lambda x: t.minimum(x, 0.25), (X,)),
    Sample(b.Less, lambda x, y: x < y, (X, Y)),
    Sample(b.LessEqual, lambda x: x <= 0.1, (X,)),
    Sample(b.Greater, lambda x, y: x > y, (X, Y)),
    Sample(b.GreaterEqual, lambda i: i >= 2, (IDS,)),
    Sample(b.Equal, lambda i: t.equal(i, 2), (IDS,)),
    Sample(b.NotEqual, lambda i: t.not_equal(i, 2), (IDS,)),
    Sample(b.LogicalAnd, lambda x, y: apply(b.LogicalAnd(), x > 0, y > 0), (X, Y)),
    Sample(u.Negative, lambda x: -x, (X,)),
    Sample(u.Exp, lambda x: x.exp(), (X,)),
    Sample(u.Log, lambda x: (x * x + 1).log(), (X,)),
    Sample(u.Sqrt, lambda x: (x * x).sqrt(), (X,)),
    Sample(u.Sign, lambda x: apply(u.Sign(), x), (X,)),
    Sample(u.Absolute, lambda x: t.absolute(x), (X,)),
    Sample(u.Tanh, lambda x: x.tanh(), (X,)),
    Sample(u.Sigmoid, lambda x: x.sigmoid(), (X,)),
    Sample(u.Relu, lambda x: x.relu(), (X,)),
    Sample(u.AsType, lambda x: (x * 4).astype(np.int32), (X,)),
    Sample(u.AsType, lambda i: i.astype(np.float32) * 0.5, (IDS,), "int to float"),
    Sample(u.StopGradient, lambda x: t.stop_gradient(x) * 2, (X,)),
    Sample(s.Clip, lambda x: t.clip(x, -0.5, 0.5), (X,)),
    Sample(s.Clip, lambda x: t.clip(x, None, 0.2), (X,), "upper bound only"),
    Sample(s.Where, lambda x, y: t.where(x > 0, x, y), (X, Y)),
    Sample(r.Sum, lambda x: x.sum(axis=1), (X,)),
    Sample(r.Sum, lambda i: i.sum(axis=1, keepdims=True), (IDS,), "ints, keepdims"),
    Sample(r.Mean, lambda x: x.mean(axis=1, keepdims=True), (X,)),
    Sample(r.Max, lambda x: x.max(axis=1), (X,)),
    Sample(r.Min, lambda x: t.min(x, axis=1, keepdims=True), (X,)),
    Sample(r.ArgMax, lambda x: t.argmax(x, axis=1), (X,)),
    Sample(r.ArgMin, lambda x: t.argmin(x, axis=1, keepdims=True), (X,)),
    Sample(sh.Reshape, lambda x: x.reshape((x.shape[0], 2, 3)), (X,)),
    Sample(sh.Reshape, lambda x: x.reshape((-1,)), (X,), "batch merged"),
    Sample(
        sh.Reshape,
        lambda x: (x[:, None, :] * x[None, :, :]).reshape((x.shape[0], -1)),
        (X,),
        "batch in two axes",
    ),
    Sample(sh.Transpose, lambda x: x.reshape((x.shape[0], 2, 3)).transpose((0, 2, 1)), (X,)),
    Sample(sh.BroadcastTo, lambda x: t.broadcast_to(x[:, None, :], (x.shape[0], 3, 6)), (X,)),
    Sample(sh.Concatenate, lambda x, y: t.concatenate([x, y], axis=1), (X, Y)),
    Sample(ix.Index, lambda x: x[:, 1:5:2], (X,)),
    Sample(ix.Index, lambda x: x[:, -1], (X,), "int index"),
    Sample(ix.Index, lambda x: x[..., None, ::-1], (X,), "None and reversed"),
    Sample(ix.Gather, lambda x: x[:, np.array([4, 0, 4])], (X,), "constant indices"),
    Sample(ix.Gather, lambda i: F.embedding(i, TABLE), (IDS,), "embedding"),
    Sample(ix.Gather, lambda x: x[np.array([0, 0]), np.array([1, 5])], (X,), "pairs"),
    Sample(MatMul, lambda x: x @ W, (X,)),
    Sample(Softmax, lambda x: t.softmax(x, axis=1), (X,)),
    Sample(Softmax, lambda x: x.exp() / x.exp().sum(axis=1, keepdims=True), (X,), "naive"),
    Sample(LogSoftmax, lambda x: t.log_softmax(x, axis=1), (X,)),
    Sample(LogSoftmax, lambda x: (x.exp() / x.exp().sum(1, keepdims=True)).log(), (X,), "naive"),
    Sample(tr.Sin, lambda x: t.sin(x), (X,)),
    Sample(tr.Cos, lambda x: t.cos(x), (X,)),
    Sample(tr.Tan, lambda x: t.tan(x * 0.5), (X,)),
    Sample(sp.Erf, lambda x: t.erf(x), (X,)),
    Sample(sp.Expm1, lambda x: t.expm1(x), (X,)),
    Sample(sp.Log1p, lambda x: t.log1p(x * x), (X,)),
    Sample(sp.Log2, lambda x: t.log2(x * x + 0.5), (X,)),
    Sample(sp.Log10, lambda x: t.log10(x * x + 0.5), (X,)),
    Sample(sp.Reciprocal, lambda x: t.reciprocal(x * x + 0.5), (X,)),
    Sample(sp.Rsqrt, lambda x: t.rsqrt(x * x + 0.5), (X,)),
    Sample(sp.Square, lambda x: t.square(x), (X,)),
    Sample(rd.Ceil, lambda x: t.ceil(x * 3), (X,)),
    Sample(rd.Floor, lambda x: t.floor(x * 3), (X,)),
    Sample(rd.Round, lambda x: t.round(x * 3), (X,)),
    Sample(rd.Round, lambda x: t.round(x, 2), (X,), "decimals"),
    Sample(rd.FloorDivide, lambda x, y: t.floor_divide(x, y * y + 0.5), (X, Y)),
    Sample(rd.FloorDivide, lambda i: t.floor_divide(i - 2, 3), (IDS,), "ints"),
    Sample(rd.Remainder, lambda x: t.remainder(x * 3, 0.7), (X,)),
    Sample(rd.Remainder, lambda i: t.remainder(i - 2, 3), (IDS,), "ints"),
    Sample(lg.BitwiseAnd, lambda i: t.bitwise_and(i, 6), (IDS,)),
    Sample(lg.BitwiseOr, lambda i: t.bitwise_or(i, 8), (IDS,)),
    Sample(lg.BitwiseXor, lambda x, y: t.bitwise_xor(x > 0, y > 0), (X, Y), "bools"),
    Sample(lg.Invert, lambda i: t.invert(i), (IDS,)),
    Sample(lg.Invert, lambda x: t.invert(x > 0), (X,), "bools"),
    Sample(lg.IsFinite, lambda x: t.isfinite(t.log(x)), (X,)),
    Sample(lg.IsInf, lambda x: t.isinf(1 / (x * 0)), (X,)),
    Sample(lg.IsNan, lambda x: t.isnan(t.sqrt(x)), (X,)),
    Sample(lg.LogicalNot, lambda x: t.logical_not(x > 0), (X,)),
    Sample(lg.LogicalOr, lambda x, y: t.logical_or(x > 0, y), (X, Y)),
    Sample(lg.LogicalXor, lambda x, y: t.logical_xor(x > 0, y > 0), (X, Y)),
    Sample(st.Prod, lambda x: t.prod(x, axis=1), (X,)),
    Sample(st.LogSumExp, lambda x: t.logsumexp(x * 10, axis=1, keepdims=True), (X,)),
    Sample(st.AnyOf, lambda x: t.any(x > 1, axis=1), (X,)),
    Sample(st.AllOf, lambda x: t.all(x > -1, axis=(0, 1)), (X,)),
    Sample(st.Var, lambda x: t.var(x, axis=1, correction=1), (X,)),
    Sample(st.Var, lambda x: t.var(x, axis=0, keepdims=True), (X,), "over the batch"),
    Sample(st.VectorNorm, lambda x: t.norm(x, axis=1), (X,)),
    Sample(st.VectorNorm, lambda x: t.norm(x, 1, axis=1), (X,), "p=1"),
    Sample(st.VectorNorm, lambda x: t.norm(x, np.inf, axis=1), (X,), "p=inf"),
    Sample(st.VectorNorm, lambda x: t.norm(x, 3, axis=1, keepdims=True), (X,), "p=3"),
    Sample(st.VectorNorm, lambda x: t.norm(t.relu(x), 0, axis=1), (X,), "p=0"),
    Sample(sc.Cumsum, lambda x: t.cumsum(x, 1), (X,)),
    Sample(Argsort, lambda x: t.argsort(x, 1), (X,)),
    Sample(Argsort, lambda x: t.argsort(x, 0, descending=True), (X,), "descending, batch axis"),
    Sample(TakeAlongAxis, lambda x: t.take_along_axis(x, t.argsort(x, 1), 1), (X,)),
    Sample(ScatterAddAlongAxis, lambda x, i: t.scatter_add(x, 1, i % 6, x[:, :3]), (X, IDS)),
    Sample(OneHot, lambda i: t.one_hot(i, 6), (IDS,)),
    Sample(Pad, lambda x: t.pad(x, ((0, 0), (2, 1)), constant_values=0.5), (X,)),
    Sample(re.Flip, lambda x: t.flip(x, 1), (X,)),
    Sample(re.Roll, lambda x: t.roll(x, 2, 1), (X,)),
    Sample(re.Copy, lambda x: t.copy(x) * 2, (X,)),
    Sample(Einsum, lambda x, y: t.einsum("bi,bj->bij", x, y), (X, Y)),
    Sample(nn.Linear, Linear(6, 3, generator=0), (X,)),
    Sample(nn.Linear, Linear(6, 3, generator=0), (X3,), "3-d input"),
    Sample(
        nn.Conv2d, lambda x: F.conv2d(x, W.reshape(3, 2, 5, 1)[:, :, :3], None, 2, 1), (IMAGES,)
    ),
    Sample(
        nn.Conv2d,
        lambda x: F.conv2d(x, W.reshape(3, 2, 5, 1)[:2, :1, :3], None, 1, "same", 2, 2),
        (IMAGES,),
        "same padding, dilation, groups",
    ),
    Sample(
        nn.ConvTranspose2d,
        lambda x: F.conv_transpose2d(x, W.reshape(2, 3, 5, 1)[:, :, :3], None, 2, 1, 1),
        (IMAGES,),
    ),
    Sample(nn.MaxPool2d, lambda x: F.max_pool2d(x, 2), (IMAGES,)),
    Sample(
        nn.MaxPool2d,
        lambda x: F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True),
        (IMAGES,),
        "padding, ceil_mode",
    ),
    Sample(
        nn.AvgPool2d,
        lambda x: F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False),
        (IMAGES,),
        "padding",
    ),
    Sample(nn.MaxPool2d, lambda x: F.max_pool2d(x[:, 0], (3, 2), 1), (IMAGES,), "3-d"),
    Sample(nn.AvgPool2d, lambda x: F.avg_pool2d(x, 3, 2), (IMAGES,)),
    Sample(nn.DropoutMask, _Dropped(), (X,), "the identity in evaluation mode"),
    Sample(nn.CrossEntropy, lambda x, y: F.cross_entropy(x, y), (X, LABELS), "class indices"),
    Sample(
        nn.CrossEntropy,
        lambda x, y: F.cross_entropy(x, t.softmax(y, 1), reduction="none"),
        (X, Y),
        "p",
    ),
    Sample(u.Softplus, lambda x: F.softplus(x * 10), (X,)),
    Sample(nn.ClampedLog, lambda x: apply(nn.ClampedLog(-5.0), t.relu(x)), (X,)),
]


def _ops_in(fn: Callable[..., Any], inputs: tuple[Any, ...]) -> set[type]:
    traced = compute_graph(fn)
    traced(*inputs)
    return {type(n.op) for n in traced.graph.nodes if n.op is not None}


def _values(result: Any) -> list[Any]:
    items = result if isinstance(result, tuple | list) else (result,)
    return [item.data for item in items]


def _with_batch(arrays: tuple[Any, ...], n: int) -> tuple[Any, ...]:
    return tuple(np.resize(a, (n, *a.shape[1:])) for a in arrays)


def test_every_op_class_is_in_a_table() -> None:
    missing = [
        f"{cls.__module__}.{cls.__name__}"
        for cls in op_classes()
        if cls not in EXPORTERS and cls not in NOT_EXPORTABLE
    ]
    assert not missing, (
        f"add these ops to mg_onnx.exporters (EXPORTERS or NOT_EXPORTABLE): {missing}"
    )


def test_not_exportable_ops_say_why() -> None:
    assert all(reason.strip() for reason in NOT_EXPORTABLE.values())
    assert not set(EXPORTERS) & set(NOT_EXPORTABLE)


def test_every_exporter_has_a_sample() -> None:
    sampled = {sample.op for sample in SAMPLES}
    missing = [cls.__name__ for cls in EXPORTERS if cls not in sampled]
    assert not missing, f"add a sample to SAMPLES for: {missing}"


@pytest.mark.parametrize(
    "sample", SAMPLES, ids=[f"{s.op.__name__}-{s.label or 'basic'}" for s in SAMPLES]
)
def test_exporter_matches_onnxruntime(sample: Sample) -> None:
    assert sample.op in _ops_in(sample.fn, sample.inputs), "the sample does not use its op"
    proto = export(sample.fn, sample.inputs)
    for n in (sample.inputs[0].shape[0], 1, 7):
        inputs = _with_batch(sample.inputs, n)
        if isinstance(sample.fn, Model):
            sample.fn.eval()
        expected = _values(compute_graph(sample.fn)(*inputs))
        actual = run(proto, *inputs)
        for got, want in zip(actual, expected, strict=True):
            assert_close(got, want)
        for got, want in zip(_values(load(proto)(*inputs)), expected, strict=True):
            assert_close(got, want)
