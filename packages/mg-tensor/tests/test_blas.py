"""mg_tensor.blas.gemm against numpy on strided views, transposes and size-1 axes."""

from __future__ import annotations

import numpy as np
import pytest

from mg_tensor import blas

pytestmark = pytest.mark.skipif(
    blas.gemm_kernel("f") is None, reason="numpy's BLAS is not a CBLAS-exporting OpenBLAS"
)
rng = np.random.default_rng(3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("m", "n", "k"), [(3, 5, 4), (1, 5, 4), (3, 1, 4), (3, 5, 1), (1, 1, 1)])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_gemm_matches_numpy_on_views(
    dtype: type, m: int, n: int, k: int, ta: bool, tb: bool
) -> None:
    big_a = rng.standard_normal((9, 11)).astype(dtype)
    big_b = rng.standard_normal((9, 11)).astype(dtype)
    a = big_a[1 : 1 + k, 2 : 2 + m].T if ta else big_a[1 : 1 + m, 2 : 2 + k]
    b = big_b[:n, 3 : 3 + k].T if tb else big_b[:k, 3 : 3 + n]
    buffer = rng.standard_normal((7, 12)).astype(dtype)
    c = buffer[2 : 2 + m, 4 : 4 + n]  # a window of a larger buffer (row stride 12)
    want = a @ b + 0.5 * c
    assert blas.gemm(a, b, c, beta=0.5)
    np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-5)
    assert blas.gemm(a, b, c)  # beta 0 ignores what c held
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


def test_gemm_declines_what_blas_cannot_read() -> None:
    a, b = np.ones((2, 3), np.float32), np.ones((3, 2), np.float32)
    assert not blas.gemm(a, b.astype(np.float64), np.ones((2, 2), np.float32))  # dtypes
    assert not blas.gemm(a, b, np.ones((2, 2), np.int32))  # no integer GEMM
    assert not blas.gemm(a[:, ::2], np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))
    assert not blas.gemm(a, b, np.ones((4, 4), np.float32)[::2, ::2])  # strided output
    assert not blas.gemm(a, b, np.ones((3, 3), np.float32))  # shapes
