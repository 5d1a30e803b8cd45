"""``gradcheck`` (float64 central differences) for every differentiable op on hypothesis-drawn
shapes, broadcasting included, with inputs kept away from kinks and domain edges."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import (
    GRAD_SETTINGS,
    arrays,
    away_from_zero,
    axis_args,
    distinct,
    grid,
    shapes,
)

import mg_tensor as mt
from mg_tensor import Tensor
from mg_tensor.testing import GradcheckError, gradcheck

F64 = np.float64
SMALL = shapes(max_dims=3, min_side=1, max_side=3)  # size-0 inputs: see the end
Fn = Callable[..., Tensor]


def pair(low: float = -3, high: float = 3) -> st.SearchStrategy[list[np.ndarray]]:
    """Two float64 arrays of mutually broadcastable (small) shapes."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3).flatmap(
        lambda drawn: st.tuples(
            *(arrays(F64, shape, low, high) for shape in drawn.input_shapes)
        ).map(list)
    )


# ---------------------------------------------------------------- unary
UNARY: dict[str, Fn] = {
    "negative": operator.neg,
    "exp": lambda t: t.exp(),
    "tanh": lambda t: t.tanh(),
    "sigmoid": lambda t: t.sigmoid(),
    "square": lambda t: t**2,
    "cube": lambda t: t**3,
    "reciprocal power": lambda t: (t * t + 1) ** -1.5,
    "rpow": lambda t: 2**t,
    "scalar divide": lambda t: 1.5 / (t * t + 1),
    "rsub": lambda t: 1 - t,
    # a cast through the (wider) long double and back: AsType's gradient both ways
    "astype": lambda t: (t.astype(np.longdouble) * t.astype(np.longdouble)).astype(F64),
}


@GRAD_SETTINGS
@given(name=st.sampled_from(sorted(UNARY)), x=arrays(F64, SMALL, -3, 3))
def test_smooth_unary_ops(name: str, x: np.ndarray) -> None:
    assert gradcheck(UNARY[name], x)


@GRAD_SETTINGS
@given(name=st.sampled_from(["abs", "relu"]), x=arrays(F64, SMALL, -3, 3))
def test_abs_and_relu_away_from_their_kink(name: str, x: np.ndarray) -> None:
    assert gradcheck(lambda t: getattr(t, name)(), away_from_zero(x))


@GRAD_SETTINGS
@given(name=st.sampled_from(["log", "sqrt"]), x=arrays(F64, SMALL, 0.2, 5))
def test_log_and_sqrt_on_strictly_positive_inputs(name: str, x: np.ndarray) -> None:
    assert gradcheck(lambda t: getattr(t, name)(), x)


# ---------------------------------------------------------------- binary, broadcasting
BINARY: dict[str, Fn] = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "product chain": lambda a, b: (a - b) * (a + b) * a,
}


@GRAD_SETTINGS
@given(name=st.sampled_from(sorted(BINARY)), ab=pair())
def test_arithmetic_with_broadcasting(name: str, ab: list[np.ndarray]) -> None:
    assert gradcheck(BINARY[name], *ab)


@GRAD_SETTINGS
@given(ab=pair())
def test_divide_with_broadcasting(ab: list[np.ndarray]) -> None:
    a, b = ab
    assert gradcheck(operator.truediv, a, away_from_zero(b, 0.5))


@GRAD_SETTINGS
@given(ab=pair())
def test_power_with_broadcasting_and_a_positive_base(ab: list[np.ndarray]) -> None:
    a, b = ab
    assert gradcheck(operator.pow, np.abs(a) / 2 + 0.5, b / 2)


@GRAD_SETTINGS
@given(
    drawn=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
    name=st.sampled_from(["maximum", "minimum"]),
    data=st.data(),
)
def test_maximum_minimum_without_ties(drawn: Any, name: str, data: st.DataObject) -> None:
    # a on the odd quarter-grid, b on the half-grid: never within 0.25 of each other
    a = data.draw(hnp.arrays(F64, drawn.input_shapes[0], elements=grid(0.25)))
    b = data.draw(hnp.arrays(F64, drawn.input_shapes[1], elements=grid(0.0)))
    assert gradcheck(getattr(mt, name), a, b)


# ---------------------------------------------------------------- reductions
@st.composite
def reduction_input(draw: st.DrawFn, distinct_values: bool = False) -> tuple[np.ndarray, Any, bool]:
    shape = draw(shapes(max_dims=3, max_side=3, min_side=1))
    x = draw(distinct(shape)) if distinct_values else draw(arrays(F64, shape, -3, 3))
    return x, draw(axis_args(len(shape))), draw(st.booleans())


@GRAD_SETTINGS
@given(name=st.sampled_from(["sum", "mean"]), case=reduction_input())
def test_sum_and_mean_with_axis_and_keepdims(name: str, case: tuple[np.ndarray, Any, bool]) -> None:
    x, axis, keepdims = case
    assert gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), x)


@GRAD_SETTINGS
@given(name=st.sampled_from(["max", "min"]), case=reduction_input(distinct_values=True))
def test_max_and_min_without_ties(name: str, case: tuple[np.ndarray, Any, bool]) -> None:
    x, axis, keepdims = case
    assert gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), x)


@st.composite
def axis_input(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    x = draw(arrays(F64, shapes(min_dims=1, max_dims=3, min_side=1, max_side=3), -3, 3))
    return x, draw(st.integers(-x.ndim, x.ndim - 1))


@GRAD_SETTINGS
@given(name=st.sampled_from(["softmax", "log_softmax"]), case=axis_input())
def test_softmax_and_log_softmax(name: str, case: tuple[np.ndarray, int]) -> None:
    x, axis = case
    assert gradcheck(lambda t: getattr(t, name)(axis), x)


# ---------------------------------------------------------------- selection
@GRAD_SETTINGS
@given(
    drawn=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
    data=st.data(),
)
def test_where_with_three_way_broadcasting(drawn: Any, data: st.DataObject) -> None:
    c_shape, a_shape, b_shape = drawn.input_shapes
    condition = data.draw(hnp.arrays(np.bool_, c_shape))
    a = data.draw(arrays(F64, a_shape, -3, 3))
    b = data.draw(arrays(F64, b_shape, -3, 3))
    assert gradcheck(lambda x, y: mt.where(condition, x.tanh(), y * y), a, b)


@GRAD_SETTINGS
@given(x=hnp.arrays(F64, SMALL, elements=grid(0.25, -6, 6)))
def test_clip_away_from_its_bounds(x: np.ndarray) -> None:
    assert gradcheck(lambda t: t.clip(-1.0, 1.5), x)


# ---------------------------------------------------------------- composites
def test_gradcheck_detects_a_wrong_gradient() -> None:
    """The checker itself can fail: a deliberately wrong rule is caught."""
    x = np.array([0.5, -1.0, 2.0])

    def wrong(t: Tensor) -> Tensor:  # value x**2, but the gradient of 3x through detach
        return t.detach() * t.detach() + (t * 3 - (t * 3).detach())

    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(wrong, x)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: ((a @ b).tanh() * 2).sum(axis=0),
        lambda a, b: (a[:, None, :] * b.T[None]).mean(axis=(0, 2)),
        lambda a, b: mt.concatenate([a.reshape(-1), b.flatten()]).softmax(),
        lambda a, b: mt.stack([a.sum(axis=1), b.max(axis=0)]).log_softmax(axis=0),
        lambda a, b: (a.expand(2, 2, 3) + b.T.unsqueeze(0)).squeeze().sigmoid(),
    ],
)
def test_composite_expressions(fn: Fn) -> None:
    rng = np.random.default_rng(3)
    assert gradcheck(fn, rng.standard_normal((2, 3)), rng.standard_normal((3, 2)))


def test_gradcheck_on_float32_inputs_runs_in_float64() -> None:
    x = np.array([0.1, 0.2], np.float32)
    assert gradcheck(lambda t: (t * t).exp().sum(), x)
    assert Tensor(x).dtype == np.float32


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: t.exp() * 2,
        lambda t: t.sum(axis=0),
        lambda t: t.mean(axis=1, keepdims=True),
        lambda t: t.max(axis=1),
        lambda t: t.T @ t,
        lambda t: t.softmax(axis=0),
        lambda t: t.reshape(3, 0).transpose(),
        lambda t: t[:, [0, 0, 2]],
        lambda t: mt.concatenate([t, t * 2], axis=0),
        lambda t: t.expand(2, 0, 3),
    ],
)
def test_size_zero_inputs(fn: Fn) -> None:
    x = np.ones((0, 3))
    assert gradcheck(fn, x)
    t = Tensor(x, requires_grad=True)
    (d,) = mt.grad(fn(t), [t], grad_output=np.ones(fn(t).shape))
    assert d.shape == (0, 3) and d.data.shape == (0, 3)
