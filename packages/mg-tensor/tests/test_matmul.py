"""Matrix multiplication: numpy's rules for 1-D, 2-D and batched operands, and gradients."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import ALL_DTYPES, GRAD_SETTINGS, SETTINGS, arrays, expect

import mg_tensor as mt
from mg_graph import ShapeError
from mg_tensor import Tensor, grad
from mg_tensor.testing import gradcheck

MATMUL = np.matmul.signature  # "(n?,k),(k,m?)->(n?,m?)": 1-D operands included


@st.composite
def matmul_operands(
    draw: st.DrawFn, dtypes: tuple[np.dtype, ...] = ALL_DTYPES, min_side: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    drawn = draw(
        hnp.mutually_broadcastable_shapes(
            signature=MATMUL, max_dims=3, min_side=min_side, max_side=4
        )
    )
    a_shape, b_shape = drawn.input_shapes
    a = draw(arrays(st.sampled_from(dtypes), a_shape, low=-3, high=3))
    b = draw(arrays(st.sampled_from(dtypes), b_shape, low=-3, high=3))
    return a, b


@SETTINGS
@given(ab=matmul_operands())
def test_matmul_matches_numpy(ab: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = ab
    expected = np.matmul(a, b)
    expect(Tensor(a) @ Tensor(b), expected)
    expect(mt.matmul(Tensor(a), Tensor(b)), expected)


@SETTINGS
@given(ab=matmul_operands(dtypes=(np.dtype(np.float64),)))
def test_matmul_with_numpy_operands_on_either_side(ab: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = ab
    left = a @ Tensor(b)  # numpy defers to Tensor.__rmatmul__
    assert isinstance(left, Tensor)
    expect(left, a @ b)
    expect(Tensor(a) @ b, a @ b)


CASES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
    ((2, 3, 4), (4, 5)),
    ((2, 0, 4), (4, 5)),
    ((1, 3), (2, 3, 5)),
    ((2, 0), (0, 3)),
    ((0, 3), (3, 2)),
]


@pytest.mark.parametrize(("a_shape", "b_shape"), CASES)
def test_matmul_shapes_values_and_gradients(
    a_shape: tuple[int, ...], b_shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    expect(Tensor(a) @ Tensor(b), a @ b)
    assert gradcheck(lambda x, y: x @ y, a, b)


def test_matmul_gradients_equal_the_textbook_formulas() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 1, 3, 4)), rng.standard_normal((5, 4, 2))
    g = rng.standard_normal((2, 5, 3, 2))
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    da, db = grad(ta @ tb, [ta, tb], grad_output=g)
    # a is broadcast over the 5 batches of b, b over the 2 batches of a: sum them back
    np.testing.assert_allclose(
        da.data, (g @ np.swapaxes(b, -1, -2)).sum(axis=1, keepdims=True), rtol=1e-12
    )
    np.testing.assert_allclose(db.data, (np.swapaxes(a, -1, -2) @ g).sum(axis=0), rtol=1e-12)
    v, m = rng.standard_normal(3), rng.standard_normal((3, 4))
    tv, tm = Tensor(v, requires_grad=True), Tensor(m, requires_grad=True)
    gv, gm = grad((tv @ tm).sum(), [tv, tm])
    np.testing.assert_allclose(gv.data, m.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(gm.data, np.outer(v, np.ones(4)), rtol=1e-12)


def test_batched_times_matrix_runs_as_one_gemm_into_any_buffer() -> None:
    """(batch, length, features) @ matrix: one 2-d GEMM, also into an out= buffer or a
    frozen graph's buffer; strided operands and buffers fall back to np.matmul."""
    from mg_tensor.oplib import matmul_kernel

    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((5, 6))
    expected = np.matmul(a, b)
    np.testing.assert_allclose(matmul_kernel(a, b), expected, rtol=1e-12)
    out = np.empty((3, 4, 6))
    assert matmul_kernel(a, b, out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    strided = np.empty((3, 4, 12))[..., ::2]
    np.testing.assert_allclose(matmul_kernel(a, b, strided), expected, rtol=1e-12)
    a_t = rng.standard_normal((4, 3, 5)).transpose(1, 0, 2)
    np.testing.assert_allclose(matmul_kernel(a_t, b), np.matmul(a_t, b), rtol=1e-12)
    compiled = mt.compute_graph(lambda x, y: x @ y)
    np.testing.assert_allclose(compiled(a, b).data, expected, rtol=1e-12)

    def second_order(x: Tensor, y: Tensor) -> Tensor:
        gx, gy = grad(((x @ y) ** 2).sum(), [x, y])
        return (gx * gx).sum() + (gy * gy).sum()

    assert gradcheck(second_order, a[:2, :2, :3], b[:3, :2])


@GRAD_SETTINGS
@given(ab=matmul_operands(dtypes=(np.dtype(np.float64),), min_side=1))
def test_matmul_gradcheck(ab: tuple[np.ndarray, np.ndarray]) -> None:
    assert gradcheck(lambda x, y: x @ y, *ab)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "problem"),
    [
        ((2, 3), (4, 5), "inner dimensions differ (3 vs 4)"),
        ((3,), (4,), "inner dimensions differ (3 vs 4)"),
        ((2, 2, 3), (3, 3, 4), "batch dimensions do not broadcast"),
        ((), (3,), "at least 1-d"),
        ((3,), (), "at least 1-d"),
    ],
)
def test_matmul_shape_errors(
    a_shape: tuple[int, ...], b_shape: tuple[int, ...], problem: str
) -> None:
    a, b = Tensor(np.ones(a_shape)), Tensor(np.ones(b_shape))
    with pytest.raises(ShapeError) as err:
        a @ b
    message = str(err.value)
    assert message.startswith("matmul: ")
    assert problem in message
    assert f"{a_shape} and {b_shape}" in message
