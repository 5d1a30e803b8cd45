"""Selection: ``where`` (three-way broadcasting) and ``clip``, values and gradients."""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import (
    ALL_DTYPES,
    GRAD_SETTINGS,
    NUMERIC,
    SETTINGS,
    arrays,
    expect,
    grid,
    shapes,
    unbroadcast,
)

import mg_tensor as mt
from mg_graph import ShapeError
from mg_tensor import Tensor, grad
from mg_tensor.testing import gradcheck


@st.composite
def where_case(
    draw: st.DrawFn, dtypes: Any = ALL_DTYPES, min_side: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    drawn = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, min_side=min_side))
    c_shape, a_shape, b_shape = drawn.input_shapes
    condition = draw(hnp.arrays(np.bool_, c_shape))
    a = draw(arrays(st.sampled_from(dtypes), a_shape))
    b = draw(arrays(st.sampled_from(dtypes), b_shape))
    return condition, a, b


@SETTINGS
@given(case=where_case())
def test_where_matches_numpy(case: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    condition, a, b = case
    expected = np.where(condition, a, b)
    expect(mt.where(Tensor(condition), Tensor(a), Tensor(b)), expected)
    expect(mt.where(condition, Tensor(a), Tensor(b)), expected)  # a numpy condition


@SETTINGS
@given(
    x=arrays(st.sampled_from(NUMERIC), shapes()),
    scalar=st.one_of(st.integers(-3, 3), st.floats(-3, 3)),
)
def test_where_with_a_python_scalar_branch_keeps_the_tensor_kind(
    x: np.ndarray, scalar: Any
) -> None:
    t = Tensor(x)
    expect(mt.where(t > 0, t, scalar), np.where(x > 0, x, scalar))
    expect(mt.where(t > 0, scalar, t), np.where(x > 0, scalar, x))


def test_where_examples() -> None:
    x = np.array([-1.0, 0.5, 2.0], np.float32)
    t = Tensor(x)
    expect(mt.where(t > 0, t, 0), np.where(x > 0, x, np.float32(0)))
    assert mt.where(t > 0, t, 0).dtype == np.float32  # the 0 is weak
    expect(mt.where([True, False, True], t, -t), np.where([True, False, True], x, -x))
    # only Python scalars: they default to float32, like lists
    expect(mt.where(t > 0, 1.0, 0.0), np.array([0, 1, 1], np.float32))


@SETTINGS
@given(case=where_case(dtypes=(np.dtype(np.float64),)))
def test_where_gradient_goes_to_the_chosen_side(
    case: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    condition, a, b = case
    shape = np.broadcast_shapes(condition.shape, a.shape, b.shape)
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    g = np.arange(1.0, 1 + np.prod(shape)).reshape(shape)
    da, db = grad(mt.where(condition, ta, tb), [ta, tb], grad_output=g)
    np.testing.assert_array_equal(da.data, unbroadcast(np.where(condition, g, 0), a.shape))
    np.testing.assert_array_equal(db.data, unbroadcast(np.where(condition, 0, g), b.shape))


@GRAD_SETTINGS
@given(case=where_case(dtypes=(np.dtype(np.float64),), min_side=1))
def test_where_gradcheck(case: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    condition, a, b = case
    assert gradcheck(lambda x, y: mt.where(condition, x * y, y), a, b)


# ---------------------------------------------------------------- clip
BOUNDS = [(-1.0, 1.0), (None, 0.5), (-0.5, None), (None, None), (2, 3)]


@SETTINGS
@given(
    x=arrays(st.sampled_from(NUMERIC), shapes(), low=-4, high=4),
    bounds=st.sampled_from(BOUNDS),
)
def test_clip_matches_numpy(x: np.ndarray, bounds: tuple[Any, Any]) -> None:
    low, high = bounds
    expected = np.clip(x, low, high)
    expect(Tensor(x).clip(low, high), expected)
    expect(mt.clip(Tensor(x), low, high), expected)


@GRAD_SETTINGS
@given(
    x=hnp.arrays(np.float64, shapes(min_side=1), elements=grid(0.25, -6, 6)),  # off bounds
    bounds=st.sampled_from(BOUNDS),
)
def test_clip_gradient_is_one_inside_and_zero_outside(
    x: np.ndarray, bounds: tuple[Any, Any]
) -> None:
    low, high = bounds
    t = Tensor(x, requires_grad=True)
    (dx,) = grad(t.clip(low, high).sum(), [t])
    inside = (x >= (-np.inf if low is None else low)) & (x <= (np.inf if high is None else high))
    np.testing.assert_array_equal(dx.data, inside.astype(np.float64))
    assert gradcheck(lambda v: v.clip(low, high), x)


def test_clip_gradient_passes_on_the_bounds_themselves() -> None:
    # the documented rule: the gradient passes where low <= x <= high
    t = Tensor(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), requires_grad=True)
    (dx,) = grad(t.clip(-1.0, 1.0).sum(), [t])
    np.testing.assert_array_equal(dx.data, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clip_examples() -> None:
    t = Tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    expect(t.clip(-1, 1), np.array([-1, -1, 0, 1, 1], np.float32))
    expect(t.clip(max=0), np.array([-2, -1, 0, 0, 0], np.float32))
    expect(t.clip(min=0), np.array([0, 0, 0, 1, 2], np.float32))


def test_where_shape_error() -> None:
    with pytest.raises(ShapeError, match="where"):
        mt.where(np.ones(2, bool), Tensor(np.ones(3)), Tensor(np.ones(4)))
