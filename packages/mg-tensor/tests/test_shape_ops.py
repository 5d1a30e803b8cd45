"""Shape ops against numpy: reshape, transpose, expand, squeeze, flatten, concatenate, stack."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import (
    ALL_DTYPES,
    GRAD_SETTINGS,
    SETTINGS,
    arrays,
    expect,
    numpy_result,
    shapes,
)

import mg_tensor as mt
from mg_graph import ShapeError
from mg_tensor import Tensor
from mg_tensor.testing import gradcheck

ANY = st.sampled_from(ALL_DTYPES)
F64 = np.float64


# ---------------------------------------------------------------- reshape
@st.composite
def reshape_case(
    draw: st.DrawFn, dtype: st.SearchStrategy[np.dtype] = ANY, min_side: int = 0
) -> tuple[np.ndarray, tuple[int, ...]]:
    """An array and a target shape with the same number of elements (maybe with a -1):
    the array's axes shuffled, runs of them merged, ones inserted."""
    x = draw(arrays(dtype, shapes(max_dims=4, min_side=min_side)))
    dims = list(draw(st.permutations(list(x.shape))))
    target: list[int] = []
    while dims:
        k = draw(st.integers(1, len(dims)))
        target.append(math.prod(dims[:k]))
        dims = dims[k:]
    for _ in range(draw(st.integers(0, 2))):
        target.insert(draw(st.integers(0, len(target))), 1)
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return x, tuple(target)


@SETTINGS
@given(case=reshape_case(), form=st.sampled_from(["tuple", "varargs", "function"]))
def test_reshape_matches_numpy(case: tuple[np.ndarray, tuple[int, ...]], form: str) -> None:
    x, target = case
    expected = numpy_result(lambda a: a.reshape(target), x)
    t = Tensor(x)

    def build() -> Tensor:
        if form == "tuple":
            return t.reshape(target)
        if form == "varargs":
            return t.reshape(*target) if target else t.reshape(())
        return mt.reshape(t, target)

    if isinstance(expected, Exception):  # -1 next to a 0-length axis is ambiguous
        with pytest.raises(ShapeError, match="reshape"):
            build()
    else:
        expect(build(), expected, lazy=False)  # an unchanged shape gives t itself


def test_reshape_examples() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    t = Tensor(x)
    expect(t.reshape(-1), x.reshape(-1))
    expect(t.reshape(4, -1), x.reshape(4, -1))
    expect(t.reshape((3, 8)), x.reshape(3, 8))
    expect(t.reshape(-1, 2, 3), x.reshape(-1, 2, 3))
    expect(Tensor(np.array(7.0)).reshape(1, 1), np.array(7.0).reshape(1, 1))
    expect(Tensor(np.ones(1)).reshape(()), np.ones(1).reshape(()))
    expect(Tensor(np.ones((0, 3))).reshape(3, 0), np.ones((0, 3)).reshape(3, 0))
    expect(Tensor(np.ones((0, 3))).reshape(-1, 3), np.ones((0, 3)).reshape(-1, 3))


@GRAD_SETTINGS
@given(case=reshape_case(dtype=st.just(np.dtype(F64)), min_side=1))
def test_reshape_gradcheck(case: tuple[np.ndarray, tuple[int, ...]]) -> None:
    x, target = case
    assert gradcheck(lambda t: t.reshape(target), x)


# ---------------------------------------------------------------- transpose
@st.composite
def transpose_case(
    draw: st.DrawFn, dtype: st.SearchStrategy[np.dtype] = ANY, min_side: int = 0
) -> tuple[np.ndarray, tuple[int, ...]]:
    x = draw(arrays(dtype, shapes(max_dims=4, min_side=min_side, max_side=3)))
    perm = draw(st.permutations(list(range(x.ndim))))
    # some axes negative: numpy accepts both spellings
    return x, tuple(a - x.ndim if draw(st.booleans()) else a for a in perm)


@SETTINGS
@given(case=transpose_case())
def test_transpose_matches_numpy(case: tuple[np.ndarray, tuple[int, ...]]) -> None:
    x, axes = case
    t = Tensor(x)
    expect(t.transpose(axes), x.transpose(axes), lazy=False)
    expect(mt.transpose(t, axes), x.transpose(axes), lazy=False)
    if axes:
        expect(t.transpose(*axes), x.transpose(axes), lazy=False)
    expect(t.transpose(), x.transpose(), lazy=False)
    expect(t.T, x.T, lazy=False)


@GRAD_SETTINGS
@given(case=transpose_case(dtype=st.just(np.dtype(F64)), min_side=1))
def test_transpose_gradcheck(case: tuple[np.ndarray, tuple[int, ...]]) -> None:
    x, axes = case
    assert gradcheck(
        lambda t: t.transpose(axes) * np.arange(1.0, x.size + 1).reshape(x.transpose(axes).shape), x
    )


def test_swapaxes_matches_numpy() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    expect(mt.swapaxes(Tensor(x), 0, 2), np.swapaxes(x, 0, 2))
    expect(mt.swapaxes(Tensor(x), -1, 1), np.swapaxes(x, -1, 1))
    assert gradcheck(lambda t: mt.swapaxes(t, 0, 2), x)


# ---------------------------------------------------------------- broadcast_to / expand
@st.composite
def expand_case(
    draw: st.DrawFn, dtype: st.SearchStrategy[np.dtype] = ANY, min_side: int = 0
) -> tuple[np.ndarray, tuple[int, ...]]:
    """An array and a shape it broadcasts to: new leading axes, its 1s stretched."""
    x = draw(arrays(dtype, shapes(max_dims=3, min_side=min_side, max_side=3)))
    lead = draw(st.lists(st.integers(min_side, 3), max_size=2))
    stretched = [draw(st.integers(min_side, 3)) if n == 1 else n for n in x.shape]
    return x, (*lead, *stretched)


@SETTINGS
@given(case=expand_case())
def test_expand_and_broadcast_to_match_numpy(case: tuple[np.ndarray, tuple[int, ...]]) -> None:
    x, target = case
    expected = np.broadcast_to(x, target)
    t = Tensor(x)
    expect(t.expand(target), expected, lazy=False)
    expect(mt.broadcast_to(t, target), expected, lazy=False)
    if target:
        expect(t.expand(*target), expected, lazy=False)


@GRAD_SETTINGS
@given(case=expand_case(dtype=st.just(np.dtype(F64)), min_side=1))
def test_expand_gradcheck(case: tuple[np.ndarray, tuple[int, ...]]) -> None:
    x, target = case
    assert gradcheck(lambda t: t.expand(target), x)


def test_expand_gradient_sums_over_the_broadcast_axes() -> None:
    x = Tensor(np.array([[1.0], [2.0]]), requires_grad=True)
    g = np.arange(12.0).reshape(2, 2, 3)
    (dx,) = mt.grad(x.expand(2, 2, 3), [x], grad_output=g)
    np.testing.assert_array_equal(dx.data, g.sum(axis=(0, 2)).reshape(2, 1))


# ---------------------------------------------------------------- squeeze / unsqueeze / flatten
@st.composite
def squeeze_case(draw: st.DrawFn) -> tuple[np.ndarray, int | tuple[int, ...] | None]:
    x = draw(arrays(ANY, shapes(max_dims=4, max_side=2)))
    ones = [i for i, n in enumerate(x.shape) if n == 1]
    if not ones:
        return x, draw(st.sampled_from([None, ()]))
    axis = draw(
        st.none()
        | st.lists(st.sampled_from(ones), unique=True).map(tuple)
        | st.sampled_from(ones).map(lambda a: a - x.ndim)  # one negative int
    )
    return x, axis


@SETTINGS
@given(case=squeeze_case())
def test_squeeze_matches_numpy(case: tuple[np.ndarray, int | tuple[int, ...] | None]) -> None:
    x, axis = case
    expect(Tensor(x).squeeze(axis), np.squeeze(x, axis), lazy=False)
    expect(mt.squeeze(Tensor(x), axis), np.squeeze(x, axis), lazy=False)


@SETTINGS
@given(x=arrays(ANY, shapes(max_dims=3)), data=st.data())
def test_unsqueeze_matches_numpy_expand_dims(x: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))
    expect(Tensor(x).unsqueeze(axis), np.expand_dims(x, axis))
    expect(mt.expand_dims(Tensor(x), axis), np.expand_dims(x, axis))


@SETTINGS
@given(x=arrays(ANY, shapes(max_dims=4)), data=st.data())
def test_flatten_merges_the_trailing_axes(x: np.ndarray, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, x.ndim))
    expected = x.reshape((*x.shape[:start], math.prod(x.shape[start:])))
    expect(Tensor(x).flatten(start), expected, lazy=False)
    expect(mt.flatten(Tensor(x), start), expected, lazy=False)
    expect(Tensor(x).flatten(), x.flatten(), lazy=False)


def test_squeeze_unsqueeze_flatten_gradcheck() -> None:
    x = np.random.default_rng(0).standard_normal((1, 3, 1, 2))
    assert gradcheck(lambda t: t.squeeze(), x)
    assert gradcheck(lambda t: t.squeeze(2), x)
    assert gradcheck(lambda t: t.unsqueeze(-1), x)
    assert gradcheck(lambda t: t.flatten(1), x)


# ---------------------------------------------------------------- concatenate / stack
@st.composite
def concatenate_case(
    draw: st.DrawFn, dtype: st.SearchStrategy[np.dtype] = ANY, min_side: int = 0
) -> tuple[list[np.ndarray], int]:
    base = draw(shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=3))
    axis = draw(st.integers(-len(base), len(base) - 1))
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        shape = list(base)
        shape[axis] = draw(st.integers(0, 3))
        parts.append(draw(arrays(dtype, tuple(shape))))
    return parts, axis


@SETTINGS
@given(case=concatenate_case())
def test_concatenate_matches_numpy(case: tuple[list[np.ndarray], int]) -> None:
    parts, axis = case
    expect(mt.concatenate([Tensor(p) for p in parts], axis=axis), np.concatenate(parts, axis))


@GRAD_SETTINGS
@given(case=concatenate_case(dtype=st.just(np.dtype(F64)), min_side=1))
def test_concatenate_gradcheck(case: tuple[list[np.ndarray], int]) -> None:
    parts, axis = case
    assert gradcheck(lambda *ts: mt.concatenate(ts, axis=axis), *parts)


@st.composite
def stack_case(
    draw: st.DrawFn, dtype: st.SearchStrategy[np.dtype] = ANY, min_side: int = 0
) -> tuple[list[np.ndarray], int]:
    shape = draw(shapes(max_dims=3, min_side=min_side, max_side=3))
    parts = [draw(arrays(dtype, shape)) for _ in range(draw(st.integers(1, 4)))]
    return parts, draw(st.integers(-len(shape) - 1, len(shape)))


@SETTINGS
@given(case=stack_case())
def test_stack_matches_numpy(case: tuple[list[np.ndarray], int]) -> None:
    parts, axis = case
    expect(mt.stack([Tensor(p) for p in parts], axis=axis), np.stack(parts, axis))


@GRAD_SETTINGS
@given(case=stack_case(dtype=st.just(np.dtype(F64)), min_side=1))
def test_stack_gradcheck(case: tuple[list[np.ndarray], int]) -> None:
    parts, axis = case
    assert gradcheck(lambda *ts: mt.stack(ts, axis=axis), *parts)


def test_concatenate_and_stack_accept_arrays_and_lists() -> None:
    t = Tensor(np.array([1.0, 2.0]))
    expect(mt.concatenate([t, np.array([3.0])]), np.array([1.0, 2.0, 3.0]))
    expect(mt.stack([t, [5, 6]]), np.array([[1.0, 2.0], [5.0, 6.0]]))


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("build", "op"),
    [
        (lambda t: t.reshape(5, 5), "reshape"),
        (lambda t: t.reshape(-1, -1), "reshape"),
        (lambda t: t.reshape(5, -1), "reshape"),
        (lambda t: t.transpose(0, 0, 1), "transpose"),
        (lambda t: t.transpose(0, 1, 1), "transpose"),
        (lambda t: t.expand(3, 3, 4), "broadcast_to"),
        (lambda t: t.expand(4), "broadcast_to"),
        (lambda t: t.squeeze(1), "squeeze"),
        (lambda t: t.squeeze(3), "squeeze"),
        (lambda t: t.unsqueeze(4), "unsqueeze"),
        (lambda t: mt.concatenate([t, Tensor(np.ones((2, 4, 1)))], axis=0), "concatenate"),
        (lambda t: mt.concatenate([t, Tensor(np.ones((2, 3)))]), "concatenate"),
        (lambda t: mt.concatenate([t], axis=3), "concatenate"),
        (lambda t: mt.stack([t, Tensor(np.ones((2, 3, 3)))]), "stack"),
        (lambda t: mt.stack([t], axis=4), "unsqueeze"),
    ],
)
def test_shape_op_errors_name_the_op_and_shapes(build, op: str) -> None:  # type: ignore[no-untyped-def]
    t = Tensor(np.ones((2, 3, 4)))
    with pytest.raises(ShapeError) as err:
        build(t)
    assert str(err.value).startswith(f"{op}: ")
    assert "(2, 3, 4)" in str(err.value)


def test_zero_d_tensors_cannot_be_concatenated() -> None:
    with pytest.raises(ShapeError, match="zero-dimensional"):
        mt.concatenate([Tensor(1.0), Tensor(2.0)])
    expect(mt.stack([Tensor(1.0), Tensor(2.0)]), np.array([1.0, 2.0], np.float32))


@pytest.mark.parametrize("join", [mt.concatenate, mt.stack])
def test_joining_arrays_with_tensors_of_another_graph(join: Any) -> None:
    """numpy operands join the graph of the tensors beside them, not the default graph
    (which raised MixedGraphError inside gradcheck or a model's own graph)."""
    from mg_graph import Graph

    graph = Graph()
    t = Tensor(np.ones((2, 3)), graph=graph, requires_grad=True)
    joined = join([t, np.zeros((2, 3))], axis=1)
    assert joined.node.graph is graph
    want = join([np.ones((2, 3)), np.zeros((2, 3))], axis=1).data
    np.testing.assert_array_equal(joined.data, want)
    (gt,) = mt.grad(joined.sum(), [t])
    np.testing.assert_array_equal(gt.data, np.ones((2, 3)))
