"""Edge cases of the issue-13 op families: erf's accuracy and tails, gradients at zeros
and kinks, overflow, empty axes, wrong uses; hypothesis for the shape ops' shapes."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import SETTINGS, expect, quiet

import mg_tensor as mt
from mg_graph import ShapeError
from mg_tensor import Tensor, grad
from mg_tensor.testing import gradcheck


def test_erf_matches_math_erf() -> None:
    x = np.concatenate(
        [
            np.linspace(-7, 7, 20001),
            [0.0, -0.0, 1e-300, -1e-300, 1e-10, 1.9999999, 2.0, 2.0000001, 26.0, -40.0],
        ]
    )
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(mt.erf(Tensor(x)).data, expected, rtol=1e-14, atol=1e-300)
    x32 = x.astype(np.float32)
    ours32 = mt.erf(Tensor(x32)).data
    assert ours32.dtype == np.float32
    np.testing.assert_allclose(ours32, np.array([math.erf(v) for v in x32], np.float32), rtol=1e-6)


def test_erf_special_values() -> None:
    out = mt.erf(Tensor(np.array([np.inf, -np.inf, np.nan]))).data
    np.testing.assert_array_equal(out[:2], [1.0, -1.0])
    assert np.isnan(out[2])
    assert mt.erf(Tensor(np.array([0, 1]))).dtype == np.float64  # ints -> float, as np.sin


def test_float_tests_see_nan_and_inf() -> None:
    x = np.array([1.0, np.nan, np.inf, -np.inf])
    for name in ("isnan", "isinf", "isfinite"):
        expect(getattr(mt, name)(Tensor(x)), getattr(np, name)(x))


def test_prod_gradient_is_exact_at_zeros() -> None:
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]])
    t = Tensor(x, requires_grad=True)
    (g,) = grad(mt.prod(t, axis=1).sum(), [t])
    expected = np.array([[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]])
    np.testing.assert_array_equal(g.data, expected)
    assert gradcheck(lambda v: mt.prod(v, axis=(0, 1)), x)


def test_norm_gradient_at_zero_is_zero() -> None:
    t = Tensor(np.zeros((2, 3)), requires_grad=True)
    for p in (2, 1, 3):
        (g,) = grad(mt.norm(t, p, axis=1).sum(), [t])
        np.testing.assert_array_equal(g.data, np.zeros((2, 3)))


def test_logsumexp_is_stable() -> None:
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0], [-np.inf, -np.inf]])
    out = mt.logsumexp(Tensor(x), axis=1).data
    np.testing.assert_allclose(out[:2], [1000 + math.log(2), -1000 + math.log(2)])
    assert out[2] == -np.inf
    t = Tensor(x[:2], requires_grad=True)
    (g,) = grad(mt.logsumexp(t, axis=1).sum(), [t])
    np.testing.assert_allclose(g.data, np.full((2, 2), 0.5))
    assert mt.logsumexp(Tensor(np.zeros((2, 0))), axis=1).data.tolist() == [-np.inf, -np.inf]


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "sign", "floor_divide"])
def test_piecewise_constant_ops_have_zero_gradient(name: str) -> None:
    t = Tensor(np.array([0.3, 1.7, -2.2]), requires_grad=True)
    fn = getattr(mt, name)
    out = fn(t, 2.0) if name == "floor_divide" else fn(t)
    (g,) = grad((out * t).sum(), [t])  # d/dt (f(t) * t) = f(t) when f' = 0
    np.testing.assert_array_equal(g.data, out.data)


def test_cumprod_gradient_matches_differences_away_from_zero() -> None:
    x = np.array([[0.5, -1.5, 2.0], [1.2, 0.7, -0.9]])
    assert gradcheck(lambda t: mt.cumprod(t, axis=1), x)
    assert gradcheck(lambda t: mt.cumsum(t, axis=0), x)


def _cumprod_grad_ref(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The product rule written out along the last axis: d/dx_k of sum_j g_j * prod_{i<=j}
    x_i is sum_{j>=k} g_j * prod_{i<=j, i != k} x_i."""
    n = x.shape[-1]
    dx = np.zeros_like(x)
    for k in range(n):
        for j in range(k, n):
            others = np.prod(np.delete(x[..., : j + 1], k, axis=-1), axis=-1)
            dx[..., k] += g[..., j] * others
    return dx


ZEROS = np.array(
    [
        [0.0, 1.5, 2.0, -0.5, 0.8],  # a zero first
        [1.2, 0.0, -0.9, 0.0, 1.1],  # two zeros
        [0.7, 1.1, -1.3, 2.0, 0.0],  # a zero last
        [1.3, -0.8, 0.6, 0.9, 1.4],  # none
        [0.0, 0.0, 0.0, 0.0, 0.0],  # only zeros
    ]
)


@pytest.mark.parametrize("axis", [0, 1])
def test_cumprod_gradient_is_exact_at_zeros(axis: int) -> None:
    """PyTorch's gradient, not the NaN/inf of dividing by the input."""
    x = ZEROS if axis == 1 else ZEROS.T.copy()
    g = np.cos(np.arange(x.size)).reshape(x.shape)
    t = Tensor(x, requires_grad=True)
    (dx,) = grad((mt.cumprod(t, axis=axis) * Tensor(g)).sum(), [t])
    want = _cumprod_grad_ref(x, g) if axis == 1 else _cumprod_grad_ref(x.T, g.T).T
    np.testing.assert_allclose(dx.data, want, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda u: mt.cumprod(u, axis=axis), x)


@pytest.mark.parametrize("axis", [0, 1])
def test_cumprod_second_derivative_at_zeros(axis: int) -> None:
    x = ZEROS if axis == 1 else ZEROS.T.copy()
    g = np.sin(np.arange(x.size)).reshape(x.shape)

    def first(u: Tensor) -> Tensor:
        (d,) = grad((mt.cumprod(u, axis=axis) * g).sum(), [u])
        return d

    assert gradcheck(first, x)


def test_var_of_too_few_elements_is_nan_or_inf_as_numpy() -> None:
    with quiet():
        expect(mt.var(Tensor(np.array([1.0])), correction=1), np.var(np.array([1.0]), ddof=1))
        expect(mt.var(Tensor(np.zeros((0, 2))), axis=0), np.var(np.zeros((0, 2)), axis=0))


def test_one_hot_checks_the_classes() -> None:
    expect(mt.one_hot(Tensor(np.array([3, 1]))), np.eye(4, dtype=np.int64)[[3, 1]], lazy=False)
    with pytest.raises(IndexError, match="one_hot"):
        _ = mt.one_hot(Tensor(np.array([3, 1])), 3).data


@pytest.mark.parametrize(
    ("equation", "shapes"),
    [
        ("ii->i", [(3, 3)]),
        ("ii->", [(3, 3)]),
        ("iij->ji", [(2, 2, 3)]),
        ("iii->i", [(2, 2, 2)]),
        ("ii,ij->j", [(3, 3), (3, 2)]),
        ("ij,jj->ij", [(2, 3), (3, 3)]),
    ],
)
def test_einsum_gradient_through_a_diagonal(equation: str, shapes: list[tuple[int, ...]]) -> None:
    """The gradient lands on the diagonal (zero elsewhere), first and second order."""
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s) for s in shapes]
    expect(mt.einsum(equation, *map(Tensor, arrays)), np.einsum(equation, *arrays))
    assert gradcheck(lambda *ts: mt.einsum(equation, *ts), *arrays)

    def first(*ts: Tensor) -> Tensor:
        return grad((mt.einsum(equation, *ts) ** 2).sum(), [ts[0]])[0]

    assert gradcheck(first, *arrays)


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge", "wrap"])
def test_pad_modes_match_numpy_with_gradients(mode: str) -> None:
    x = np.random.default_rng(0).standard_normal((3, 4))
    widths = ((2, 1), (3, 0))
    expect(mt.pad(Tensor(x), widths, mode=mode), np.pad(x, widths, mode=mode))
    assert gradcheck(lambda t: mt.pad(t, widths, mode=mode), x)


def test_pad_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        mt.pad(Tensor([1.0]), 1, mode="mean")
    with pytest.raises(ShapeError, match="pad"):
        mt.pad(Tensor([1.0]), 1, mode="reflect")


# ---------------------------------------------------------------- shapes, with hypothesis
@SETTINGS
@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6)),
    data=st.data(),
)
def test_split_chunk_and_array_split_cover_the_axis(x: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    size = data.draw(st.integers(1, 7))
    pieces = mt.split(Tensor(x), size, axis)
    assert [p.shape[axis] for p in pieces] == ([min(size, n - s) for s in range(0, n, size)] or [0])
    chunks = data.draw(st.integers(1, 7))
    expected_len = -(-n // chunks) if n else 0
    assert all(p.shape[axis] <= max(expected_len, 0) for p in mt.chunk(Tensor(x), chunks, axis))
    joined = mt.cat(mt.chunk(Tensor(x), chunks, axis), axis)
    np.testing.assert_array_equal(joined.data, x)
    k = data.draw(st.integers(1, 5))
    for ours, theirs in zip(
        mt.array_split(Tensor(x), k, axis), np.array_split(x, k, axis), strict=True
    ):
        np.testing.assert_array_equal(ours.data, theirs)


@SETTINGS
@given(
    x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)),
    data=st.data(),
)
def test_rearranging_ops_match_numpy(x: np.ndarray, data: st.DataObject) -> None:
    reps = data.draw(st.lists(st.integers(0, 3), min_size=0, max_size=4))
    expect(mt.tile(Tensor(x), tuple(reps)), np.tile(x, tuple(reps)), lazy=False)
    repeats = data.draw(st.integers(0, 3))
    expect(mt.repeat(Tensor(x), repeats), np.repeat(x, repeats), lazy=False)
    expect(mt.flip(Tensor(x)), np.flip(x), lazy=False)
    shift = data.draw(st.integers(-5, 5))
    expect(mt.roll(Tensor(x), shift), np.roll(x, shift), lazy=False)
    if x.ndim:
        axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
        expect(mt.repeat(Tensor(x), repeats, axis), np.repeat(x, repeats, axis), lazy=False)
        expect(mt.roll(Tensor(x), shift, axis), np.roll(x, shift, axis), lazy=False)
        expect(mt.flip(Tensor(x), axis), np.flip(x, axis), lazy=False)
        expect(mt.cumsum(Tensor(x), axis), np.cumsum(x, axis), lazy=False)
        widths = data.draw(
            st.lists(
                st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=x.ndim, max_size=x.ndim
            )
        )
        expect(
            mt.pad(Tensor(x), widths, constant_values=1.5),
            np.pad(x, widths, constant_values=1.5),
            lazy=False,
        )
    if x.ndim >= 2:
        k = data.draw(st.integers(-3, 3))
        expect(mt.tril(Tensor(x), k), np.tril(x, k), lazy=False)
        expect(mt.triu(Tensor(x), k), np.triu(x, k), lazy=False)


@SETTINGS
@given(data=st.data())
def test_einsum_of_two_operands_matches_numpy(data: st.DataObject) -> None:
    """Random equations (batch, free, contracted and summed-away letters, size-1
    broadcasting): the matmul form and numpy's einsum agree, values and gradients."""
    letters = "abcde"
    sizes = {c: data.draw(st.integers(1, 3)) for c in letters}
    la = "".join(data.draw(st.permutations(letters))[: data.draw(st.integers(0, 4))])
    lb = "".join(data.draw(st.permutations(letters))[: data.draw(st.integers(0, 4))])
    present = sorted(set(la + lb))
    lo = "".join(c for c in data.draw(st.permutations(present)) if data.draw(st.booleans()))
    shape_a = tuple(1 if data.draw(st.booleans()) and c in lb else sizes[c] for c in la)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(tuple(sizes[c] for c in lb))
    equation = f"{la},{lb}->{lo}"
    expect(mt.einsum(equation, Tensor(a), Tensor(b)), np.einsum(equation, a, b))
    assert gradcheck(lambda x, y: mt.einsum(equation, x, y), a, b)


def test_degenerate_reductions_build_gradients() -> None:
    with quiet():
        t = Tensor(np.array([2.0]), requires_grad=True)
        (g,) = grad(mt.var(t, correction=1), [t])
        assert np.isnan(g.data).all()  # 0 * inf, as the variance itself is nan
        e = Tensor(np.zeros((0, 3)), requires_grad=True)
        (g,) = grad(mt.prod(e, axis=1).sum() + mt.prod(e, axis=0).sum(), [e])
        assert g.shape == (0, 3)
