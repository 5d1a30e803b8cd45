"""Symbolic reverse mode: ``grad`` and ``Tensor.backprop`` semantics, documented subgradients,
a hand-derived two-layer network and a 10,000-op chain."""

from __future__ import annotations

import sys

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import GRAD_SETTINGS, SETTINGS, arrays, unbroadcast

import mg_tensor as mt
from mg_graph import GradientError, Graph
from mg_tensor import Tensor, grad

F64 = np.float64


# ---------------------------------------------------------------- grad
@st.composite
def broadcast_pair(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    drawn = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=0))
    a = draw(arrays(F64, drawn.input_shapes[0], low=-3, high=3))
    b = draw(arrays(F64, drawn.input_shapes[1], low=-3, high=3))
    g = draw(arrays(F64, drawn.result_shape, low=-3, high=3))
    return a, b, g


@SETTINGS
@given(case=broadcast_pair())
def test_broadcast_gradients_are_summed_back_to_each_input_shape(
    case: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    a, b, g = case
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    da, db = grad(ta * tb + ta - tb, [ta, tb], grad_output=g)
    assert da.shape == a.shape and db.shape == b.shape
    assert da.dtype == db.dtype == F64
    full_a, full_b = np.broadcast_arrays(a, b)
    np.testing.assert_allclose(da.data, unbroadcast(g * full_b + g, a.shape), atol=1e-12)
    np.testing.assert_allclose(db.data, unbroadcast(g * full_a - g, b.shape), atol=1e-12)


def test_gradient_of_a_scalar_broadcast_over_a_matrix() -> None:
    s = Tensor(np.array(2.0), requires_grad=True)
    m = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    ds, dm = grad((s * m).sum(), [s, m])
    assert ds.shape == () and dm.shape == (2, 3)
    assert ds.item() == 15.0
    np.testing.assert_array_equal(dm.data, np.full((2, 3), 2.0))


def test_an_input_the_output_does_not_depend_on_is_an_error_unless_allow_unused() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    unused = Tensor(np.ones((3, 2), np.float32), requires_grad=True, name="unused")
    constant = Tensor(np.arange(3))
    with pytest.raises(GradientError, match=r"input 1 \(unused \(3, 2\)\)") as info:
        grad((x * x).sum(), [x, unused, constant])
    assert "allow_unused=True" in str(info.value) and __file__ in str(info.value)
    dx, du, dc = grad((x * x).sum(), [x, unused, constant], allow_unused=True)
    assert dx is not None and du is None and dc is None
    np.testing.assert_array_equal(dx.data, [2.0, 4.0])


def test_grad_of_a_dot_grad_explains_the_snapshot() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x**3).sum().backprop()
    assert x.grad is not None
    with pytest.raises(GradientError, match="snapshot") as info:
        grad(x.grad.sum(), [x])
    assert "grad(grad(y, [x])[0].sum(), [x])" in str(info.value)


def test_integer_and_boolean_paths_carry_no_gradient() -> None:
    x = Tensor(np.array([-1.5, 0.5, 2.5]), requires_grad=True)
    through_int = x.astype(np.int64).astype(F64) * 10
    assert grad(through_int.sum(), [x], allow_unused=True) == [None]
    # comparisons are boolean: only the live factor x differentiates
    (d,) = grad((x * (x > 0)).sum(), [x])
    np.testing.assert_array_equal(d.data, [0.0, 1.0, 1.0])
    assert grad((x > 0).astype(F64).sum(), [x], allow_unused=True) == [None]
    # an integer index computed from x (argmax) carries nothing either
    (d,) = grad(x[x.argmax()] * 3, [x])
    np.testing.assert_array_equal(d.data, [0.0, 0.0, 3.0])


def test_gradient_dtype_follows_the_input() -> None:
    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = (x * np.array([3.0, 4.0])).sum()  # a float64 operand promotes the output
    assert y.dtype == F64
    (d,) = grad(y, [x])
    assert d.dtype == np.float32
    np.testing.assert_array_equal(d.data, np.array([3.0, 4.0], np.float32))


def test_grad_output_seeds_a_vector_jacobian_product() -> None:
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    v = np.array([1.0, -1.0, 0.5])
    (d,) = grad(x * x, [x], grad_output=v)
    np.testing.assert_array_equal(d.data, 2 * np.array([1.0, 2.0, 3.0]) * v)
    (d,) = grad(x * x, [x], grad_output=Tensor(v))
    np.testing.assert_array_equal(d.data, 2 * np.array([1.0, 2.0, 3.0]) * v)


def test_gradient_with_respect_to_an_intermediate_tensor() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    y = (h * h).sum() + x.sum()
    dh, dx = grad(y, [h, x])
    np.testing.assert_array_equal(dh.data, 2 * np.array([3.0, 6.0]))
    np.testing.assert_array_equal(dx.data, 6 * np.array([3.0, 6.0]) + 1)


def test_gradient_of_the_output_itself_is_the_seed() -> None:
    x = Tensor(np.array(3.0), requires_grad=True)
    (d,) = grad(x, [x])
    assert d.item() == 1.0


def test_gradients_are_lazy_nodes_of_the_same_graph(graph: Graph) -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x.exp() * x).sum()
    before = len(graph)
    (d,) = grad(y, [x])
    assert len(graph) > before and d.graph is graph
    assert d.is_gradient and not y.is_gradient
    assert d.node.value is None and y.node.value is None  # nothing computed yet
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(d.data, e * np.array([2.0, 3.0]))


def test_non_scalar_output_without_grad_output_is_an_error() -> None:
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(GradientError, match=r"output has shape \(2, 2\)"):
        grad(x * 2, [x])
    (d,) = grad((x * 2)[0:1, 0:1], [x])  # one element is fine: it is a scalar in all but shape
    np.testing.assert_array_equal(d.data, [[2.0, 0.0], [0.0, 0.0]])


def test_stop_gradient() -> None:
    x = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    (d,) = grad((mt.stop_gradient(x) * x).sum(), [x])
    np.testing.assert_array_equal(d.data, [2.0, 3.0])


# ---------------------------------------------------------------- documented subgradients
def one_grad(fn, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    t = Tensor(x, requires_grad=True)
    (d,) = grad(fn(t), [t])
    return d.data


def test_max_and_min_ties_share_the_gradient_equally() -> None:
    np.testing.assert_array_equal(
        one_grad(lambda t: t.max(), np.array([1.0, 3.0, 3.0])), [0, 0.5, 0.5]
    )
    np.testing.assert_array_equal(
        one_grad(lambda t: t.min(), np.array([1.0, 3.0, 1.0])), [0.5, 0, 0.5]
    )
    np.testing.assert_allclose(one_grad(lambda t: t.max(), np.full(3, 2.0)), np.full(3, 1 / 3))
    x = np.array([[1.0, 5.0, 5.0], [2.0, 0.0, -1.0]])
    np.testing.assert_array_equal(
        one_grad(lambda t: (t.max(axis=1) * np.array([1.0, 10.0])).sum(), x),
        [[0, 0.5, 0.5], [10, 0, 0]],
    )
    np.testing.assert_array_equal(
        one_grad(lambda t: t.max(axis=0, keepdims=True).sum(), np.array([[4.0, 1.0], [4.0, 2.0]])),
        [[0.5, 0], [0.5, 1]],
    )


def test_relu_and_abs_have_zero_gradient_at_zero() -> None:
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(one_grad(lambda t: t.relu().sum(), x), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(one_grad(lambda t: t.abs().sum(), x), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(one_grad(lambda t: abs(t).sum(), x), [-1.0, 0.0, 1.0])


def test_maximum_and_minimum_ties_split_the_gradient_in_half() -> None:
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array([1.0, 3.0, 2.0]), requires_grad=True)
    da, db = grad(mt.maximum(a, b).sum(), [a, b])
    np.testing.assert_array_equal(da.data, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(db.data, [0.5, 1.0, 0.0])
    da, db = grad(mt.minimum(a, b).sum(), [a, b])
    np.testing.assert_array_equal(da.data, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(db.data, [0.5, 0.0, 1.0])
    # against a broadcast scalar the shares add up over the broadcast axis
    (da,) = grad(mt.maximum(a, 2.0).sum(), [a])
    np.testing.assert_array_equal(da.data, [0.0, 0.5, 1.0])


def test_log_and_sqrt_gradients_on_their_domain() -> None:
    x = np.array([0.25, 1.0, 4.0])
    np.testing.assert_allclose(one_grad(lambda t: t.log().sum(), x), 1 / x)
    np.testing.assert_allclose(one_grad(lambda t: t.sqrt().sum(), x), 0.5 / np.sqrt(x))


# ---------------------------------------------------------------- backprop
def test_backprop_sets_realized_grads_of_every_parameter(graph: Graph) -> None:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
    b = Tensor(np.array(0.5), requires_grad=True, name="b")
    idle = Tensor(np.array([7.0]), requires_grad=True)  # not used by the loss
    c = Tensor(np.array([3.0, 4.0]))
    loss = ((w * c + b) ** 2).sum()
    loss.backprop()
    assert isinstance(w.grad, Tensor) and isinstance(b.grad, Tensor)
    assert w.grad.node.value is not None  # realized by backprop itself
    assert "not computed" not in repr(w.grad)
    z = np.array([1.0, 2.0]) * np.array([3.0, 4.0]) + 0.5
    np.testing.assert_array_equal(w.grad.data, 2 * z * np.array([3.0, 4.0]))
    assert b.grad.shape == () and b.grad.item() == 2 * z.sum()
    assert c.grad is None and idle.grad is None
    assert loss.node.value is not None  # the loss itself is computed too


def test_backprop_overwrites_instead_of_accumulating(graph: Graph) -> None:
    w = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    loss = (w * w).sum()
    loss.backprop()
    first = w.grad.data.copy()
    loss.backprop()
    loss.backprop()
    np.testing.assert_array_equal(w.grad.data, first)  # still 2w, not 6w
    np.testing.assert_array_equal(first, [2.0, -4.0])
    other = (w * 3).sum()
    mt.backprop(other)  # another output replaces the gradient (function form)
    np.testing.assert_array_equal(w.grad.data, [3.0, 3.0])


def test_repeated_backprop_adds_no_nodes_and_follows_assign(graph: Graph) -> None:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x = Tensor(np.array([3.0, -1.0]))
    loss = ((w * x).tanh()).sum()
    loss.backprop()
    assert w.grad is not None
    grad_node = w.grad.node
    size = len(graph)
    ids = {n.id for n in graph.nodes}  # the graph holds nodes weakly: compare identities too
    for value in ([0.5, 0.25], [-1.0, 3.0], [0.0, 0.0]):
        w.assign(value)
        loss.realize()  # computed again with the new weights
        loss.backprop()
        assert len(graph) == size
        assert {n.id for n in graph.nodes} == ids
        assert w.grad.node is grad_node  # the same gradient node, recomputed
        z = np.array(value) * np.array([3.0, -1.0])
        np.testing.assert_allclose(w.grad.data, (1 - np.tanh(z) ** 2) * np.array([3.0, -1.0]))
        np.testing.assert_allclose(loss.data, np.tanh(z).sum())


def test_backprop_with_grad_output_reuses_its_nodes(graph: Graph) -> None:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = w * w
    y.backprop(np.array([1.0, 0.0]))
    np.testing.assert_array_equal(w.grad.data, [2.0, 0.0])
    ids = {n.id for n in graph.nodes}
    y.backprop(np.array([0.0, 3.0]))
    np.testing.assert_array_equal(w.grad.data, [0.0, 12.0])
    assert {n.id for n in graph.nodes} == ids


# ---------------------------------------------------------------- a two-layer network
def test_two_layer_network_matches_hand_derived_gradients() -> None:
    rng = np.random.default_rng(0)
    n, d, h, k = 8, 5, 7, 3
    x = rng.standard_normal((n, d))
    labels = rng.integers(0, k, n)
    y = np.eye(k)[labels]
    w1, b1 = rng.standard_normal((d, h)) * 0.5, rng.standard_normal(h) * 0.1
    w2, b2 = rng.standard_normal((h, k)) * 0.5, rng.standard_normal(k) * 0.1

    params = [Tensor(p, requires_grad=True) for p in (w1, b1, w2, b2)]
    tw1, tb1, tw2, tb2 = params
    logits = (Tensor(x) @ tw1 + tb1).relu() @ tw2 + tb2
    loss = -(Tensor(y) * logits.log_softmax(axis=1)).sum(axis=1).mean()
    loss.backprop()

    # by hand
    pre = x @ w1 + b1
    hidden = np.maximum(pre, 0)
    z = hidden @ w2 + b2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected_loss = -np.log(p[np.arange(n), labels]).mean()
    dz = (p - y) / n
    dw2, db2 = hidden.T @ dz, dz.sum(axis=0)
    dpre = (dz @ w2.T) * (pre > 0)
    dw1, db1 = x.T @ dpre, dpre.sum(axis=0)

    np.testing.assert_allclose(loss.data, expected_loss, rtol=1e-12)
    for param, expected in zip(params, (dw1, db1, dw2, db2), strict=True):
        assert param.grad is not None
        assert param.grad.shape == expected.shape
        np.testing.assert_allclose(param.grad.data, expected, rtol=1e-10, atol=1e-12)

    # the same network with softmax + log, the README's spelling
    probs = ((Tensor(x) @ tw1 + tb1).relu() @ tw2 + tb2).softmax(axis=1)
    naive = -(Tensor(y) * probs.log()).sum() / n
    (g_w1,) = grad(naive, [tw1])
    np.testing.assert_allclose(g_w1.data, dw1, rtol=1e-8, atol=1e-12)


# ---------------------------------------------------------------- long chains
def test_ten_thousand_op_chain_realizes_and_differentiates() -> None:
    limit = sys.getrecursionlimit()
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0  # 10,000 steps of two ops each
    assert y.node.value is None
    factor = 1.0001**10_000
    np.testing.assert_allclose(y.data, np.array([1.0, 2.0]) * factor, rtol=1e-10)
    loss = y.sum()
    loss.backprop()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, np.full(2, factor), rtol=1e-10)
    (d,) = grad(loss, [x])
    np.testing.assert_allclose(d.data, np.full(2, factor), rtol=1e-10)
    # the linear chain's gradient is a constant: nothing flows back to x a second time
    assert grad(d.sum(), [x], allow_unused=True) == [None]
    assert sys.getrecursionlimit() == limit


def test_long_chain_of_alternating_ops() -> None:
    x = Tensor(np.array([0.3, -0.2]), requires_grad=True)
    y = x
    reference = np.array([0.3, -0.2])
    slope = np.ones(2)
    for i in range(2500):  # four ops per step
        if i % 2:
            slope = slope * (1 - np.tanh(reference) ** 2) * 0.9
            reference = np.tanh(reference) * 0.9 + 0.01
            y = y.tanh() * 0.9 + 0.01
        else:
            slope = slope * 1.05
            reference = (reference * 1.05 - 0.001) * 1.0
            y = (y * 1.05 - 0.001) * 1.0
    np.testing.assert_allclose(y.data, reference, rtol=1e-9)
    (d,) = grad(y.sum(), [x])
    np.testing.assert_allclose(d.data, slope, rtol=1e-9)


@GRAD_SETTINGS
@given(x=arrays(F64, (3,), low=-2, high=2))
def test_gradient_of_a_shared_subexpression_adds_up(x: np.ndarray) -> None:
    t = Tensor(x, requires_grad=True)
    e = t.exp()
    y = (e * e + e).sum()  # e is used three times
    (d,) = grad(y, [t])
    np.testing.assert_allclose(d.data, 2 * np.exp(2 * x) + np.exp(x), rtol=1e-12)
