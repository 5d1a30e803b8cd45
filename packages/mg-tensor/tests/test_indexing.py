"""Indexing against numpy: ints, slices, None, Ellipsis, integer arrays and constant masks;
gradients of gathers add up over repeated indices, like ``np.add.at``."""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import ALL_DTYPES, GRAD_SETTINGS, SETTINGS, arrays, expect, shapes

import mg_tensor as mt
from mg_graph import ShapeError
from mg_tensor import Tensor, grad
from mg_tensor.testing import gradcheck

ANY = st.sampled_from(ALL_DTYPES)


@st.composite
def basic_case(draw: st.DrawFn, dtype: Any = ANY, min_side: int = 0) -> tuple[np.ndarray, Any]:
    x = draw(arrays(dtype, shapes(max_dims=4, min_side=min_side)))
    index = draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True))
    return x, index


@SETTINGS
@given(case=basic_case())
def test_basic_indexing_matches_numpy(case: tuple[np.ndarray, Any]) -> None:
    x, index = case
    expect(Tensor(x)[index], x[index])
    expect(mt.getitem(Tensor(x), index), x[index])


@GRAD_SETTINGS
@given(case=basic_case(dtype=np.float64, min_side=1))
def test_basic_indexing_gradcheck(case: tuple[np.ndarray, Any]) -> None:
    x, index = case
    assert gradcheck(lambda t: t[index], x)


@st.composite
def gather_case(draw: st.DrawFn, dtype: Any = ANY) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    x = draw(arrays(dtype, shapes(min_dims=1, max_dims=3, min_side=1)))
    index = draw(hnp.integer_array_indices(x.shape, result_shape=shapes(max_dims=2, max_side=5)))
    return x, index


@SETTINGS
@given(case=gather_case())
def test_integer_array_indexing_matches_numpy(case: tuple[np.ndarray, Any]) -> None:
    x, index = case
    expect(Tensor(x)[index], x[index])


@GRAD_SETTINGS
@given(case=gather_case(dtype=np.float64), data=st.data())
def test_gather_gradient_adds_up_like_np_add_at(
    case: tuple[np.ndarray, Any], data: st.DataObject
) -> None:
    x, index = case
    g = data.draw(arrays(np.float64, x[index].shape))
    t = Tensor(x, requires_grad=True)
    (dx,) = grad(t[index], [t], grad_output=g)
    expected = np.zeros_like(x)
    np.add.at(expected, index, g)
    np.testing.assert_allclose(dx.data, expected, rtol=1e-12, atol=1e-12)


def test_repeated_indices_accumulate_exactly() -> None:
    t = Tensor(np.arange(5.0), requires_grad=True)
    (dx,) = grad(t[[0, 0, 2, 0, 4, 4]].sum(), [t])
    np.testing.assert_array_equal(dx.data, [3.0, 0.0, 1.0, 0.0, 2.0])
    (dx,) = grad((t[np.array([[1, 1], [3, 1]])] * np.array([[1.0, 2.0], [3.0, 4.0]])).sum(), [t])
    np.testing.assert_array_equal(dx.data, [0.0, 7.0, 0.0, 3.0, 0.0])


@pytest.mark.parametrize(
    "index",
    [
        (np.array([0, 0, 1]), slice(1, None)),
        (slice(None), np.array([2, 0, 2])),
        (np.array([1, 0]), slice(None), np.array([3, 3])),  # split advanced axes go first
        (Ellipsis, np.array([0, 0])),
        (np.array([[0], [1]]), np.array([1, 1, 2])),  # index arrays broadcast
        (None, np.array([1, -1, 0])),  # negative indices wrap
        (1, np.array([0, 0, 2]), None),
        [0, 1, 0],  # a plain list is an integer array
        (np.array([], np.int64),),
    ],
)
def test_mixed_advanced_indexing(index: Any) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4))
    expect(Tensor(x)[index], x[index])
    assert gradcheck(lambda t: t[index], x)
    g = rng.standard_normal(x[index].shape)
    t = Tensor(x, requires_grad=True)
    (dx,) = grad(t[index], [t], grad_output=g)
    expected = np.zeros_like(x)
    np.add.at(expected, index if not isinstance(index, list) else np.array(index), g)
    np.testing.assert_allclose(dx.data, expected, rtol=1e-12)


def test_index_given_as_tensors() -> None:
    x = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    t = Tensor(x, requires_grad=True)
    rows = Tensor(np.array([1, 1, 0]))
    expect(t[rows], x[[1, 1, 0]])
    best = t.argmax(axis=1)  # a computed integer index
    picked = t[np.arange(2), best]
    expect(picked, x[np.arange(2), x.argmax(axis=1)])
    (dx,) = grad(picked.sum(), [t])
    np.testing.assert_array_equal(dx.data, [[0, 1, 0], [1, 0, 0]])
    assert t[Tensor(np.array(1))].shape == (3,)


@SETTINGS
@given(x=arrays(ANY, shapes(min_dims=1, max_dims=3)), data=st.data())
def test_constant_boolean_masks_match_numpy(x: np.ndarray, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, x.ndim))
    mask = data.draw(hnp.arrays(np.bool_, x.shape[:k]))
    expect(Tensor(x)[mask], x[mask])
    expect(Tensor(x)[Tensor(mask)], x[mask])  # a leaf mask is a constant too


def test_boolean_mask_forms_and_gradient() -> None:
    x = np.arange(6.0).reshape(2, 3)
    expect(Tensor(x)[[True, False]], x[[True, False]])
    expect(Tensor(x)[:, np.array([True, False, True])], x[:, [True, False, True]])
    mask = x % 2 == 0
    t = Tensor(x, requires_grad=True)
    (dx,) = grad(t[mask].sum() * 2, [t])
    np.testing.assert_array_equal(dx.data, 2 * mask)


def test_a_computed_mask_is_refused_with_a_pointer_to_where() -> None:
    t = Tensor(np.array([1.0, -2.0, 3.0]))
    with pytest.raises(ShapeError, match="where"):
        t[t > 0]


def test_index_views_of_zero_d_and_empty_tensors() -> None:
    scalar = np.array(3.0)
    expect(Tensor(scalar)[()], scalar[()])
    expect(Tensor(scalar)[None], scalar[None])
    expect(Tensor(scalar)[...], scalar[...])
    empty = np.ones((0, 3))
    expect(Tensor(empty)[:, 1], empty[:, 1])
    expect(Tensor(np.arange(3.0))[5:], np.arange(3.0)[5:])
    assert gradcheck(lambda t: t[()] * 2, scalar)


@pytest.mark.parametrize(
    ("index", "problem"),
    [
        (5, "out of bounds"),
        ((0, -4), "out of bounds"),
        ((0, 0, 0), "too many indices"),
        (np.array([0, 2]), "out of bounds"),
        ([[0, 1], [2, 0]], "out of bounds"),
        (0.5, "cannot index with float64"),
        (np.array([0.0]), "cannot index with float64"),
        (Tensor(np.array([0.0, 1.0])), "must be integers"),
    ],
)
def test_bad_indices_raise_shape_errors_when_built(index: Any, problem: str) -> None:
    t = Tensor(np.ones((2, 3))) * 2  # not computed: the check needs shapes only
    with pytest.raises(ShapeError) as err:
        t[index]
    assert problem in str(err.value)
    assert "(2, 3)" in str(err.value)
    assert t.node.value is None
