"""Higher-order derivatives: gradients are graph nodes, so they differentiate again."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import GRAD_SETTINGS, arrays, shapes

import mg_tensor as mt
from mg_tensor import Tensor, grad
from mg_tensor.testing import gradcheck

F64 = np.float64


@GRAD_SETTINGS
@given(x=arrays(F64, shapes(max_dims=2, max_side=4), -3, 3))
def test_second_and_third_derivatives_of_a_cube(x: np.ndarray) -> None:
    t = Tensor(x, requires_grad=True)
    (d1,) = grad((t**3).sum(), [t])
    (d2,) = grad(d1.sum(), [t])
    (d3,) = grad(d2.sum(), [t])
    np.testing.assert_allclose(d1.data, 3 * x**2, rtol=1e-12)
    np.testing.assert_allclose(d2.data, 6 * x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d3.data, np.full(x.shape, 6.0), rtol=1e-12)


def test_second_derivative_in_float32_is_six_x() -> None:
    x = Tensor([1.0, 2.0, -0.5], requires_grad=True)
    (dx,) = grad((x**3).sum(), [x])
    (d2x,) = grad(dx.sum(), [x])
    assert d2x.dtype == np.float32
    np.testing.assert_allclose(d2x.data, np.array([6.0, 12.0, -3.0], np.float32))


def mlp_loss(w: Tensor, x: np.ndarray, y: np.ndarray, hidden: int) -> Tensor:
    """A tanh MLP's mean squared error; all parameters packed in one flat vector ``w``."""
    d, k = x.shape[1], y.shape[1]
    sizes = [d * hidden, hidden, hidden * k, k]
    bounds = np.cumsum([0, *sizes])
    w1 = w[bounds[0] : bounds[1]].reshape(d, hidden)
    b1 = w[bounds[1] : bounds[2]]
    w2 = w[bounds[2] : bounds[3]].reshape(hidden, k)
    b2 = w[bounds[3] : bounds[4]]
    out = (Tensor(x) @ w1 + b1).tanh() @ w2 + b2
    return ((out - Tensor(y)) ** 2).mean()


def test_hessian_vector_product_of_an_mlp_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    n, d, hidden, k = 6, 3, 4, 2
    x, y = rng.standard_normal((n, d)), rng.standard_normal((n, k))
    size = d * hidden + hidden + hidden * k + k
    w0 = rng.standard_normal(size) * 0.7
    v = rng.standard_normal(size)

    w = Tensor(w0.copy(), requires_grad=True)
    loss = mlp_loss(w, x, y, hidden)
    (g,) = grad(loss, [w])
    (hvp,) = grad((g * v).sum(), [w])
    assert hvp.shape == w.shape and hvp.dtype == F64
    symbolic = hvp.data.copy()

    def gradient_at(point: np.ndarray) -> np.ndarray:
        w.assign(point)  # the same graph, brought up to date with the new parameters
        return g.realize().data.copy()

    eps = 1e-5
    numeric = (gradient_at(w0 + eps * v) - gradient_at(w0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(symbolic, numeric, rtol=1e-6, atol=1e-8)
    assert np.abs(symbolic).max() > 1e-3  # a real, non-trivial curvature

    # and against the full Hessian built row by row from the same graph
    w.assign(w0)
    g.realize()
    rows = []
    for i in range(size):
        (row,) = grad(g[i], [w])
        rows.append(row.data)
    hessian = np.stack(rows)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-12)  # symmetric
    np.testing.assert_allclose(hessian @ v, symbolic, rtol=1e-10, atol=1e-12)


SECOND_ORDER: dict[str, Callable[[Tensor], Tensor]] = {
    "exp": lambda t: t.exp(),
    "log": lambda t: (t * t + 1).log(),
    "sqrt": lambda t: (t * t + 1).sqrt(),
    "tanh": lambda t: t.tanh(),
    "sigmoid": lambda t: t.sigmoid(),
    "softmax": lambda t: t.softmax(axis=-1),
    "log_softmax": lambda t: t.log_softmax(axis=0),
    "divide": lambda t: 1 / (t * t + 1),
    "power": lambda t: (t * t + 1) ** (t * 0.3),
    "matmul": lambda t: t @ t.T,
    "gather": lambda t: t[np.array([0, 0, 1])] * t[[1, 1, 0]],
    "index": lambda t: t[1:, None] * t[:-1],
    "mean": lambda t: t.mean(axis=0) * t,
    "max": lambda t: t.max(axis=1, keepdims=True) * t,
    "relu": lambda t: t.relu() * t,
    "abs": lambda t: t.abs() * t,
    "maximum": lambda t: mt.maximum(t, t * 0.5 + 0.1) ** 2,
    "where": lambda t: mt.where(t > 0, t * t, t * 3),
    "clip": lambda t: t.clip(-0.5, 0.5) * t,
    "concatenate": lambda t: mt.concatenate([t, t * t], axis=0),
    "expand": lambda t: t.sum(axis=0, keepdims=True).expand(t.shape) * t,
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_gradients_of_gradients_pass_gradcheck(name: str) -> None:
    fn = SECOND_ORDER[name]
    # away from every kink (0, +-0.5 and the maximum's crossing at 0.2)
    x = np.array([[0.7, -1.3, 0.3, 1.1], [-0.8, 0.9, -0.35, 2.0]])

    def first_derivative(t: Tensor) -> Tensor:
        out = fn(t)
        (d,) = grad((out * out).sum(), [t])
        return d

    assert gradcheck(first_derivative, x)


@GRAD_SETTINGS
@given(x=arrays(F64, (3,), -2, 2), v=arrays(F64, (3,), -2, 2), data=st.data())
def test_hessian_vector_product_of_a_quartic(
    x: np.ndarray, v: np.ndarray, data: st.DataObject
) -> None:
    a = data.draw(arrays(F64, (3, 3), -1, 1))
    t = Tensor(x, requires_grad=True)
    loss = ((Tensor(a) @ t) ** 4).sum()
    (g,) = grad(loss, [t])
    (hvp,) = grad((g * v).sum(), [t])
    # H = A^T diag(12 (A x)^2) A
    expected = a.T @ (12 * (a @ x) ** 2 * (a @ v))
    np.testing.assert_allclose(hvp.data, expected, rtol=1e-9, atol=1e-9)
