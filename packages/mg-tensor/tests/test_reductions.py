"""Reductions (sum, mean, max, min, argmax, argmin) and softmax/log_softmax against numpy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import (
    ALL_DTYPES,
    FLOATS,
    SETTINGS,
    arrays,
    axis_args,
    expect,
    numpy_result,
    quiet,
    shapes,
)

import mg_tensor as mt
from mg_graph import ShapeError
from mg_tensor import Tensor

REDUCTIONS: dict[str, Callable[..., Any]] = {
    "sum": np.sum,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
}


@st.composite
def reduction_case(draw: st.DrawFn) -> tuple[np.ndarray, Any, bool]:
    x = draw(arrays(st.sampled_from(ALL_DTYPES), shapes(max_dims=4)))
    return x, draw(axis_args(x.ndim)), draw(st.booleans())


@SETTINGS
@given(
    name=st.sampled_from(sorted(REDUCTIONS)),
    case=reduction_case(),
    as_method=st.booleans(),
)
def test_reductions_match_numpy(
    name: str, case: tuple[np.ndarray, Any, bool], as_method: bool
) -> None:
    x, axis, keepdims = case
    expected = numpy_result(lambda a: REDUCTIONS[name](a, axis=axis, keepdims=keepdims), x)
    t = Tensor(x)

    def build() -> Tensor:
        if as_method:
            return getattr(t, name)(axis=axis, keepdims=keepdims)  # type: ignore[no-any-return]
        return getattr(mt, name)(t, axis, keepdims)  # type: ignore[no-any-return]

    if isinstance(expected, Exception):  # max/min over an empty axis
        with pytest.raises(ShapeError, match="zero-size"):
            build()
    else:
        expect(build(), expected)


@st.composite
def arg_case(draw: st.DrawFn) -> tuple[np.ndarray, int | None, bool]:
    # few distinct values, so ties are common: numpy picks the first, so must we
    x = draw(arrays(st.sampled_from(ALL_DTYPES), shapes(max_dims=3), low=-2, high=2))
    axis = draw(st.none() | st.integers(-x.ndim, x.ndim - 1)) if x.ndim else None
    return x, axis, draw(st.booleans())


@SETTINGS
@given(name=st.sampled_from(["argmax", "argmin"]), case=arg_case())
def test_argmax_argmin_match_numpy(name: str, case: tuple[np.ndarray, Any, bool]) -> None:
    x, axis, keepdims = case
    expected = numpy_result(lambda a: getattr(np, name)(a, axis=axis, keepdims=keepdims), x)
    if isinstance(expected, Exception):  # nothing to choose from along that axis
        with pytest.raises(ShapeError, match="empty"):
            getattr(Tensor(x), name)(axis=axis, keepdims=keepdims)
    else:
        expect(getattr(Tensor(x), name)(axis=axis, keepdims=keepdims), expected)
        expect(getattr(mt, name)(Tensor(x), axis, keepdims), expected)


def test_argmax_of_empty_rows_is_empty_like_numpy() -> None:
    x = np.ones((0, 3))
    expect(Tensor(x).argmax(axis=1), np.argmax(x, axis=1))
    with pytest.raises(ShapeError):
        Tensor(x).argmax(axis=0)
    with pytest.raises(ShapeError):
        Tensor(x).argmin()


def test_reduction_examples() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = Tensor(x)
    expect(t.sum(), x.sum())
    expect(t.sum(axis=(0, 2)), x.sum(axis=(0, 2)))
    expect(t.sum(axis=[0, 2]), x.sum(axis=(0, 2)))
    expect(t.mean(axis=-1, keepdims=True), x.mean(axis=-1, keepdims=True))
    expect(t.max(axis=1), x.max(axis=1))
    expect(t.min(axis=(1, -1), keepdims=True), x.min(axis=(1, 2), keepdims=True))
    expect(t.sum(axis=()), x.sum(axis=()))
    expect(Tensor(np.array(5.0)).sum(), np.array(5.0))
    expect(Tensor(np.ones((0, 3))).sum(axis=0), np.zeros(3))
    assert Tensor(np.arange(4, dtype=np.int32)).sum().dtype == np.int64  # as numpy
    assert Tensor([True, True, False]).sum().item() == 2


# ---------------------------------------------------------------- softmax
def softmax_ref(x: np.ndarray, axis: int) -> np.ndarray:
    with quiet():
        return _softmax_ref(x, axis)


def _softmax_ref(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_ref(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    with quiet():
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@st.composite
def softmax_case(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    x = draw(arrays(st.sampled_from(FLOATS), shapes(min_dims=1, max_dims=3)))
    return x, draw(st.integers(-x.ndim, x.ndim - 1))


@SETTINGS
@given(case=softmax_case())
def test_softmax_and_log_softmax_match_numpy(case: tuple[np.ndarray, int]) -> None:
    x, axis = case
    t = Tensor(x)
    expect(t.softmax(axis), softmax_ref(x, axis))
    expect(mt.softmax(t, axis), softmax_ref(x, axis))
    expect(t.log_softmax(axis), log_softmax_ref(x, axis))
    expect(mt.log_softmax(t, axis), log_softmax_ref(x, axis))
    if x.size:
        np.testing.assert_allclose(t.softmax(axis).data.sum(axis=axis), 1, rtol=1e-5)


def test_softmax_is_stable_for_huge_logits() -> None:
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]], np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        p = Tensor(x).softmax().data
        logp = Tensor(x).log_softmax().data
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-7)
    np.testing.assert_allclose(logp, [[0, -2000, -1000], [-np.log(3)] * 3], rtol=1e-6)
    assert p.dtype == logp.dtype == np.float32


def test_softmax_default_axis_is_last() -> None:
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    expect(Tensor(x).softmax(), softmax_ref(x, -1))
    expect(Tensor(x).log_softmax(), log_softmax_ref(x, -1))


def test_softmax_over_an_empty_axis_is_empty() -> None:
    x = np.ones((3, 0))
    expect(Tensor(x).softmax(axis=1), x)
    expect(Tensor(x).log_softmax(axis=1), x)
    expect(Tensor(np.ones((0, 4))).softmax(axis=1), np.ones((0, 4)))
