"""The engine's contract (issue 11): values fixed at their first computation, per-call
output handles, stale outputs refused by backprop, gradients only where they flow,
gradients through compiled-function arguments, writes that cannot be lost silently."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from mgt_support import count_exp

import mg_tensor as mt
from mg_graph import FrozenGraphError, GradientError, Graph
from mg_tensor import Tensor, compute_graph, grad, gradients, no_grad


def _counting(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    return count_exp(monkeypatch)


# ------------------------------------------------------------------ 1. values are fixed
def test_reading_computes_only_what_has_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    w = Tensor([1.0, 2.0], requires_grad=True)
    e = w.exp()
    y = e.sum()
    assert float(y) == pytest.approx(np.exp(1) + np.exp(2))
    w.assign([0.0, 0.0])
    # reading again computes nothing: the value reflects the leaves at its computation
    assert float(y) == pytest.approx(np.exp(1) + np.exp(2))
    np.testing.assert_allclose(np.asarray(e), np.exp([1.0, 2.0]))
    assert y.item() == pytest.approx(np.exp(1) + np.exp(2))
    assert "10.107" in repr(y)
    assert calls["exp"] == 1
    # a new node built from e reuses e's fixed value; realize() refreshes
    assert float(e.sum() * 1.0) == pytest.approx(np.exp(1) + np.exp(2))
    assert float(y.realize()) == 2.0
    assert calls["exp"] == 2


def test_graph_realize_computes_value_less_nodes_and_leaves_others_alone() -> None:
    g = Graph()
    w = Tensor([1.0], graph=g, requires_grad=True)
    kept = w * 3
    assert float(kept) == 3.0
    w.assign([2.0])
    later = w * 5
    g.realize()
    assert float(kept) == 3.0 and float(later) == 10.0
    mt.realize(kept)
    assert float(kept) == 6.0


def test_a_view_of_a_parameter_is_copied_when_read_and_free_inside() -> None:
    w = Tensor(np.arange(4.0), requires_grad=True)
    row = w[1:3]
    t = w.reshape(2, 2).T
    np.testing.assert_array_equal(row.data, [1.0, 2.0])
    total = (w.reshape(2, 2) * 2).sum()  # the reshape is only used inside
    assert float(total) == 12.0
    w.assign([9.0, 9.0, 9.0, 9.0])  # an optimiser's in-place write
    np.testing.assert_array_equal(row.data, [1.0, 2.0])
    np.testing.assert_array_equal(t.data, [[9.0, 9.0], [9.0, 9.0]])  # first read: now
    assert not np.shares_memory(row.data, w.data)


def test_data_is_read_only_and_writable_copies_are_explicit() -> None:
    t = Tensor([1.0, 2.0]) * 2
    with pytest.raises(ValueError, match="read-only"):
        t.data[:] = 0
    with pytest.raises(ValueError, match="read-only"):
        t.numpy()[0] = 0
    a = np.array(t)
    a[0] = 7.0
    b = t.numpy(copy=True)
    b[1] = 7.0
    np.testing.assert_array_equal(t.data, [2.0, 4.0])


def test_each_call_returns_its_own_handles() -> None:
    w = Tensor([2.0], requires_grad=True)

    @compute_graph
    def f(x: Any) -> Tensor:
        return (x * w).sum()

    first = f(np.array([1.0], np.float32))
    second = f(np.array([3.0], np.float32))
    assert first is not second
    assert float(first) == 2.0 and float(second) == 6.0  # read after both calls
    kept = [f(np.array([v], np.float32)) for v in (4.0, 5.0)]
    assert [x.item() for x in kept] == [8.0, 10.0]
    frozen = second.detach()
    assert frozen.graph is not second.graph and float(frozen * 2) == 12.0


def test_read_before_backprop_runs_the_forward_once_with_one_draw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _counting(monkeypatch)
    w = Tensor(np.ones(64, np.float32), requires_grad=True)

    @compute_graph
    def f(x: Any) -> Tensor:
        keep = mt.bernoulli(0.5, (64,))
        return (x * w * keep).exp().sum()

    x = np.ones(64, np.float32)
    for read_first in (True, False, True):
        calls.clear()
        loss = f(x)
        if read_first:
            value = float(loss)
        loss.backprop()
        if not read_first:
            value = float(loss)
        assert calls["exp"] == 1  # one forward per call, whichever order
        assert w.grad is not None
        mask = w.grad.data / np.exp(x * w.data * (w.grad.data > 0))
        # the gradient comes from the same draw as the loss: d/dw = keep * exp(w * keep)
        assert value == pytest.approx(float(np.exp(mask).sum()), rel=1e-5)


def test_backprop_of_an_output_made_stale_by_a_write_is_an_error() -> None:
    d = Tensor([1.0], requires_grad=True, name="discriminator.w")
    g = Tensor([2.0], requires_grad=True)
    loss = (d * g).sum()
    _ = loss.data
    d.assign([5.0])  # a GAN loop stepping D between computing and differentiating
    with pytest.raises(GradientError, match=r"discriminator\.w") as info:
        loss.backprop()
    assert __file__ in str(info.value)
    loss.realize()
    loss.backprop()
    assert g.grad is not None and float(g.grad) == 5.0


def test_backprop_of_a_stale_compiled_output_is_an_error() -> None:
    d = Tensor([1.0], requires_grad=True, name="d")

    @compute_graph
    def f(x: Any) -> Tensor:
        return (x * d).sum()

    loss = f(np.ones(1, np.float32))
    _ = loss.data
    d.assign([3.0])
    with pytest.raises(GradientError, match="written after"):
        loss.backprop()
    loss.realize()
    assert float(loss) == 3.0
    loss.backprop()
    old = loss
    f(np.ones(1, np.float32))
    with pytest.raises(GradientError, match="earlier call"):
        old.backprop()


# ------------------------------------------------------------------ 2. where gradients flow
def test_parameters_the_loss_does_not_reach_get_no_gradient() -> None:
    used = Tensor([1.0], requires_grad=True)
    cut = Tensor([1.0], requires_grad=True)
    counted = Tensor([1.0], requires_grad=True)
    loss = (used * cut.detach() + (counted > 0).astype(np.float32)).sum()
    loss.backprop()
    assert used.grad is not None
    assert cut.grad is None and counted.grad is None


def test_accumulate_adds_into_the_existing_gradient_eager_and_compiled() -> None:
    w = Tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backprop()
    (w * 3).sum().backprop(accumulate=True)
    np.testing.assert_array_equal(w.grad.data, [5.0, 7.0])  # type: ignore[union-attr]

    @compute_graph
    def f(x: Any) -> Tensor:
        return (w * x).sum()

    f(np.ones(2, np.float32)).backprop()
    f(np.full(2, 2.0, np.float32)).backprop(accumulate=True)
    np.testing.assert_array_equal(w.grad.data, [3.0, 3.0])  # type: ignore[union-attr]
    f(np.ones(2, np.float32)).backprop()  # and overwriting again
    np.testing.assert_array_equal(w.grad.data, [1.0, 1.0])  # type: ignore[union-attr]


def test_requires_grad_false_freezes_a_parameter_and_true_unfreezes_it() -> None:
    w = Tensor([1.0], requires_grad=True)
    b = Tensor([1.0], requires_grad=True)

    @compute_graph
    def f(x: Any) -> Tensor:
        return (w * x + b).sum()

    w.requires_grad = False
    f(np.full(1, 2.0, np.float32)).backprop()
    assert w.grad is None and b.grad is not None
    assert w.role.value == "parameter"  # still a parameter, never a folded constant
    w.requires_grad = True  # the trace's guard on requires_grad: traced again
    f(np.full(1, 2.0, np.float32)).backprop()
    assert w.grad is not None and float(w.grad) == 2.0
    assert len(f.variants) == 2
    with pytest.raises(Exception, match="leaves"):
        (w * 2).requires_grad = False


def test_grad_of_a_parameter_lives_in_its_graph() -> None:
    w = Tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backprop()
    assert w.grad is not None and w.grad.graph is w.graph
    np.testing.assert_allclose((w - 0.1 * w.grad).data, [0.8, 1.6])


def test_no_grad_builds_nodes_without_gradients() -> None:
    w = Tensor([1.0], requires_grad=True)
    with no_grad():
        y = w * 2
    assert not y.requires_grad
    assert grad((y + w).sum(), [w])[0] is not None
    assert grad(y.sum(), [w], allow_unused=True) == [None]


# ------------------------------------------------------------------ 3. through arguments
def test_gradients_flow_through_compiled_function_arguments() -> None:
    p = Tensor([1.0, 2.0], requires_grad=True)
    q = Tensor([3.0, 1.0], requires_grad=True)

    @compute_graph
    def f(v: Any, x: Any) -> Tensor:
        return (v * v * x).sum() + (q * v).sum()

    x = np.array([1.0, 2.0], np.float32)
    for _ in range(2):
        f(p * 2.0, x).backprop()
        compiled = [p.grad.data.copy(), q.grad.data.copy()]  # type: ignore[union-attr]
        v = p * 2.0
        ((v * v * Tensor(x)).sum() + (q * v).sum()).backprop()
        eager = [p.grad.data, q.grad.data]  # type: ignore[union-attr]
        for a, b in zip(compiled, eager, strict=True):
            np.testing.assert_allclose(a, b)
    assert len(f.variants) == 1
    f(np.ones(2, np.float32), x)  # an array: no gradient wanted, a new variant
    with no_grad():
        f(p * 2.0, x)  # a tensor that needs none: the same
    assert len(f.variants) == 3


# ------------------------------------------------------------------ 6. writes
def test_in_place_operators_update_parameters() -> None:
    w = Tensor([1.0, 2.0], requires_grad=True)
    kept = w
    for _ in range(3):  # the micrograd / PyTorch hand-written SGD loop
        (w * w).sum().backprop()
        w -= 0.25 * w.grad
    assert w is kept
    np.testing.assert_allclose(w.data, [0.125, 0.25])
    w += 1
    w *= 2
    w /= 4
    w[0] = 10.0
    np.testing.assert_allclose(w.data, [10.0, 0.625])
    y = w * 1
    y -= 1  # a computed tensor keeps Python's meaning: a new tensor
    np.testing.assert_allclose(y.data, [9.0, -0.375])
    with pytest.raises(TypeError, match="fixed"):
        y[0] = 1.0


def test_in_place_writes_inside_a_trace_are_refused() -> None:
    w = Tensor([1.0], requires_grad=True)

    @compute_graph
    def f(x: Any) -> Tensor:
        nonlocal w
        w -= x
        return w * 1

    with pytest.raises(FrozenGraphError, match="compute_graph"):
        f(np.ones(1, np.float32))


def test_gradient_records_are_pending_until_consumed() -> None:
    w = Tensor([1.0], requires_grad=True)
    (w * 2).sum().backprop()
    rec = gradients.record(w.node)
    assert rec is not None and rec.pending
    gradients.consume(w.node)
    assert not rec.pending
    gradients.modified(w.node)  # an in-place change does not make it pending again
    assert not rec.pending
    w.grad = Tensor([5.0])
    rec = gradients.record(w.node)
    assert rec is not None and rec.pending and rec.value().item() == 5.0
    w.grad = None
    assert gradients.record(w.node) is None
