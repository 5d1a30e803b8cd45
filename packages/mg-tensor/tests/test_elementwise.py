"""Elementwise ops against numpy: arithmetic, reflected forms, unary maths, comparisons."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import (
    ALL_DTYPES,
    FLOATS,
    NUMERIC,
    SETTINGS,
    arrays,
    expect,
    numpy_result,
    operands,
    quiet,
    shapes,
)

import mg_tensor as mt
from mg_graph import DTypeError
from mg_tensor import Tensor

Fn = Callable[..., Any]

# name -> (Macrograd form, numpy reference)
ARITHMETIC: dict[str, tuple[Fn, Fn]] = {
    "add": (operator.add, np.add),
    "subtract": (operator.sub, np.subtract),
    "multiply": (operator.mul, np.multiply),
    "divide": (operator.truediv, np.true_divide),
    "maximum": (mt.maximum, np.maximum),
    "minimum": (mt.minimum, np.minimum),
}
COMPARISONS: dict[str, tuple[Fn, Fn]] = {
    "less": (operator.lt, np.less),
    "less_equal": (operator.le, np.less_equal),
    "greater": (operator.gt, np.greater),
    "greater_equal": (operator.ge, np.greater_equal),
    "equal": (operator.eq, np.equal),
    "not_equal": (operator.ne, np.not_equal),
}


def check_binary(ours: Fn, theirs: Fn, a: np.ndarray, b: np.ndarray) -> None:
    expected = numpy_result(theirs, a, b)
    if isinstance(expected, Exception):  # e.g. numpy refuses subtract on booleans
        with pytest.raises(DTypeError):
            ours(Tensor(a), Tensor(b))
    else:
        expect(ours(Tensor(a), Tensor(b)), expected)


# ---------------------------------------------------------------- binary
@SETTINGS
@given(name=st.sampled_from(sorted(ARITHMETIC)), ab=operands(2))
def test_arithmetic_broadcasts_like_numpy(name: str, ab: list[np.ndarray]) -> None:
    check_binary(*ARITHMETIC[name], *ab)


@SETTINGS
@given(ab=operands(2, dtypes=ALL_DTYPES, low=0, high=3))
def test_power_matches_numpy(ab: list[np.ndarray]) -> None:
    # non-negative, small operands: integer powers neither overflow nor go negative
    check_binary(operator.pow, np.power, *ab)


@SETTINGS
@given(name=st.sampled_from(sorted(COMPARISONS)), ab=operands(2, low=-2, high=2))
def test_comparisons_are_boolean_like_numpy(name: str, ab: list[np.ndarray]) -> None:
    ours, theirs = COMPARISONS[name]
    result = ours(Tensor(ab[0]), Tensor(ab[1]))
    assert result.dtype == np.bool_
    expect(result, theirs(*ab))


@SETTINGS
@given(
    name=st.sampled_from(sorted(COMPARISONS)),
    x=arrays(
        st.sampled_from([np.uint8, np.int8, np.int32, np.int64, np.float32]), shapes(), 0, 100
    ),
    scalar=st.integers(-300, 300) | st.integers(-(2**40), 2**40),
    reflected=st.booleans(),
)
def test_comparisons_with_out_of_range_python_ints_match_numpy(
    name: str, x: np.ndarray, scalar: int, reflected: bool
) -> None:
    ours, theirs = COMPARISONS[name]
    if reflected:
        expect(ours(scalar, Tensor(x)), theirs(scalar, x))
    else:
        expect(ours(Tensor(x), scalar), theirs(x, scalar))


def test_arithmetic_with_an_out_of_range_python_int_overflows_like_numpy() -> None:
    with pytest.raises(OverflowError):
        np.ones(2, np.int8) + 1000
    with pytest.raises(OverflowError):
        Tensor(np.ones(2, np.int8)) + 1000
    with pytest.raises(OverflowError):
        1000 * Tensor(np.ones(2, np.uint8))


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparison_functions_match_operators(name: str) -> None:
    x = np.array([1.0, 2.0, 3.0])
    fn = getattr(mt, name)
    expect(fn(Tensor(x), 2.0), COMPARISONS[name][1](x, 2.0))
    expect(fn(2.0, Tensor(x)), COMPARISONS[name][1](2.0, x))


@SETTINGS
@given(
    name=st.sampled_from(sorted(ARITHMETIC)),
    x=arrays(st.sampled_from(NUMERIC), shapes()),
    y=arrays(np.float64, shapes()),
)
def test_operands_can_be_numpy_arrays_on_either_side(
    name: str, x: np.ndarray, y: np.ndarray
) -> None:
    ours, theirs = ARITHMETIC[name]
    expected = numpy_result(theirs, y, x)
    if isinstance(expected, Exception):
        return
    left = ours(y, Tensor(x))  # numpy array on the left: numpy defers to the Tensor
    right = ours(Tensor(y), x)
    assert isinstance(left, Tensor) and isinstance(right, Tensor)
    expect(left, expected)
    expect(right, expected)


@pytest.mark.parametrize(
    ("expression", "reference"),
    [
        (lambda t: np.ones(3) + t, lambda x: np.ones(3) + x),
        (lambda t: np.ones(3) - t, lambda x: np.ones(3) - x),
        (lambda t: np.full(3, 2.0) * t, lambda x: np.full(3, 2.0) * x),
        (lambda t: np.ones(3) / t, lambda x: np.ones(3) / x),
        (lambda t: np.full(3, 2.0) ** t, lambda x: np.full(3, 2.0) ** x),
        (lambda t: np.ones((2, 3)) @ t, lambda x: np.ones((2, 3)) @ x),
        (lambda t: np.ones(3) < t, lambda x: np.ones(3) < x),
        (lambda t: np.ones(3) >= t, lambda x: np.ones(3) >= x),
        (lambda t: np.ones(3) == t, lambda x: np.ones(3) == x),
    ],
)
def test_numpy_array_on_the_left_gives_a_tensor(expression: Fn, reference: Fn) -> None:
    x = np.array([0.5, 1.0, 3.0], np.float32)
    result = expression(Tensor(x))
    assert isinstance(result, Tensor)
    expect(result, reference(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_reflected_scalar_forms(dtype: type) -> None:
    x = np.array([0, 1, 2, 3], dtype)
    t = Tensor(x)
    expect(-1 * t, -1 * x)
    expect(1 - t, 1 - x)
    expect(2**t, 2**x)
    expect(3 + t, 3 + x)
    expect(10 / (t + 1), 10 / (x + 1))
    expect(t - 1, x - 1)
    expect(t**2, x**2)
    expect(2.5 * t, 2.5 * x)
    expect(-t, -x)


@SETTINGS
@given(
    name=st.sampled_from([*sorted(ARITHMETIC), "power"]),
    x=arrays(st.sampled_from(ALL_DTYPES), shapes(), low=0, high=3),
    scalar=st.one_of(st.integers(0, 3), st.floats(0, 3), st.booleans()),
    reflected=st.booleans(),
)
def test_python_scalars_on_either_side_match_numpy(
    name: str, x: np.ndarray, scalar: Any, reflected: bool
) -> None:
    ours, theirs = ARITHMETIC.get(name, (operator.pow, np.power))
    if reflected:
        expected = numpy_result(lambda a: theirs(scalar, a), x)
        call = lambda: ours(scalar, Tensor(x))  # noqa: E731
    else:
        expected = numpy_result(lambda a: theirs(a, scalar), x)
        call = lambda: ours(Tensor(x), scalar)  # noqa: E731
    if isinstance(expected, Exception):
        with pytest.raises(DTypeError):
            call()
    else:
        expect(call(), expected)


# ---------------------------------------------------------------- unary
def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


# name -> (Macrograd form, numpy reference, dtypes numpy defines it for here)
UNARY: dict[str, tuple[Fn, Fn, tuple[np.dtype[Any], ...]]] = {
    "negative": (operator.neg, np.negative, ALL_DTYPES),
    "exp": (lambda t: t.exp(), np.exp, ALL_DTYPES),
    "tanh": (lambda t: t.tanh(), np.tanh, ALL_DTYPES),
    "abs": (lambda t: t.abs(), np.abs, ALL_DTYPES),
    "builtin abs": (abs, np.abs, NUMERIC),
    "sigmoid": (lambda t: t.sigmoid(), sigmoid, NUMERIC),
    "relu": (lambda t: t.relu(), lambda x: np.maximum(x, 0), NUMERIC),
    "module exp": (mt.exp, np.exp, FLOATS),
    "module tanh": (mt.tanh, np.tanh, FLOATS),
    "module sigmoid": (mt.sigmoid, sigmoid, FLOATS),
    "module relu": (mt.relu, lambda x: np.maximum(x, 0), FLOATS),
    "module absolute": (mt.absolute, np.abs, FLOATS),
    "module negative": (mt.negative, np.negative, FLOATS),
}
POSITIVE_UNARY: dict[str, tuple[Fn, Fn]] = {
    "log": (lambda t: t.log(), np.log),
    "sqrt": (lambda t: t.sqrt(), np.sqrt),
    "module log": (mt.log, np.log),
    "module sqrt": (mt.sqrt, np.sqrt),
}


@SETTINGS
@given(data=st.data(), name=st.sampled_from(sorted(UNARY)))
def test_unary_ops_match_numpy(data: st.DataObject, name: str) -> None:
    ours, theirs, dtypes = UNARY[name]
    x = data.draw(arrays(data.draw(st.sampled_from(dtypes)), shapes()))
    check_unary(ours, theirs, x)


@SETTINGS
@given(
    name=st.sampled_from(sorted(POSITIVE_UNARY)),
    x=arrays(st.sampled_from(NUMERIC), shapes(), low=1e-3, high=100),
)
def test_log_and_sqrt_match_numpy_on_their_domain(name: str, x: np.ndarray) -> None:
    check_unary(*POSITIVE_UNARY[name], x)


def check_unary(ours: Fn, theirs: Fn, x: np.ndarray) -> None:
    expected = numpy_result(theirs, x)
    if isinstance(expected, Exception):  # numpy has no negative of a boolean
        with pytest.raises(DTypeError):
            ours(Tensor(x))
    else:
        expect(ours(Tensor(x)), expected)


def test_log_and_sqrt_outside_their_domain_behave_like_numpy() -> None:
    x = np.array([0.0, -1.0, 4.0])
    with pytest.warns(RuntimeWarning):  # numpy's warning is kept, not swallowed
        log = Tensor(x).log().data
    np.testing.assert_array_equal(log, [-np.inf, np.nan, np.log(4.0)])
    with quiet():
        sqrt = Tensor(x).sqrt().data
    np.testing.assert_array_equal(sqrt, [0.0, np.nan, 2.0])


def test_sigmoid_and_tanh_saturate_without_overflow() -> None:
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow anywhere
        s = Tensor(x).sigmoid().data
        t = Tensor(x).tanh().data
    np.testing.assert_array_equal(s, np.array([0, 0, 0.5, 1, 1], np.float32))
    np.testing.assert_array_equal(t, np.array([-1, -1, 0, 1, 1], np.float32))
    assert s.dtype == np.float32


def test_exp_overflows_to_inf_like_numpy() -> None:
    with quiet():
        value = Tensor(np.array([100.0], np.float32)).exp().data
        expected = np.exp(np.array([100.0], np.float32))
    assert np.isinf(value[0]) and value.dtype == np.float32
    np.testing.assert_array_equal(value, expected)


def test_unary_plus_is_the_same_tensor() -> None:
    t = Tensor([1.0, -2.0])
    assert +t is t


def test_relu_values() -> None:
    np.testing.assert_array_equal(
        Tensor([-2.0, -0.0, 0.0, 3.0]).relu().data, np.array([0, 0, 0, 3], np.float32)
    )


def test_ops_on_empty_and_zero_d_tensors() -> None:
    empty = np.ones((0, 3), np.float32)
    scalar = np.array(2.0)
    expect(Tensor(empty) * Tensor(np.ones(3, np.float32)), empty * np.ones(3, np.float32))
    expect(Tensor(empty).exp(), np.exp(empty))
    expect(Tensor(scalar) + Tensor(np.ones((2, 1))), scalar + np.ones((2, 1)))
    expect(Tensor(scalar) ** 3, scalar**3)
    expect(Tensor(scalar) > 1, scalar > 1)
