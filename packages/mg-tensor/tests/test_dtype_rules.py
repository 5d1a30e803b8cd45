"""Dtype rules (tensor.py): construction defaults, weak Python scalars as in numpy 2, and
every op's inferred shape and dtype equal to numpy's, known before anything runs."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import ALL_DTYPES, SETTINGS, arrays, expect, numpy_result, quiet, shapes

import mg_tensor as mt
from mg_graph import DTypeError, GraphError
from mg_tensor import Tensor, as_array

# a wider set than the value tests use: inference costs nothing
WIDE_DTYPES = (*ALL_DTYPES, np.dtype(np.float16), np.dtype(np.int8), np.dtype(np.uint8))


# ---------------------------------------------------------------- construction
@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        ([[1, 2], [3, 4]], np.float32),  # Python numbers default to float32
        ([1.5, 2.5], np.float32),
        (3, np.float32),
        (2.5, np.float32),
        ([], np.float32),
        ([True, False], np.bool_),
        (True, np.bool_),
        (np.arange(3), np.int64),  # numpy arrays keep their dtype
        (np.arange(3, dtype=np.int32), np.int32),
        (np.ones(2), np.float64),
        (np.ones(2, np.float16), np.float16),
        (np.float64(2.0), np.float64),  # so do numpy scalars
        (np.int8(3), np.int8),
        (np.ones(2, bool), np.bool_),
    ],
)
def test_construction_dtype_defaults(data: Any, dtype: type) -> None:
    t = Tensor(data)
    assert t.dtype == dtype
    assert as_array(data).dtype == dtype
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype))


def test_an_explicit_dtype_wins() -> None:
    assert Tensor([1, 2], dtype=np.int32).dtype == np.int32
    assert Tensor(np.ones(2), dtype=np.float32).dtype == np.float32
    assert Tensor(1, dtype=bool).dtype == np.bool_


def test_construction_copies_numpy_data() -> None:
    x = np.ones(3)
    t = Tensor(x)
    x[0] = 5.0
    np.testing.assert_array_equal(t.data, np.ones(3))


def test_non_numeric_data_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot make a tensor"):
        Tensor(["a", "b"])
    with pytest.raises(TypeError, match="requires_grad needs a floating dtype"):
        Tensor(np.arange(3), requires_grad=True)


# ---------------------------------------------------------------- weak scalars
@pytest.mark.parametrize(
    ("dtype", "build", "expected"),
    [
        (np.float32, lambda t: t * 2, np.float32),
        (np.float32, lambda t: t * 2.5, np.float32),
        (np.float32, lambda t: 2**t, np.float32),
        (np.float32, lambda t: 1 - t, np.float32),
        (np.float16, lambda t: t + 1.0, np.float16),
        (np.int32, lambda t: t + 1, np.int32),
        (np.int32, lambda t: -1 * t, np.int32),
        (np.int32, lambda t: t / 2, np.float64),  # int / int is true division
        (np.int64, lambda t: t / 2, np.float64),
        (np.int32, lambda t: t * 2.5, np.float64),  # a float scalar changes the kind
        (np.int8, lambda t: t + 1, np.int8),
        (np.bool_, lambda t: t + 1, np.int64),
        (np.bool_, lambda t: t * 1.5, np.float64),
        (np.bool_, lambda t: t * True, np.bool_),
        (np.float32, lambda t: t + np.float64(1), np.float64),  # numpy scalars are strong
        (np.float32, lambda t: np.float64(1) * t, np.float64),
        (np.float32, lambda t: t + np.ones(1), np.float64),  # so are numpy arrays
        (np.float64, lambda t: t + [1, 2, 3], np.float64),  # noqa: RUF005
        (np.int32, lambda t: mt.add(t, [1, 2, 3]), np.float64),  # a list is float32 data
        (np.float32, lambda t: mt.maximum(t, 0), np.float32),
        (np.int32, lambda t: mt.where(t > 0, t, 0), np.int32),
    ],
)
def test_python_scalars_are_weak(dtype: type, build: Callable[[Any], Any], expected: type) -> None:
    t = Tensor(np.array([1, 2, 3], dtype))
    result = build(t)
    assert result.dtype == expected
    assert result.data.dtype == expected


@SETTINGS
@given(
    x=arrays(st.sampled_from(ALL_DTYPES), shapes(max_dims=2), low=0, high=3),
    ops=st.sampled_from(
        [
            (operator.add, np.add),
            (operator.sub, np.subtract),
            (operator.mul, np.multiply),
            (operator.truediv, np.true_divide),
            # the ufunc, not numpy's ``**``: ndarray.__pow__ takes a shortcut through
            # np.square for ``** 2``, which gives int8 for booleans where np.power gives int64
            (operator.pow, np.power),
        ]
    ),
    scalar=st.one_of(st.integers(0, 3), st.floats(0, 3), st.booleans()),
    reflected=st.booleans(),
)
def test_scalar_promotion_matches_numpy_2(
    x: np.ndarray, ops: tuple[Callable[..., Any], np.ufunc], scalar: Any, reflected: bool
) -> None:
    op, ufunc = ops
    ours = (lambda: op(scalar, Tensor(x))) if reflected else (lambda: op(Tensor(x), scalar))
    expected = numpy_result(
        (lambda a: ufunc(scalar, a)) if reflected else (lambda a: ufunc(a, scalar)), x
    )
    if isinstance(expected, Exception):
        with pytest.raises(DTypeError):
            ours()
    else:
        expect(ours(), expected)


# ---------------------------------------------------------------- astype
@SETTINGS
@given(
    x=arrays(st.sampled_from(ALL_DTYPES), shapes(), low=-100, high=100),
    dtype=st.sampled_from(WIDE_DTYPES),
)
def test_astype_matches_numpy(x: np.ndarray, dtype: np.dtype[Any]) -> None:
    expected = x.astype(dtype)
    t = Tensor(x)
    result = t.astype(dtype)
    if dtype == x.dtype:
        assert result is t  # no node for a no-op cast
    expect(result, expected, lazy=False)
    expect(mt.astype(t, dtype), expected, lazy=False)


def test_astype_gradient_comes_back_in_the_input_dtype() -> None:
    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    (dx,) = mt.grad((x.astype(np.float64) * 3).sum(), [x])
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx.data, np.array([3, 3], np.float32))


# ---------------------------------------------------------------- inference, before anything runs
Fn = Callable[..., Any]
# name -> (arity, Macrograd form, numpy reference)
OPS: dict[str, tuple[int, Fn, Fn]] = {
    "add": (2, operator.add, np.add),
    "subtract": (2, operator.sub, np.subtract),
    "multiply": (2, operator.mul, np.multiply),
    "divide": (2, operator.truediv, np.true_divide),
    "power": (2, operator.pow, np.power),
    "maximum": (2, mt.maximum, np.maximum),
    "minimum": (2, mt.minimum, np.minimum),
    "less": (2, operator.lt, np.less),
    "equal": (2, operator.eq, np.equal),
    "greater_equal": (2, operator.ge, np.greater_equal),
    "where": (3, lambda c, a, b: mt.where(c, a, b), np.where),
    "negative": (1, operator.neg, np.negative),
    "exp": (1, mt.exp, np.exp),
    "log": (1, mt.log, np.log),
    "sqrt": (1, mt.sqrt, np.sqrt),
    "abs": (1, mt.absolute, np.abs),
    "tanh": (1, mt.tanh, np.tanh),
    "relu": (1, mt.relu, lambda x: np.maximum(x, 0)),
    "sum": (1, lambda t: t.sum(axis=-1), lambda x: x.sum(axis=-1)),
    "mean": (1, lambda t: t.mean(keepdims=True), lambda x: x.mean(keepdims=True)),
    "max": (1, lambda t: t.max(axis=0), lambda x: x.max(axis=0)),
    "min": (1, lambda t: t.min(axis=(0, -1)), lambda x: x.min(axis=(0, -1))),
    "argmax": (1, lambda t: t.argmax(axis=-1), lambda x: x.argmax(axis=-1)),
    "argmin": (1, lambda t: t.argmin(), lambda x: x.argmin()),
    "reshape": (1, lambda t: t.reshape(-1, 1), lambda x: x.reshape(-1, 1)),
    "transpose": (1, lambda t: t.T, lambda x: x.T),
    "index": (1, lambda t: t[None, ::-1], lambda x: x[None, ::-1]),
    "gather": (1, lambda t: t[[0, 0]], lambda x: x[[0, 0]]),
    "concatenate": (2, lambda a, b: mt.concatenate([a, b]), lambda a, b: np.concatenate([a, b])),
    "stack": (2, lambda a, b: mt.stack([a, b], -1), lambda a, b: np.stack([a, b], -1)),
    "astype": (1, lambda t: t.astype(np.float16), lambda x: x.astype(np.float16)),
}


@SETTINGS
@given(name=st.sampled_from(sorted(OPS)), data=st.data())
def test_inferred_shape_and_dtype_equal_numpy_before_computing(
    name: str, data: st.DataObject
) -> None:
    arity, ours, theirs = OPS[name]
    shape = data.draw(shapes(min_dims=1, max_dims=3, min_side=1))
    dtypes = [data.draw(st.sampled_from(WIDE_DTYPES)) for _ in range(arity)]
    if name == "where":
        dtypes[0] = np.dtype(np.bool_)
    operands = [np.zeros(shape, d) for d in dtypes]
    expected = numpy_result(theirs, *operands)
    # the operands are themselves lazy (``t[...]`` is a view node), so inference cannot
    # peek at any value
    tensors = [Tensor(np.zeros(shape, d))[...] for d in dtypes]
    if isinstance(expected, Exception):
        with pytest.raises(GraphError):
            ours(*tensors)
        return
    result = ours(*tensors)
    assert result.shape == expected.shape
    assert result.dtype == expected.dtype
    assert result.node.value is None and "not computed" in repr(result)
    with quiet():  # log(0)
        assert result.data.dtype == expected.dtype  # and the kernel agrees with the rule


@SETTINGS
@given(
    drawn=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=0),
    dtypes=st.tuples(st.sampled_from(WIDE_DTYPES), st.sampled_from(WIDE_DTYPES)),
)
def test_broadcast_shapes_are_inferred_on_lazy_operands(
    drawn: Any, dtypes: tuple[np.dtype[Any], np.dtype[Any]]
) -> None:
    # both operands are themselves lazy results: nothing is computed to infer the sum
    a = Tensor(np.zeros(drawn.input_shapes[0], dtypes[0])).reshape(drawn.input_shapes[0])
    b = Tensor(np.zeros(drawn.input_shapes[1], dtypes[1]))[...]
    expected = numpy_result(np.multiply, np.zeros(a.shape, a.dtype), np.zeros(b.shape, b.dtype))
    if isinstance(expected, Exception):
        with pytest.raises(DTypeError):
            a * b
        return
    product = a * b
    assert product.shape == drawn.result_shape == expected.shape
    assert product.dtype == expected.dtype
    assert b.node.value is None and product.node.value is None
