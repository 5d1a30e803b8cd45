"""Hypothesis strategies and assertions shared by the mg-tensor tests.

Importable from every test module because ``conftest.py`` puts this directory on
``sys.path``.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from mg_tensor import Tensor

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
INTS = (np.dtype(np.int32), np.dtype(np.int64))
NUMERIC = FLOATS + INTS
ALL_DTYPES = (*NUMERIC, np.dtype(np.bool_))

# Modest budgets: the whole suite must stay well under a minute or two on two cores.
# MGT_EXAMPLE_SCALE=20 (say) runs a deeper search when hunting bugs.
_SCALE = float(os.environ.get("MGT_EXAMPLE_SCALE", "1"))
SETTINGS = settings(
    max_examples=max(1, int(40 * _SCALE)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
GRAD_SETTINGS = settings(
    max_examples=max(1, int(25 * _SCALE)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ---------------------------------------------------------------- strategies
def elements(dtype: Any, low: float = -10.0, high: float = 10.0) -> st.SearchStrategy[Any]:
    """Finite scalars of ``dtype`` in ``[low, high]`` (booleans for bool)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return st.booleans()
    if dtype.kind in "iu":
        return st.integers(math.ceil(low), math.floor(high))
    lo, hi = dtype.type(low), dtype.type(high)  # bounds representable in ``dtype``
    lo = lo if lo >= low else np.nextafter(lo, dtype.type(np.inf))
    hi = hi if hi <= high else np.nextafter(hi, dtype.type(-np.inf))
    return st.floats(
        float(lo), float(hi), width=dtype.itemsize * 8, allow_nan=False, allow_infinity=False
    )


def arrays(
    dtype: Any, shape: Any, low: float = -10.0, high: float = 10.0, **kwargs: Any
) -> st.SearchStrategy[NDArray[Any]]:
    """numpy arrays of ``dtype`` (a dtype or a strategy) and ``shape`` (a tuple or a
    strategy) with bounded values."""
    if isinstance(dtype, st.SearchStrategy):
        return dtype.flatmap(lambda d: arrays(d, shape, low, high, **kwargs))
    return hnp.arrays(np.dtype(dtype), shape, elements=elements(dtype, low, high), **kwargs)


def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes, 0-d and size-0 ones included by default."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


@st.composite
def operands(
    draw: st.DrawFn,
    n: int,
    dtypes: Sequence[np.dtype[Any]] = ALL_DTYPES,
    low: float = -10.0,
    high: float = 10.0,
    min_side: int = 0,
    max_side: int = 4,
    max_dims: int = 3,
) -> list[NDArray[Any]]:
    """``n`` arrays of mutually broadcastable shapes, each of an independently drawn dtype."""
    drawn = draw(
        hnp.mutually_broadcastable_shapes(
            num_shapes=n, max_dims=max_dims, min_side=min_side, max_side=max_side
        )
    )
    return [
        draw(arrays(draw(st.sampled_from(dtypes)), shape, low, high))
        for shape in drawn.input_shapes
    ]


@st.composite
def axis_args(draw: st.DrawFn, ndim: int) -> int | tuple[int, ...] | None:
    """An ``axis`` argument valid for ``ndim``: None, an int (maybe negative) or a tuple."""
    options: list[st.SearchStrategy[Any]] = [st.none(), hnp.valid_tuple_axes(ndim)]
    if ndim:
        options.append(st.integers(-ndim, ndim - 1))
    result: int | tuple[int, ...] | None = draw(st.one_of(*options))
    return result


def grid(offset: float, low: int = -12, high: int = 12) -> st.SearchStrategy[float]:
    """Multiples of 0.5 plus ``offset``: values from ``grid(0.25)`` stay at least 0.25 away
    from every value of ``grid(0.0)``, e.g. from a kink or from the other operand."""
    return st.integers(low, high).map(lambda k: k * 0.5 + offset)


@st.composite
def distinct(draw: st.DrawFn, shape: tuple[int, ...], spacing: float = 0.25) -> NDArray[Any]:
    """A float64 array of ``shape`` whose elements are pairwise ``spacing`` apart (no ties)."""
    size = math.prod(shape)
    order = draw(st.permutations(list(range(size))))
    offset = draw(st.floats(-2, 2))
    values = np.array(order, np.float64) * spacing - size * spacing / 2 + offset
    return values.reshape(shape)


def away_from_zero(x: NDArray[Any], margin: float = 0.1) -> NDArray[Any]:
    """``x`` shifted away from 0 by ``margin`` (keeping signs): no kink of abs/relu nearby."""
    return x + np.where(x >= 0, margin, -margin)


# ---------------------------------------------------------------- numpy references
@contextmanager
def quiet() -> Iterator[None]:
    """Silence numpy's floating-point warnings (log of 0, mean of nothing...)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def numpy_result(fn: Callable[..., Any], *args: Any) -> NDArray[Any] | Exception:
    """``fn(*args)`` as an array, or the exception numpy raised."""
    try:
        with quiet():
            return np.asarray(fn(*args))
    except (TypeError, ValueError, IndexError) as exc:
        return exc


def unbroadcast(g: NDArray[Any], shape: tuple[int, ...]) -> NDArray[Any]:
    """Sum ``g`` back to ``shape`` over the axes broadcasting added or stretched."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)


# ---------------------------------------------------------------- assertions
def tolerance(dtype: np.dtype[Any]) -> dict[str, float]:
    if dtype == np.float16:
        return {"rtol": 2e-3, "atol": 2e-3}
    if dtype == np.float32:
        return {"rtol": 2e-5, "atol": 1e-6}
    return {"rtol": 1e-10, "atol": 1e-12}


def expect(t: Tensor, expected: Any, lazy: bool = True, **tol: float) -> None:
    """``t`` has numpy's shape and dtype (checked on the lazy node, before anything is
    computed), then numpy's values (exactly for integers and booleans).

    With ``lazy`` a computed ``t`` must not have been computed yet: building an op
    never runs it.
    """
    expected = np.asarray(expected)
    assert isinstance(t, Tensor), type(t)
    if lazy and t.node.op is not None:
        assert t.node.value is None, f"{t!r} was computed when it was built"
    assert t.shape == expected.shape, f"shape {t.shape}, numpy {expected.shape}"
    assert t.dtype == expected.dtype, f"dtype {t.dtype}, numpy {expected.dtype}"
    with quiet():
        value = t.data
    assert isinstance(value, np.ndarray)
    assert value.shape == expected.shape and value.dtype == expected.dtype
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(
            value, expected, equal_nan=True, **{**tolerance(expected.dtype), **tol}
        )
    else:
        np.testing.assert_array_equal(value, expected)


def location_of_next_line() -> str:
    """``file:line`` of the line after the caller's: where an error must be reported."""
    frame = sys._getframe(1)
    return f"{frame.f_code.co_filename}:{frame.f_lineno + 1}"


def count_exp(monkeypatch: Any) -> Counter[str]:
    """Count Exp kernel calls (frozen schedules bind ``kernel()``, eager calls forward)."""
    from mg_tensor.ops.unary import Exp

    calls: Counter[str] = Counter()
    forward = Exp.forward

    def counted(self: Exp, *arrays: Any, out: Any = None) -> Any:
        calls["exp"] += 1
        return forward(self, *arrays, out=out)

    monkeypatch.setattr(Exp, "forward", counted)
    monkeypatch.setattr(Exp, "kernel", lambda self: self.forward)
    return calls
