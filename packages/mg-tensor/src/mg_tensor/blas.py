"""numpy's own OpenBLAS, called directly for what ``np.matmul`` cannot say.

numpy's PyPI wheels carry OpenBLAS, whose CBLAS interface is exported under a
``scipy_`` prefix with 64-bit integers. We call it through ctypes on the library numpy
has already loaded, so it shares numpy's BLAS threads and settings (threadpoolctl
limits apply). Two things ``np.matmul`` lacks are the reason: an accumulating GEMM
(``C = alpha * A @ B + beta * C``, so a sum of products needs no temporaries) and
operands that are arbitrary strided 2-d views of a larger buffer (a convolution's
shifted windows), read in place.

Where numpy's BLAS is not such an OpenBLAS (a conda numpy on MKL, a source build),
`gemm_kernel` returns None and callers use their numpy path.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

# (symbol prefix, suffix, C integer type), most specific first
SYMBOLS = (("scipy_cblas_", "64_", ctypes.c_int64), ("cblas_", "64_", ctypes.c_int64))
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


@functools.cache
def numpy_openblas() -> ctypes.CDLL | None:
    """The OpenBLAS bundled with numpy's wheel (Linux, macOS, Windows layouts)."""
    root = os.path.dirname(np.__file__)
    for folder in (os.path.join(root, os.pardir, "numpy.libs"), os.path.join(root, ".dylibs")):
        for path in sorted(glob.glob(os.path.join(folder, "*openblas*"))):
            try:
                return ctypes.CDLL(path)
            except OSError:
                continue
    return None


def cblas(name: str, argtypes: list[Any]) -> Any:
    """The CBLAS function ``name`` (e.g. "saxpby") of numpy's OpenBLAS, typed with
    ``argtypes`` (``int`` stands for its integer type); None if there is none."""
    lib = numpy_openblas()
    if lib is None:
        return None
    for prefix, suffix, integer in SYMBOLS:
        fn = getattr(lib, f"{prefix}{name}{suffix}", None)
        if fn is not None:
            fn.restype = None
            fn.argtypes = [integer if t is int else t for t in argtypes]
            return fn
    return None


@functools.cache
def _thread_calls() -> tuple[Any, Any] | None:
    lib = numpy_openblas()
    get = getattr(lib, "scipy_openblas_get_num_threads64_", None)
    put = getattr(lib, "scipy_openblas_set_num_threads64_", None)
    if get is None or put is None:
        return None
    get.restype, get.argtypes = ctypes.c_int, []
    put.restype, put.argtypes = None, [ctypes.c_int]
    return get, put


def threads() -> int:
    """How many threads numpy's OpenBLAS uses now (1 when it is not numpy's OpenBLAS).

    >>> threads() >= 1
    True
    """
    calls = _thread_calls()
    return 1 if calls is None else max(1, int(calls[0]()))


def set_threads(n: int) -> None:
    """Let numpy's OpenBLAS use ``n`` threads (nothing when it is not numpy's OpenBLAS).

    >>> before = threads(); set_threads(1); threads()
    1
    >>> set_threads(before)
    """
    calls = _thread_calls()
    if calls is not None:
        calls[1](int(n))


@functools.cache
def gemm_kernel(char: str) -> Any:
    """cblas_sgemm / cblas_dgemm for dtype.char "f" / "d"; None if unavailable."""
    letter, real = {"f": ("s", ctypes.c_float), "d": ("d", ctypes.c_double)}.get(char, ("", None))
    if not letter:
        return None
    p = ctypes.c_void_p
    return cblas(
        f"{letter}gemm", [int, int, int, int, int, int, real, p, int, p, int, real, p, int]
    )


def _operand(a: NDArray[Any]) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) for a 2-d view BLAS can read in place."""
    item, (rows, cols) = a.itemsize, a.shape
    s0 = item * cols if rows == 1 else a.strides[0]  # the stride of a length-1 axis
    s1 = item if cols == 1 else a.strides[1]  # is arbitrary: pick one BLAS accepts
    if s1 == item and s0 % item == 0 and s0 >= item * cols:
        return _NO_TRANS, s0 // item
    s0 = item if rows == 1 else a.strides[0]
    s1 = item * rows if cols == 1 else a.strides[1]
    if s0 == item and s1 % item == 0 and s1 >= item * rows:
        return _TRANS, s1 // item
    return None


def gemm(a: NDArray[Any], b: NDArray[Any], c: NDArray[Any], beta: float = 0.0) -> bool:
    """``c = a @ b + beta * c`` in place, for 2-d views of one float dtype whose rows
    (or columns) are contiguous with any row stride; False (and nothing done) when BLAS
    cannot take them, so the caller can use numpy.

    >>> a, c = np.ones((2, 3), np.float32), np.ones((2, 2), np.float32)
    >>> gemm(a, np.ones((3, 2), np.float32), c, beta=1.0) or (a @ np.ones((3, 2)) + c)
    True
    >>> c
    array([[4., 4.],
           [4., 4.]], dtype=float32)
    """
    kernel = gemm_kernel(c.dtype.char)
    if kernel is None or not a.dtype == b.dtype == c.dtype or not c.flags.writeable:
        return False
    if c.ndim != 2 or a.shape[0] != c.shape[0] or b.shape[1] != c.shape[1]:
        return False
    ta, tb, tc = _operand(a), _operand(b), _operand(c)
    if ta is None or tb is None or tc is None or tc[0] != _NO_TRANS:
        return False
    m, n, k = c.shape[0], c.shape[1], a.shape[1]
    if not (m and n and k):
        return False
    ldc = tc[1]
    kernel(_ROW_MAJOR, ta[0], tb[0], m, n, k, 1.0, a.ctypes.data, ta[1], b.ctypes.data, tb[1],
           beta, c.ctypes.data, ldc)  # fmt: skip
    return True
