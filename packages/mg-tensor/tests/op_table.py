"""The op table of issue 13: one machine-readable spec per op (or per distinct use of
an op), each with its numpy reference (a closed form where numpy has none).

`test_op_table.py` runs one helper over every spec: forward against the reference in
float32 and float64, float64 gradcheck, second order where smooth, compiled = eager,
and hypothesis properties for broadcasting (``elementwise``) and axes (``reduction``).
A random-program test can draw ops from `OPS` too: each spec says its arity, value
domain and whether it is differentiable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import mg_tensor as mt
from mg_tensor import Tensor

Fn = Callable[..., Any]
Shape = tuple[int, ...]


@dataclass(frozen=True)
class OpSpec:
    """One op under test.

    ``ours(*tensors, *args)`` and ``reference(*arrays, *args)`` must agree in shape,
    dtype and value. The tensors are drawn with ``shapes`` from ``values``:
    ``"float"`` (uniform in ``ranges``, one (low, high) per input or one for all),
    ``"distinct"`` (floats pairwise 0.25 apart: no ties, no kinks near), ``"int"`` (0..7)
    or ``"bool"``. ``kind`` says how hypothesis varies the call: ``"elementwise"``
    (mutually broadcast shapes), ``"reduction"`` (``args`` are ``(axis, keepdims)``, and
    are drawn) or ``"fixed"`` (only the given call). ``grad``: float64 gradcheck;
    ``second``: second-order gradcheck as well.
    """

    name: str
    ours: Fn
    reference: Fn
    shapes: tuple[Shape, ...] = ((3, 4),)
    args: tuple[Any, ...] = ()
    kind: str = "fixed"
    values: str = "float"
    ranges: tuple[tuple[float, float], ...] = ((-2.0, 2.0),)
    grad: bool = True
    second: bool = True

    def range_of(self, i: int) -> tuple[float, float]:
        return self.ranges[i] if len(self.ranges) > 1 else self.ranges[0]

    def inputs(self, rng: np.random.Generator, dtype: Any = np.float64) -> list[np.ndarray]:
        """Input arrays for this spec, drawn from ``rng``."""
        return [self.input(rng, i, shape, dtype) for i, shape in enumerate(self.shapes)]

    def input(self, rng: np.random.Generator, i: int, shape: Shape, dtype: Any) -> np.ndarray:
        if self.values == "int":
            return rng.integers(0, 8, shape).astype(np.int64)
        if self.values == "bool":
            return rng.random(shape) < 0.5
        if self.values == "distinct":
            size = math.prod(shape)
            values = (rng.permutation(size) - size / 2) * 0.25 + 0.1
            return values.reshape(shape).astype(dtype)
        low, high = self.range_of(i)
        return rng.uniform(low, high, shape).astype(dtype)


def _same(dtype_of: np.ndarray, value: Any) -> np.ndarray:
    """A closed-form reference computed in float64, cast to numpy's result dtype."""
    return np.asarray(value).astype(np.result_type(dtype_of.dtype, np.float16))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _logsumexp(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def _norm(p: float) -> Fn:
    def reference(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
        a = np.abs(x)
        if p == np.inf:
            return np.max(a, axis=axis, keepdims=keepdims, initial=0.0)
        return np.sum(a**p, axis=axis, keepdims=keepdims) ** (1 / p)

    return reference


def _one_hot(index: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.int64)[index]


def _gather(x: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    trimmed = x[tuple(slice(None) if a == dim else slice(0, n) for a, n in enumerate(index.shape))]
    return np.take_along_axis(trimmed, index, dim)


def _scatter_add(x: np.ndarray, src: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    out = x.copy()
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    np.add.at(out, tuple(grid), src[tuple(slice(0, n) for n in index.shape)])
    return out


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)  # type: ignore[no-any-return]


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - x.max(axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))  # type: ignore[no-any-return]


def _topk(x: np.ndarray, k: int, largest: bool) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-x if largest else x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, order, -1), order


REDUCE = ((0, 2), False)  # the example reduction: two axes of a (2, 3, 4) tensor
CUBE = ((2, 3, 4),)
INDEX = np.array([[2, 0, 1, 1], [0, 0, 2, 1]])  # for (3, 4) inputs along axis 0
MASK = np.array([[True, False, False, True]] * 3)

OPS: list[OpSpec] = [
    # ---------------------------------------------------------------- elementwise
    OpSpec("sin", mt.sin, np.sin, kind="elementwise"),
    OpSpec("cos", mt.cos, np.cos, kind="elementwise"),
    OpSpec("tan", mt.tan, np.tan, kind="elementwise", ranges=((-1.2, 1.2),)),
    OpSpec("erf", mt.erf, lambda x: _same(x, _erf(x)), kind="elementwise", ranges=((-4.0, 4.0),)),
    OpSpec("log1p", mt.log1p, np.log1p, kind="elementwise", ranges=((-0.9, 3.0),)),
    OpSpec("expm1", mt.expm1, np.expm1, kind="elementwise"),
    OpSpec("log2", mt.log2, np.log2, kind="elementwise", ranges=((0.2, 3.0),)),
    OpSpec("log10", mt.log10, np.log10, kind="elementwise", ranges=((0.2, 3.0),)),
    OpSpec(
        "log_base",
        lambda x: mt.log(x, base=3),
        lambda x: np.log(x) / x.dtype.type(np.log(3)),
        kind="elementwise",
        ranges=((0.2, 3.0),),
    ),
    OpSpec("sign", mt.sign, np.sign, kind="elementwise", grad=False),
    OpSpec("floor", mt.floor, np.floor, kind="elementwise", grad=False),
    OpSpec("ceil", mt.ceil, np.ceil, kind="elementwise", grad=False),
    OpSpec("round", mt.round, np.round, kind="elementwise", grad=False),
    OpSpec(
        "round_decimals",
        lambda x: mt.round(x, 1),
        lambda x: np.round(x, 1),
        kind="elementwise",
        grad=False,
    ),
    OpSpec(
        "reciprocal",
        mt.reciprocal,
        lambda x: 1 / x,
        kind="elementwise",
        ranges=((0.3, 2.0),),
    ),
    OpSpec("rsqrt", mt.rsqrt, lambda x: 1 / np.sqrt(x), kind="elementwise", ranges=((0.2, 3.0),)),
    OpSpec("square", mt.square, np.square, kind="elementwise"),
    OpSpec("isnan", mt.isnan, np.isnan, kind="elementwise", grad=False),
    OpSpec("isinf", mt.isinf, np.isinf, kind="elementwise", grad=False),
    OpSpec("isfinite", mt.isfinite, np.isfinite, kind="elementwise", grad=False),
    OpSpec(
        "floor_divide",
        lambda a, b: a // b,
        np.floor_divide,
        shapes=((3, 4), (4,)),
        kind="elementwise",
        ranges=((-3.0, 3.0), (0.5, 2.0)),
        grad=False,
    ),
    OpSpec(
        "remainder",
        lambda a, b: a % b,
        np.remainder,
        shapes=((3, 4), (4,)),
        kind="elementwise",
        ranges=((-3.0, 3.0), (0.5, 2.0)),
    ),
    OpSpec(
        "logical_and",
        mt.logical_and,
        np.logical_and,
        ((3, 4), (4,)),
        (),
        "elementwise",
        "bool",
        grad=False,
    ),
    OpSpec(
        "logical_or",
        mt.logical_or,
        np.logical_or,
        ((3, 4), (4,)),
        (),
        "elementwise",
        "bool",
        grad=False,
    ),
    OpSpec(
        "logical_xor",
        mt.logical_xor,
        np.logical_xor,
        ((3, 4), (4,)),
        (),
        "elementwise",
        "bool",
        grad=False,
    ),
    OpSpec(
        "logical_not", mt.logical_not, np.logical_not, values="bool", kind="elementwise", grad=False
    ),
    OpSpec(
        "and_operator",
        lambda a, b: a & b,
        np.bitwise_and,
        ((3, 4), (4,)),
        (),
        "elementwise",
        "bool",
        grad=False,
    ),
    OpSpec(
        "or_operator",
        lambda a, b: a | b,
        np.bitwise_or,
        ((3, 4), (4,)),
        (),
        "elementwise",
        "int",
        grad=False,
    ),
    OpSpec(
        "xor_operator",
        lambda a, b: a ^ b,
        np.bitwise_xor,
        ((3, 4), (4,)),
        (),
        "elementwise",
        "int",
        grad=False,
    ),
    OpSpec("invert_bool", lambda a: ~a, np.invert, values="bool", kind="elementwise", grad=False),
    OpSpec("invert_int", lambda a: ~a, np.invert, values="int", kind="elementwise", grad=False),
    # ---------------------------------------------------------------- reductions
    OpSpec("var", mt.var, np.var, CUBE, REDUCE, "reduction"),
    OpSpec(
        "var_correction",
        lambda x, axis, keepdims: mt.var(x, axis, keepdims, correction=1),
        lambda x, axis, keepdims: np.var(x, axis=axis, keepdims=keepdims, ddof=1),
        CUBE,
        REDUCE,
        "reduction",
    ),
    OpSpec("std", mt.std, np.std, CUBE, REDUCE, "reduction", ranges=((1.0, 3.0),)),
    OpSpec(
        "std_correction",
        lambda x, axis, keepdims: mt.std(x, axis, keepdims, correction=1),
        lambda x, axis, keepdims: np.std(x, axis=axis, keepdims=keepdims, ddof=1),
        CUBE,
        REDUCE,
        "reduction",
        ranges=((1.0, 3.0),),
    ),
    OpSpec("prod", mt.prod, np.prod, CUBE, REDUCE, "reduction", ranges=((0.5, 1.5),)),
    OpSpec("logsumexp", mt.logsumexp, _logsumexp, CUBE, REDUCE, "reduction"),
    OpSpec(
        "norm2",
        lambda x, axis, keepdims: mt.norm(x, 2, axis, keepdims),
        _norm(2),
        CUBE,
        REDUCE,
        "reduction",
        values="distinct",
    ),
    OpSpec(
        "norm1",
        lambda x, axis, keepdims: mt.norm(x, 1, axis, keepdims),
        _norm(1),
        CUBE,
        REDUCE,
        "reduction",
        values="distinct",
    ),
    OpSpec(
        "norm_inf",
        lambda x, axis, keepdims: mt.norm(x, np.inf, axis, keepdims),
        _norm(np.inf),
        CUBE,
        REDUCE,
        "reduction",
        values="distinct",
        second=False,
    ),
    OpSpec(
        "norm3",
        lambda x, axis, keepdims: mt.norm(x, 3, axis, keepdims),
        _norm(3),
        CUBE,
        REDUCE,
        "reduction",
        values="distinct",
    ),
    OpSpec("any", mt.any, np.any, CUBE, REDUCE, "reduction", "bool", grad=False),
    OpSpec("all", mt.all, np.all, CUBE, REDUCE, "reduction", "bool", grad=False),
    OpSpec("sum_axes", mt.sum, np.sum, CUBE, REDUCE, "reduction"),
    OpSpec("mean_axes", mt.mean, np.mean, CUBE, REDUCE, "reduction"),
    OpSpec("max_axes", mt.max, np.max, CUBE, REDUCE, "reduction", "distinct"),
    OpSpec("min_axes", mt.min, np.min, CUBE, REDUCE, "reduction", "distinct"),
    # ---------------------------------------------------------------- scans and sorting
    OpSpec("cumsum", mt.cumsum, np.cumsum, CUBE, (1,)),
    OpSpec("cumsum_flat", mt.cumsum, np.cumsum, CUBE, (None,)),
    OpSpec("cumprod", mt.cumprod, np.cumprod, CUBE, (2,), ranges=((0.5, 1.5),)),
    OpSpec("sort", mt.sort, lambda x, a: np.sort(x, a), CUBE, (1,), values="distinct"),
    OpSpec(
        "sort_descending",
        lambda x: mt.sort(x, -1, descending=True),
        lambda x: np.flip(np.sort(x, -1), -1),
        CUBE,
        values="distinct",
    ),
    OpSpec(
        "argsort",
        mt.argsort,
        lambda x, a: np.argsort(x, a),
        CUBE,
        (0,),
        values="distinct",
        grad=False,
    ),
    OpSpec(
        "topk_values",
        lambda x: mt.topk(x, 2).values,
        lambda x: _topk(x, 2, True)[0],
        CUBE,
        values="distinct",
    ),
    OpSpec(
        "topk_smallest",
        lambda x: mt.topk(x, 3, largest=False).values,
        lambda x: _topk(x, 3, False)[0],
        CUBE,
        values="distinct",
    ),
    OpSpec(
        "topk_indices",
        lambda x: mt.topk(x, 2).indices,
        lambda x: _topk(x, 2, True)[1],
        CUBE,
        values="distinct",
        grad=False,
    ),
    # ---------------------------------------------------------------- shapes and indexing
    OpSpec(
        "split",
        lambda x: mt.split(x, 2, 1)[1],
        lambda x: x[:, 2:4],
        ((3, 5),),
    ),
    OpSpec("chunk", lambda x: mt.chunk(x, 3, 1)[2], lambda x: x[:, 4:], ((3, 5),)),
    OpSpec(
        "cat",
        lambda a, b: mt.cat([a, b], 0),
        lambda a, b: np.concatenate([a, b], 0),
        ((2, 3), (4, 3)),
    ),
    OpSpec(
        "stack",
        lambda a, b: mt.stack([a, b], 1),
        lambda a, b: np.stack([a, b], 1),
        ((2, 3), (2, 3)),
    ),
    OpSpec(
        "where",
        lambda a, b: mt.where(MASK, a, b),
        lambda a, b: np.where(MASK, a, b),
        ((3, 4), (4,)),
    ),
    OpSpec(
        "pad_constant",
        lambda x: mt.pad(x, ((1, 2), (0, 1)), constant_values=0.5),
        lambda x: np.pad(x, ((1, 2), (0, 1)), constant_values=0.5),
    ),
    OpSpec(
        "pad_reflect",
        lambda x: mt.pad(x, ((2, 1), (3, 3)), mode="reflect"),
        lambda x: np.pad(x, ((2, 1), (3, 3)), mode="reflect"),
    ),
    OpSpec(
        "pad_edge",
        lambda x: mt.pad(x, 2, mode="edge"),
        lambda x: np.pad(x, 2, mode="edge"),
    ),
    OpSpec("tril", mt.tril, np.tril, CUBE),
    OpSpec("triu", lambda x: mt.triu(x, 1), lambda x: np.triu(x, 1), CUBE),
    OpSpec(
        "masked_fill",
        lambda x: mt.masked_fill(x, MASK, -1.5),
        lambda x: np.where(MASK, x.dtype.type(-1.5), x),
    ),
    OpSpec(
        "gather",
        lambda x: mt.gather(x, 0, INDEX[:, :3]),
        lambda x: _gather(x, 0, INDEX[:, :3]),
    ),
    OpSpec(
        "take_along_axis",
        lambda x: mt.take_along_axis(x, INDEX.T, 1),
        lambda x: np.take_along_axis(x, INDEX.T, 1),
        ((4, 4),),
    ),
    OpSpec(
        "scatter_add",
        lambda x, s: mt.scatter_add(x, 0, INDEX, s),
        lambda x, s: _scatter_add(x, s, 0, INDEX),
        ((3, 4), (2, 4)),
    ),
    OpSpec(
        "one_hot",
        lambda i: mt.one_hot(i, 8),
        lambda i: _one_hot(i, 8),
        values="int",
        grad=False,
    ),
    OpSpec("repeat", lambda x: mt.repeat(x, 2, 1), lambda x: np.repeat(x, 2, 1)),
    OpSpec(
        "repeat_counts",
        lambda x: mt.repeat(x, [1, 0, 3]),
        lambda x: np.repeat(x, [1, 0, 3]),
        ((3,),),
    ),
    OpSpec("repeat_flat", lambda x: mt.repeat(x, 3), lambda x: np.repeat(x, 3)),
    OpSpec("tile", lambda x: mt.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3))),
    OpSpec("flip", lambda x: mt.flip(x, (0, 2)), lambda x: np.flip(x, (0, 2)), CUBE),
    OpSpec("flip_all", mt.flip, np.flip, CUBE),
    OpSpec(
        "roll", lambda x: mt.roll(x, (1, -2), (0, 2)), lambda x: np.roll(x, (1, -2), (0, 2)), CUBE
    ),
    OpSpec("roll_flat", lambda x: mt.roll(x, 5), lambda x: np.roll(x, 5), CUBE),
    OpSpec(
        "einsum_matmul",
        lambda a, b: mt.einsum("ij,jk->ik", a, b),
        lambda a, b: np.einsum("ij,jk->ik", a, b),
        ((3, 4), (4, 2)),
    ),
    OpSpec(
        "einsum_batched_ellipsis",
        lambda a, b: mt.einsum("...ij,...jk", a, b),
        lambda a, b: np.einsum("...ij,...jk", a, b),
        ((2, 3, 4), (4, 2)),
    ),
    OpSpec(
        "einsum_reduce_only",
        lambda a, b: mt.einsum("ijk,k->i", a, b),
        lambda a, b: np.einsum("ijk,k->i", a, b),
        ((2, 3, 4), (4,)),
    ),
    OpSpec(
        "einsum_attention",
        lambda q, k: mt.einsum("bhqd,bhkd->bhqk", q, k),
        lambda q, k: np.einsum("bhqd,bhkd->bhqk", q, k),
        ((2, 2, 3, 4), (2, 2, 5, 4)),
    ),
    OpSpec(
        "einsum_three_operands",
        lambda a, b, c: mt.einsum("ij,jk,k->i", a, b, c),
        lambda a, b, c: np.einsum("ij,jk,k->i", a, b, c),
        ((3, 4), (4, 2), (2,)),
    ),
    OpSpec(
        "einsum_trace",
        lambda a: mt.einsum("ii", a),
        lambda a: np.einsum("ii", a),
        ((3, 3),),
    ),
    OpSpec("outer", mt.outer, np.outer, ((3,), (2, 2))),
    OpSpec("view", lambda x: x.view(4, -1), lambda x: x.reshape(4, -1), CUBE),
    OpSpec("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1), CUBE),
    OpSpec("transpose_swap", lambda x: x.transpose(0, 2), lambda x: x.swapaxes(0, 2), CUBE),
    OpSpec("clone", lambda x: x.clone(), np.copy),
    # ---------------------------------------------------------------- the original ops
    # (before issue 13), so the random programs (programs.py) draw them too
    OpSpec("absolute", mt.absolute, np.absolute, kind="elementwise", values="distinct"),
    OpSpec(
        "clip",
        lambda x: mt.clip(x, -0.5, 1.0),
        lambda x: np.clip(x, -0.5, 1.0),
        kind="elementwise",
        values="distinct",  # 0.05 or more from the bounds
    ),
    OpSpec(
        "power_tensor",
        mt.power,
        np.power,
        ((3, 4), (4,)),
        kind="elementwise",
        ranges=((0.5, 2.0), (-1.5, 1.5)),
    ),
    OpSpec("greater", mt.greater, np.greater, ((3, 4), (4,)), kind="elementwise", grad=False),
    OpSpec(
        "greater_equal",
        mt.greater_equal,
        np.greater_equal,
        ((3, 4), (4,)),
        kind="elementwise",
        grad=False,
    ),
    OpSpec("less", mt.less, np.less, ((3, 4), (4,)), kind="elementwise", grad=False),
    OpSpec(
        "less_equal", mt.less_equal, np.less_equal, ((3, 4), (4,)), kind="elementwise", grad=False
    ),
    OpSpec(
        "equal", mt.equal, np.equal, ((3, 4), (4,)), kind="elementwise", values="int", grad=False
    ),
    OpSpec(
        "not_equal",
        mt.not_equal,
        np.not_equal,
        ((3, 4), (4,)),
        kind="elementwise",
        values="int",
        grad=False,
    ),
    OpSpec(
        "astype_int",
        lambda x: mt.astype(x, np.int64),
        lambda x: x.astype(np.int64),
        ranges=((-3.0, 3.0),),
        grad=False,
    ),
    OpSpec("stop_gradient", mt.stop_gradient, np.copy, grad=False),
    OpSpec("copy", mt.copy, np.copy),
    OpSpec("argmax", mt.argmax, np.argmax, CUBE, (1,), values="distinct", grad=False),
    OpSpec("argmin", mt.argmin, np.argmin, CUBE, (2,), values="distinct", grad=False),
    OpSpec("softmax", mt.softmax, _softmax, CUBE, (1,)),
    OpSpec("log_softmax", mt.log_softmax, _log_softmax, CUBE, (2,)),
    OpSpec(
        "sort_indices",
        lambda x: mt.sort_with_indices(x, 1).indices,
        lambda x: np.argsort(x, 1),
        CUBE,
        values="distinct",
        grad=False,
    ),
    OpSpec(
        "matmul_batched",
        mt.matmul,
        np.matmul,
        ((2, 3, 4), (4, 2)),
    ),
    OpSpec("matmul_vector", mt.matmul, np.matmul, ((3, 4), (4,))),
    OpSpec("expand_dims", mt.expand_dims, np.expand_dims, args=(1,)),
    OpSpec("squeeze", mt.squeeze, np.squeeze, ((3, 1, 4),), (1,)),
    OpSpec(
        "broadcast_to",
        lambda x: mt.broadcast_to(x, (2, 3, 5, 4)),
        lambda x: np.broadcast_to(x, (2, 3, 5, 4)),
        ((3, 1, 4),),
    ),
    OpSpec("flatten", lambda x: mt.flatten(x, 1), lambda x: x.reshape(2, -1), CUBE),
    OpSpec("swapaxes", mt.swapaxes, np.swapaxes, CUBE, (0, 2)),
    OpSpec(
        "array_split",
        lambda x: mt.array_split(x, 3, 1)[2],
        lambda x: np.array_split(x, 3, 1)[2],
        ((3, 5),),
    ),
    OpSpec("getitem_slices", lambda x: x[1:, ::-2], lambda x: x[1:, ::-2]),
    OpSpec("getitem_repeated", lambda x: x[[2, 0, 2]], lambda x: x[[2, 0, 2]]),
    OpSpec("getitem_mask", lambda x: x[MASK], lambda x: x[MASK]),
    OpSpec("getitem_newaxis", lambda x: x[..., None, 1], lambda x: x[..., None, 1], CUBE),
]

NAMES = [spec.name for spec in OPS]
assert len(set(NAMES)) == len(NAMES), "op spec names must be unique"


def by_kind(kind: str) -> list[OpSpec]:
    return [spec for spec in OPS if spec.kind == kind]


def tensors(arrays: list[np.ndarray], requires_grad: bool = False, **kw: Any) -> list[Tensor]:
    return [Tensor(a, requires_grad=requires_grad and a.dtype.kind == "f", **kw) for a in arrays]
