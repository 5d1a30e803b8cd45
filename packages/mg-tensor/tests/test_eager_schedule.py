"""Repeated eager backprops replay a compiled schedule (`mg_tensor.eager`): the same
values, gradients and errors as building the gradient graph every time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from mgt_support import count_exp

import mg_tensor as mt
from mg_graph import GradientError, Graph
from mg_tensor import Tensor, eager

Step = Callable[[], Tensor]


@pytest.fixture
def graph() -> Iterator[Graph]:
    g = Graph("eager test")
    with g.as_default():
        yield g


def _disable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eager, "program", lambda output, seeded: None)


def _params(seed: int = 0) -> list[Tensor]:
    rng = np.random.default_rng(seed)
    shapes = [(5, 8), (8,), (8, 3), (3,)]
    return [Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes]


def _loss(params: list[Tensor], x: np.ndarray, y: np.ndarray) -> Tensor:
    w1, b1, w2, b2 = params
    h = (Tensor(x) @ w1 + b1).relu()
    out = (h @ w2 + b2).tanh()
    return ((out - Tensor(y)) ** 2).mean()


def _train(steps: int, read_first: bool) -> tuple[list[float], list[np.ndarray]]:
    params = _params()
    rng = np.random.default_rng(1)
    losses = []
    for _ in range(steps):
        x = rng.standard_normal((4, 5)).astype(np.float32)
        y = rng.standard_normal((4, 3)).astype(np.float32)
        loss = _loss(params, x, y)
        if read_first:
            losses.append(float(loss))
        loss.backprop()
        if not read_first:
            losses.append(float(loss))
        for p in params:
            assert p.grad is not None
            p -= 0.05 * p.grad
    return losses, [p.data for p in params]


@pytest.mark.parametrize("read_first", [False, True])
def test_a_repeated_eager_step_trains_exactly_as_without_the_schedule(
    monkeypatch: pytest.MonkeyPatch, graph: Graph, read_first: bool
) -> None:
    losses, weights = _train(6, read_first)
    assert eager.scheduled(graph) is not None  # the schedule was used
    _disable(monkeypatch)
    plain_losses, plain_weights = _train(6, read_first)
    np.testing.assert_allclose(losses, plain_losses, rtol=1e-6)
    for a, b in zip(weights, plain_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_the_schedule_adds_no_gradient_nodes_to_the_users_graph(graph: Graph) -> None:
    params = _params()
    x, y = np.ones((4, 5), np.float32), np.zeros((4, 3), np.float32)
    sizes = []
    for _ in range(5):
        loss = _loss(params, x, y)
        loss.backprop()
        sizes.append(sum(n.is_gradient for n in graph.nodes if n.op is not None))
    assert sizes[0] > 0 and sizes[-1] == 0


def test_values_are_fixed_at_first_computation_and_not_computed_twice(
    monkeypatch: pytest.MonkeyPatch, graph: Graph
) -> None:
    calls = count_exp(monkeypatch)
    w = Tensor([0.5, 1.0], requires_grad=True)
    for step in range(4):
        e = (w * 2.0).exp()
        loss = e.sum()
        before = float(loss) if step % 2 else None
        calls.clear()
        loss.backprop()
        assert calls["exp"] == (0 if before is not None else 1)  # one forward, ever
        kept = e.data.copy()
        np.testing.assert_allclose(float(loss), kept.sum(), rtol=1e-6)
        np.testing.assert_allclose(w.grad.data, 2 * kept, rtol=1e-6)  # type: ignore[union-attr]
        w -= 0.1 * w.grad
        np.testing.assert_array_equal(e.data, kept)  # the write did not change it


def test_random_draws_belong_to_their_node(monkeypatch: pytest.MonkeyPatch, graph: Graph) -> None:
    def run() -> list[np.ndarray]:
        mt.manual_seed(5)
        w = Tensor(np.ones(16, np.float32), requires_grad=True)
        grads = []
        for _ in range(4):
            keep = mt.bernoulli(0.5, (16,))
            (w * keep * 3.0).sum().backprop()
            np.testing.assert_array_equal(w.grad.data, 3.0 * keep.data)  # type: ignore[union-attr]
            grads.append(w.grad.data)  # type: ignore[union-attr]
        return grads

    scheduled = run()
    assert eager.scheduled(graph) is not None
    _disable(monkeypatch)
    for a, b in zip(scheduled, run(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(scheduled[0], scheduled[1])


def test_a_stale_output_is_still_refused(graph: Graph) -> None:
    d = Tensor([1.0], requires_grad=True, name="d")
    g = Tensor([2.0], requires_grad=True)
    for _ in range(3):
        (d * g).sum().backprop()
    loss = (d * g).sum()
    _ = loss.data
    d.assign([5.0])
    with pytest.raises(GradientError, match="written after"):
        loss.backprop()
    loss.realize()
    loss.backprop()
    assert float(g.grad) == 5.0  # type: ignore[arg-type]


def test_accumulate_and_grad_output_through_the_schedule(graph: Graph) -> None:
    w = Tensor([1.0, 2.0], requires_grad=True)
    for k in range(1, 5):
        (w * w).sum().backprop()
        (w * 3.0).sum().backprop(accumulate=True)
        np.testing.assert_array_equal(w.grad.data, [5.0, 7.0])  # type: ignore[union-attr]
        (w * w).backprop(np.array([k, 1.0], np.float32))
        np.testing.assert_array_equal(w.grad.data, [2.0 * k, 4.0])  # type: ignore[union-attr]


def test_frozen_parameters_and_changing_shapes(graph: Graph) -> None:
    w = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([1.0, 1.0], requires_grad=True)
    for step in range(8):
        w.requires_grad = step < 4
        n = 3 if step % 4 == 3 else 2  # another structure now and then
        x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
        b.grad = None
        w.grad = None
        ((Tensor(x) * w + b) ** 2).sum().backprop()
        assert b.grad is not None
        np.testing.assert_allclose(b.grad.data, 2 * (x * w.data + b.data).sum(0))
        if step < 4:
            assert w.grad is not None
            np.testing.assert_allclose(w.grad.data, 2 * ((x * w.data + b.data) * x).sum(0))
        else:
            assert w.grad is None


def test_views_of_parameters_stay_free_as_in_evaluate(graph: Graph) -> None:
    w = Tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3), requires_grad=True)
    for _ in range(3):
        t = w.T
        loss = (t * t).sum()
        loss.backprop()
        assert t.node.value is None  # a view of a leaf: computed again when read
        np.testing.assert_array_equal(w.grad.data, 2 * w.data)  # type: ignore[union-attr]


def test_each_thread_has_its_own_schedule(graph: Graph) -> None:
    _train(4, read_first=False)
    mine = eager.scheduled(graph)
    seen: list[object] = []

    def other() -> None:
        with graph.as_default():
            seen.append(eager.scheduled(graph))
            _train(4, read_first=False)
            seen.append(eager.scheduled(graph))

    worker = threading.Thread(target=other)
    worker.start()
    worker.join()
    assert mine is not None and seen[0] is None
    assert seen[1] is not None and seen[1] is not mine  # replays never share buffers
    assert eager.scheduled(graph) is mine


def test_a_schedule_over_integer_indices_checks_them_with_real_values(graph: Graph) -> None:
    table = Tensor(np.arange(12.0).reshape(6, 2), requires_grad=True)
    rng = np.random.default_rng(0)
    for _ in range(3):  # the second step builds the schedule, the third replays it
        idx = rng.integers(0, 6, size=4)
        (table[Tensor(idx)] * 2).sum().backprop()
        expected = np.zeros((6, 2))
        np.add.at(expected, idx, 2.0)
        np.testing.assert_array_equal(table.grad.data, expected)  # type: ignore[union-attr]
    assert eager.scheduled(graph) is not None
