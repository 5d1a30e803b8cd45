"""Losses and dropout: numpy references, stability, gradchecks, frozen-graph behaviour."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import mg_nn
from mg_graph import DTypeError, ShapeError, topo_order
from mg_nn import Dropout, F, Linear, Sequential
from mg_tensor import Tensor, compute_graph, grad
from mg_tensor.testing import gradcheck

rng = np.random.default_rng(99)
REDUCTIONS = ["mean", "sum", "none"]


def log_softmax_reference(x: Any) -> Any:
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def reduce_reference(loss: Any, reduction: str) -> Any:
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


def op_names(t: Tensor) -> list[str]:
    """The ops ``t`` is computed from."""
    return [n.op.name for n in topo_order([t.node]) if n.op is not None]


# ----------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_class_indices(reduction: str) -> None:
    x = rng.standard_normal((6, 4))
    t = np.array([0, 3, 1, 1, 2, 3])
    expected = reduce_reference(-log_softmax_reference(x)[np.arange(6), t], reduction)
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), t, reduction=reduction).data, expected)
    assert gradcheck(lambda x: F.cross_entropy(x, t, reduction=reduction), x)
    logits = Tensor(x, requires_grad=True)
    (g,) = grad(F.cross_entropy(logits, t, reduction=reduction).sum(), [logits])
    softmax = np.exp(log_softmax_reference(x))
    scale = 1 / 6 if reduction == "mean" else 1.0
    np.testing.assert_allclose(g.data, (softmax - np.eye(4)[t]) * scale, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_probabilities(reduction: str) -> None:
    x = rng.standard_normal((5, 3))
    p = rng.dirichlet(np.ones(3), 5)
    expected = reduce_reference(-(p * log_softmax_reference(x)).sum(1), reduction)
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), p, reduction=reduction).data, expected)
    assert gradcheck(lambda x, p: F.cross_entropy(x, p, reduction=reduction), x, p)
    one_hot = np.eye(3)[[2, 0, 1, 1, 0]]
    np.testing.assert_allclose(
        F.cross_entropy(Tensor(x), one_hot, reduction=reduction).data,
        F.cross_entropy(Tensor(x), np.array([2, 0, 1, 1, 0]), reduction=reduction).data,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_second_derivatives(reduction: str) -> None:
    x = rng.standard_normal((4, 3))
    t = np.array([2, 0, 1, 2])
    p = rng.dirichlet(np.ones(3), 4)
    v = rng.standard_normal(4)

    def by_index(x: Tensor) -> Tensor:
        return grad(F.cross_entropy(x, t, reduction=reduction).sum(), [x])[0]

    def by_probability(x: Tensor, p: Tensor) -> Tensor:
        return grad(F.cross_entropy(x, p, reduction=reduction).sum(), [x])[0]

    def weighted(x: Tensor, v: Tensor) -> Tensor:  # the upstream gradient depends on v
        return grad((F.cross_entropy(x, t, reduction="none") * v).sum(), [x])[0]

    def weighted_soft(x: Tensor, v: Tensor) -> Tensor:
        return grad((F.cross_entropy(x, p, reduction="none") * v).sum(), [x])[0]

    assert gradcheck(by_index, x)
    assert gradcheck(by_probability, x, p)
    assert gradcheck(weighted, x, v)
    assert gradcheck(weighted_soft, x, v)


def test_cross_entropy_is_stable_and_fused() -> None:
    x = Tensor(np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], np.float32), requires_grad=True)
    loss = F.cross_entropy(x, np.array([0, 0]))
    assert "cross_entropy" in op_names(loss)
    np.testing.assert_allclose(loss.data, 1000.0)
    (g,) = grad(loss, [x])
    assert "cross_entropy_grad" in op_names(g)
    np.testing.assert_allclose(g.data, [[0.0, 0.0], [-0.5, 0.5]])


def test_cross_entropy_in_a_frozen_graph() -> None:
    layer = Linear(4, 3, generator=0)

    @compute_graph
    def step(x: Any, t: Any) -> Tensor:
        return F.cross_entropy(layer(x), t)

    x = rng.standard_normal((8, 4)).astype(np.float32)
    for t in (rng.integers(0, 3, 8), rng.integers(0, 3, 8)):
        loss = step(x, t)
        loss.backprop()
        z = x @ layer.weight.data.T + layer.bias.data
        expected = -log_softmax_reference(z.astype(np.float64))[np.arange(8), t].mean()
        np.testing.assert_allclose(float(loss.data), expected, rtol=1e-5)
        g = np.exp(log_softmax_reference(z)) - np.eye(3)[t]
        np.testing.assert_allclose(
            layer.weight.grad.data,  # type: ignore[union-attr]
            g.T @ x / 8,
            rtol=1e-4,
            atol=1e-6,
        )
    assert loss.dtype == np.float32


def test_cross_entropy_errors() -> None:
    x = Tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match="class 3 is out of range"):
        _ = F.cross_entropy(x, np.array([0, 3])).data
    with pytest.raises(ShapeError, match=r"class indices \(N, d1, ...\)"):
        F.cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(ShapeError, match="needs input"):
        F.cross_entropy(Tensor(np.zeros(3, np.float32)), np.array([0]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, np.array([0, 1]), reduction="avg")
    with pytest.raises(TypeError, match="pass reduction by keyword"):
        F.cross_entropy(x, np.array([0, 1]), "none")  # PyTorch's third argument is weight
    with pytest.raises(DTypeError):
        F.cross_entropy(x, np.array(["a", "b"]))


# ----------------------------------------------------------------- other losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction: str) -> None:
    x = rng.standard_normal((5, 4))
    t = np.array([3, 0, 0, 2, 1])
    logp = log_softmax_reference(x)
    np.testing.assert_allclose(
        F.nll_loss(Tensor(logp), t, reduction=reduction).data,
        reduce_reference(-logp[np.arange(5), t], reduction),
    )
    np.testing.assert_allclose(
        F.nll_loss(F.log_softmax(Tensor(x)), t, reduction=reduction).data,
        F.cross_entropy(Tensor(x), t, reduction=reduction).data,
    )
    assert gradcheck(lambda x: F.nll_loss(F.log_softmax(x), t, reduction=reduction), x)
    with pytest.raises(DTypeError, match="integer class indices"):
        F.nll_loss(Tensor(logp), np.eye(4)[t])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(reduction: str) -> None:
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(
        F.mse_loss(Tensor(a), b, reduction).data, reduce_reference((a - b) ** 2, reduction)
    )
    assert gradcheck(lambda a, b: F.mse_loss(a, b, reduction), a, b)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction: str) -> None:
    x = rng.standard_normal((4, 3)) * 3
    t = rng.random((4, 3))
    p = 1 / (1 + np.exp(-x))
    expected = reduce_reference(-(t * np.log(p) + (1 - t) * np.log(1 - p)), reduction)
    got = F.binary_cross_entropy_with_logits(Tensor(x), t, reduction=reduction).data
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert gradcheck(
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction), x, t
    )


def test_binary_cross_entropy_with_logits_is_stable_and_exact_at_zero() -> None:
    x = Tensor(np.array([-1000.0, 0.0, 1000.0], np.float32), requires_grad=True)
    t = np.array([1.0, 1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(loss.data, [1000.0, np.log(2), 1000.0], rtol=1e-6)
    (g,) = grad(loss.sum(), [x])
    np.testing.assert_allclose(g.data, [-1.0, -0.5, 1.0])


# ----------------------------------------------------------------- dropout
def test_dropout_scales_and_drops_at_the_right_rate() -> None:
    y = F.dropout(Tensor(np.ones(100_000, np.float32)), 0.3).data
    assert set(np.unique(y).tolist()) == {0.0, np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert abs(y.mean() - 1.0) < 0.02
    assert F.dropout(Tensor(np.ones(3)), 0.5, training=False).data.tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_array_equal(F.dropout(Tensor(np.ones(4)), 1.0).data, np.zeros(4))
    with pytest.raises(ValueError, match="probability"):
        Dropout(1.5)


def test_dropout_gradient_uses_the_same_mask() -> None:
    x = Tensor(np.ones(1000), requires_grad=True)
    y = F.dropout(x, 0.5)
    (g,) = grad(y.sum(), [x])
    value = y.data
    np.testing.assert_array_equal(g.data, value)  # x = 1: output and gradient are the mask


def test_dropout_draws_a_fresh_mask_at_every_replay_of_a_frozen_graph() -> None:
    drop = Dropout(0.5)
    constant = Tensor(np.ones(64, np.float32))

    @compute_graph
    def f(x: Any) -> Tensor:
        return drop(x) + drop(constant)  # two masks, never merged or folded

    x = np.ones(64, np.float32)
    first = f(x).data
    again = f(x).data
    assert not np.array_equal(first, again)
    assert set(np.unique(np.concatenate([first, again])).tolist()) <= {0.0, 2.0, 4.0}
    ops = [n.op.name for n in f.graph.nodes if n.op is not None]
    assert ops.count("random") == 2
    out = f(x)
    assert np.array_equal(out.data, out.data)  # reading twice does not redraw

    drop.eval()  # the mode is a guard of the trace: a new variant is traced
    np.testing.assert_array_equal(f(x).data, np.full(64, 2.0))
    drop.train()
    assert not np.array_equal(f(x).data, np.full(64, 2.0))


def test_dropout_is_the_identity_in_eval_mode() -> None:
    net = Sequential(Dropout(0.9)).eval()
    x = np.arange(5, dtype=np.float32)
    y = net(x)
    assert y.node.op is None  # no node at all outside a trace
    np.testing.assert_array_equal(y.data, x)


def test_dropout_is_reproducible_with_a_seed() -> None:
    def draw() -> Any:
        mg_nn.manual_seed(5)
        return Dropout(0.5)(np.ones(50, np.float32)).data

    np.testing.assert_array_equal(draw(), draw())


# ----------------------------------------------------------------- activations
def test_softmax_family_and_relu() -> None:
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(F.log_softmax(Tensor(x), axis=1).data, log_softmax_reference(x))
    np.testing.assert_allclose(F.softmax(Tensor(x)).data, np.exp(log_softmax_reference(x)))
    np.testing.assert_array_equal(F.relu(Tensor(x)).data, np.maximum(x, 0))
    np.testing.assert_allclose(F.softplus(Tensor(x)).data, np.log1p(np.exp(x)))
    assert gradcheck(lambda x: F.softplus(x), x)
    assert gradcheck(lambda x: grad(F.softplus(x).sum(), [x])[0], x)
