"""``y = a * x + b * y``: numpy's OpenBLAS kernel and the ufunc fallback agree with the
formula in float64, for every coefficient an optimiser passes."""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import mg_optim.axpby as axpby_module
from mg_optim.axpby import axpby, ufunc_axpby

DTYPES = [np.float32, np.float64]
coefficient = st.sampled_from([0.0, 1.0, -1.0, 0.9, -0.05, 1e-3]) | st.floats(-4, 4)


def _pair(dtype: Any, n: int, seed: int) -> tuple[NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


def _check(fn: Any, dtype: Any, a: float, b: float, n: int, seed: int) -> None:
    x, y = _pair(dtype, n, seed)
    expected = a * x.astype(np.float64) + b * y.astype(np.float64)
    x_before = x.copy()
    fn(a, x, b, y, np.empty_like(x))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * 8)
    assert y.dtype == dtype
    np.testing.assert_array_equal(x, x_before)  # x is read only (scratch is separate)


@pytest.mark.parametrize("dtype", DTYPES)
@given(a=coefficient, b=coefficient, n=st.integers(0, 300), seed=st.integers(0, 2**16))
def test_axpby_matches_the_formula(dtype: Any, a: float, b: float, n: int, seed: int) -> None:
    _check(axpby, dtype, a, b, n, seed)


@pytest.mark.parametrize("dtype", DTYPES)
@given(a=coefficient, b=coefficient, n=st.integers(0, 300), seed=st.integers(0, 2**16))
def test_ufunc_fallback_matches_the_formula(
    dtype: Any, a: float, b: float, n: int, seed: int
) -> None:
    _check(ufunc_axpby, dtype, a, b, n, seed)


@pytest.mark.parametrize("fn", [axpby, ufunc_axpby])
def test_zero_b_does_not_read_y(fn: Any) -> None:
    x = np.arange(4, dtype=np.float32)
    y = np.full(4, np.nan, np.float32)
    fn(2.0, x, 0.0, y, np.empty_like(x))
    np.testing.assert_array_equal(y, 2 * x)


def test_scratch_may_be_x() -> None:
    x, y = _pair(np.float32, 50, 1)
    expected = 0.3 * x.astype(np.float64) + 0.7 * y
    ufunc_axpby(0.3, x, 0.7, y, x)
    np.testing.assert_allclose(y, expected, rtol=1e-6)


@given(data=hnp.arrays(np.float16, st.integers(1, 40), elements=st.floats(-8, 8, width=16)))
def test_dtypes_without_a_blas_kernel_use_ufuncs(data: NDArray[Any]) -> None:
    y = np.ones_like(data)
    axpby(0.5, data, 2.0, y, np.empty_like(data))
    np.testing.assert_allclose(y, 0.5 * data.astype(np.float64) + 2.0, rtol=2e-3, atol=2e-3)
    assert y.dtype == np.float16


def test_strided_views_use_ufuncs() -> None:
    x, y = _pair(np.float32, 40, 2)
    expected = -0.5 * x[::2].astype(np.float64) + y[::2]
    view = y[::2]
    axpby(-0.5, x[::2], 1.0, view, np.empty(20, np.float32))
    np.testing.assert_allclose(y[::2], expected, rtol=1e-6)


def test_numpys_openblas_kernels_are_found() -> None:
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    if blas.get("name") != "scipy-openblas":
        pytest.skip(f"numpy is built on {blas.get('name')}, not the wheels' scipy-openblas")
    assert set(axpby_module.KERNELS) == {"f", "d"}
