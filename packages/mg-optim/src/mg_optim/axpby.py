"""``y = a * x + b * y`` in place, in one pass over memory.

An optimiser step is memory-bound, and numpy has no fused multiply-add ufunc: written
with ufuncs, ``y = a * x + b * y`` takes three passes (``y *= b``, ``s = a * x``,
``y += s``) and moves ten arrays' worth of bytes where one pass moves three. numpy's
PyPI wheels carry OpenBLAS, whose CBLAS interface has exactly this operation
(``cblas_?axpby``), exported under a ``scipy_`` prefix with 64-bit integers. We call it
through ctypes on the library numpy has already loaded, so it shares numpy's BLAS
threads and settings (threadpoolctl limits apply). Measured on the README's MLP
(2.9M float32 parameters): an SGD-momentum step went from 1.8 to 1.1 ms on its own, and
from 2.3 to 1.5 ms inside a training step (benchmarks/README.md).

Where numpy's BLAS is not such an OpenBLAS (a conda numpy on MKL, a source build), the
same update runs on ufuncs, with the same results up to rounding (the BLAS kernel may
fuse the multiply and the add).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mg_tensor.blas import cblas

_Kernel = Callable[[int, float, int, int, float, int, int], None]


def _find_kernels() -> dict[str, _Kernel]:
    kernels: dict[str, _Kernel] = {}
    for char, letter, real in (("f", "s", ctypes.c_float), ("d", "d", ctypes.c_double)):
        p = ctypes.c_void_p
        fn = cblas(f"{letter}axpby", [int, real, p, int, real, p, int])
        if fn is None:
            return {}
        kernels[char] = fn
    return kernels


KERNELS: dict[str, _Kernel] = _find_kernels()  # dtype.char -> BLAS axpby; empty if none


def axpby(a: float, x: NDArray[Any], b: float, y: NDArray[Any], scratch: NDArray[Any]) -> None:
    """Set ``y = a * x + b * y`` in place; ``x``, ``y`` and ``scratch`` are contiguous
    arrays of one shape and dtype. ``scratch`` is working memory for the ufunc fallback
    and may be ``x`` itself when ``x`` is not needed afterwards. As in BLAS, ``b == 0``
    does not read ``y``.

    >>> y = np.ones(3, np.float32)
    >>> axpby(2.0, np.arange(3, dtype=np.float32), 0.5, y, np.empty(3, np.float32))
    >>> y
    array([0.5, 2.5, 4.5], dtype=float32)
    """
    kernel = KERNELS.get(y.dtype.char)
    if (
        kernel is not None
        and x.dtype == y.dtype
        and x.size == y.size
        and x.flags.c_contiguous
        and y.flags.c_contiguous
        and y.flags.writeable
    ):
        kernel(y.size, a, x.ctypes.data, 1, b, y.ctypes.data, 1)
        return
    ufunc_axpby(a, x, b, y, scratch)


def ufunc_axpby(
    a: float, x: NDArray[Any], b: float, y: NDArray[Any], scratch: NDArray[Any]
) -> None:
    """`axpby` with numpy ufuncs only (the fallback, and the yardstick in tests)."""
    if b == 0.0:
        np.multiply(x, a, out=y)
        return
    if b != 1.0:
        np.multiply(y, b, out=y)
    if a == 1.0:
        np.add(y, x, out=y)
    elif a == -1.0:
        np.subtract(y, x, out=y)
    elif a != 0.0:
        np.multiply(x, a, out=scratch)
        np.add(y, scratch, out=y)
