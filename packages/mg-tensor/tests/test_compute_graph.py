"""compute_graph: trace once per signature, freeze, replay; stability rewrites."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from mg_graph import FrozenGraphError, GradientError, Role
from mg_tensor import Tensor, TracingWarning, compute_graph, grad
from mg_tensor.inplace import buffer, written


def softmax(x: Tensor) -> Tensor:
    e_x = x.exp()
    return e_x / (e_x.sum(axis=1, keepdims=True))


def cross_entropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    return -1 * (y_true * (y_pred).log()).sum() / y_true.data.shape[0]


def make_params(rng: np.random.Generator, sizes: tuple[int, ...]) -> list[Tensor]:
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = 1 / np.sqrt(fan_in)
        params.append(
            Tensor(rng.uniform(-bound, bound, (fan_in, fan_out)), np.float32, requires_grad=True)
        )
        params.append(Tensor(np.zeros(fan_out), np.float32, requires_grad=True))
    return params


def mlp(params: list[Tensor], x: Tensor) -> Tensor:
    for i in range(0, len(params), 2):
        x = x @ params[i] + params[i + 1]
        if i + 2 < len(params):
            x = x.relu()
    return softmax(x)


def batch(rng: np.random.Generator, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0)]
    return x, y


def sgd(params: list[Tensor], lr: float) -> None:
    for p in params:
        assert p.grad is not None
        buffer(p)[...] -= lr * buffer(p.grad)
    written(*params)


def test_traces_once_and_replays_with_constant_node_count() -> None:
    rng = np.random.default_rng(0)
    params = make_params(rng, (6, 16, 3))

    @compute_graph
    def forward(x_batch: Tensor, y_batch: Tensor) -> Tensor:
        return cross_entropy(y_batch, mlp(params, x_batch))

    losses = []
    sizes = []
    for _ in range(100):
        loss = forward(*batch(rng))
        loss.backprop()
        sgd(params, 0.1)
        losses.append(float(loss.data))
        sizes.append(len(forward.graph))
    assert len(forward.variants) == 1
    assert len(set(sizes)) == 1  # no node added after the first call
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])


def test_replay_equals_eager_and_handed_out_values_never_change() -> None:
    rng = np.random.default_rng(1)
    params = make_params(rng, (6, 8, 3))

    @compute_graph
    def forward(x_batch: Tensor, y_batch: Tensor) -> tuple[Tensor, Tensor]:
        probs = mlp(params, x_batch)
        return cross_entropy(y_batch, probs), probs

    data = [batch(rng) for _ in range(10)]
    losses, probs = [], []
    for x, y in data:
        loss, p = forward(x, y)
        losses.append(loss.data)
        probs.append(p.data)
    for (x, y), loss, p in zip(data, losses, probs, strict=True):
        expected_p = mlp(params, Tensor(x))  # eager, on the default graph
        np.testing.assert_allclose(p, expected_p.data, rtol=1e-5)
        np.testing.assert_allclose(loss, cross_entropy(Tensor(y), expected_p).data, rtol=1e-5)
    assert len({float(v) for v in losses}) == 10


def test_new_signature_traces_a_new_variant_with_lru_bound() -> None:
    calls = []

    @compute_graph(max_variants=2)
    def f(x: Tensor) -> Tensor:
        calls.append(x.shape)
        return (x * 2).sum()

    assert float(f(np.ones((4, 2), np.float32)).data) == 16
    assert float(f(np.ones((3, 2), np.float32)).data) == 12  # last, smaller batch
    assert float(f(np.ones((4, 2), np.float32)).data) == 16
    assert calls == [(4, 2), (3, 2)]
    f(np.ones((2, 2), np.float32))
    assert len(f.variants) == 2
    f(np.ones((3, 2), np.float32))  # evicted (least recently used), traced again
    assert calls == [(4, 2), (3, 2), (2, 2), (3, 2)]


def test_frozen_graph_refuses_new_ops_and_points_at_compute_graph() -> None:
    @compute_graph
    def f(x: Tensor) -> Tensor:
        return x * 2

    out = f(np.ones(3, np.float32))
    with pytest.raises(FrozenGraphError, match="frozen") as info:
        out + 1
    assert str(info.value).startswith("add: ")  # the user's op, not the lifted constant
    assert "compute_graph" in str(info.value)
    assert "test_compute_graph.py" in str(info.value)


def test_containers_keywords_and_static_arguments() -> None:
    w = Tensor(np.full(2, 3.0), np.float32, requires_grad=True)

    @compute_graph
    def f(pair: tuple[Tensor, Tensor], *, scale: float, extra: dict[str, Tensor]) -> dict:
        a, b = pair
        return {"sum": (a * w + b) * scale + extra["c"], "n": 7}

    one = np.ones(2, np.float32)
    out = f((one, one), scale=2.0, extra={"c": one})
    np.testing.assert_array_equal(out["sum"].data, [9.0, 9.0])
    assert out["n"] == 7
    out = f((one * 2, one), scale=2.0, extra={"c": one})
    np.testing.assert_array_equal(out["sum"].data, [15.0, 15.0])
    f((one, one), scale=3.0, extra={"c": one})  # a Python scalar is part of the signature
    assert len(f.variants) == 2
    roles = sorted(n.role.value for n in f.graph.nodes if n.op is None)
    assert roles.count("input") == 3 and "parameter" in roles


def test_captured_python_numbers_are_frozen_and_arrays_are_buffers() -> None:
    factor = 2.0

    @compute_graph
    def f(x: Tensor, lr: Tensor) -> Tensor:
        return x * factor * lr

    x = np.ones(2, np.float32)
    assert float(f(x, np.float32(1.0)).data[0]) == 2.0
    factor = 10.0
    assert float(f(x, np.float32(0.5)).data[0]) == 1.0
    assert len(f.variants) == 1


def test_reading_data_of_a_computed_tensor_while_tracing_warns() -> None:
    @compute_graph
    def f(x: Tensor) -> Tensor:
        y = x * 2
        if float(y.data.sum()) > 0:  # Python control flow on a value: frozen
            return y
        return -y

    with pytest.warns(TracingWarning, match="frozen"):
        f(np.ones(2, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(f(-np.ones(2, np.float32)).data, [-2.0, -2.0])


def test_input_buffers_are_red_and_named_after_arguments() -> None:
    @compute_graph
    def f(x_batch: Tensor, y_batch: Tensor) -> Tensor:
        return (x_batch * y_batch).sum()

    f(np.ones(2), np.ones(2))
    inputs = {n.name for n in f.graph.nodes if n.role is Role.INPUT}
    assert inputs == {"x_batch", "y_batch"}


# ---------------------------------------------------------------- stability


def logits_1000() -> np.ndarray:
    return np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]], np.float32)


def test_naive_numpy_overflows_where_the_rewritten_graph_does_not() -> None:
    x = logits_1000()
    with np.errstate(all="ignore"):
        e = np.exp(x)
        naive = e / e.sum(axis=1, keepdims=True)
    assert np.isnan(naive).any()

    @compute_graph
    def probs(logits: Tensor) -> Tensor:
        return softmax(logits)

    np.testing.assert_array_equal(probs(x).data, [[1, 0, 0], [0, 1, 0]])


def test_stable_cross_entropy_loss_and_gradient() -> None:
    w = Tensor(np.eye(3), np.float32, requires_grad=True)
    y = np.eye(3, dtype=np.float32)[[1, 0]]  # both examples confidently wrong

    @compute_graph
    def forward(x: Tensor, y_true: Tensor) -> Tensor:
        return cross_entropy(y_true, softmax(x @ w))

    loss = forward(logits_1000(), y)
    loss.backprop()
    assert np.isfinite(loss.data) and float(loss.data) == pytest.approx(2000.0)
    assert w.grad is not None
    g = w.grad.data
    assert np.isfinite(g).all()
    # d loss / d logits = (softmax - y) / N, exact here; d w = x.T @ that
    expected = logits_1000().T @ ((np.eye(3)[[0, 1]] - y) / 2)
    np.testing.assert_allclose(g, expected, rtol=1e-6)
    ops = {n.op.name for n in forward.graph.nodes if n.op is not None and not n.is_gradient}
    assert "log_softmax" in ops and "exp" not in ops


def test_optimize_false_keeps_the_naive_graph() -> None:
    @compute_graph(optimize=False)
    def probs(logits: Tensor) -> Tensor:
        return softmax(logits)

    with np.errstate(all="ignore"):
        assert np.isnan(probs(logits_1000()).data).any()
    assert forward_ops(probs) >= {"exp", "sum", "divide"}
    assert probs.graph.history == []


def forward_ops(fn: object) -> set[str]:
    return {n.op.name for n in fn.graph.nodes if n.op is not None}  # type: ignore[attr-defined]


def test_passes_are_reported_in_stats() -> None:
    @compute_graph
    def f(x: Tensor) -> Tensor:
        dead = x * 100  # noqa: F841 - removed by dead-code elimination
        a = (x * 2).exp()
        b = (x * 2).exp()  # merged with a
        return a + b + Tensor(2.0) * Tensor(3.0)  # folded

    x = np.arange(3, dtype=np.float32)
    np.testing.assert_allclose(f(x).data, 2 * np.exp(2 * x) + 6, rtol=1e-6)
    stats = f.graph.stats()
    names = [p["pass"] for p in stats["passes"]]
    assert {"dce", "cse", "fold_constants", "stabilize_softmax"} <= set(names)
    assert stats["passes"][-1]["after"] < stats["passes"][0]["before"]
    assert stats["buffer_bytes_planned"] <= stats["buffer_bytes_unplanned"]


def test_planner_shares_buffers_in_a_long_chain() -> None:
    @compute_graph
    def chain(x: Tensor) -> Tensor:
        for _ in range(50):
            x = (x * 1.01).tanh()
        return x

    x = np.linspace(-1, 1, 1000).astype(np.float32)
    expected = x.copy()
    for _ in range(50):
        expected = np.tanh(expected * np.float32(1.01))
    np.testing.assert_allclose(chain(x).data, expected, rtol=1e-5)
    stats = chain.graph.stats()
    assert stats["buffer_bytes_planned"] * 10 < stats["buffer_bytes_unplanned"]


def test_gradients_of_a_traced_function_with_grad() -> None:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)

    @compute_graph
    def f(x: Tensor) -> Tensor:
        loss = (w * w * x).sum()
        (g,) = grad(loss, [w])
        return g

    np.testing.assert_array_equal(f(np.array([1.0, 3.0])).data, [2.0, 12.0])
    np.testing.assert_array_equal(f(np.array([2.0, 1.0])).data, [4.0, 4.0])


def test_grad_is_a_snapshot_that_parameter_writes_do_not_invalidate() -> None:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    v = Tensor(np.array([3.0, 4.0]), requires_grad=True)

    @compute_graph
    def loss_fn(x: Tensor) -> Tensor:
        return (w * w * v * x).sum()

    loss = loss_fn(np.ones(2))
    loss.backprop()
    assert w.grad is not None and v.grad is not None
    np.testing.assert_array_equal(w.grad.data, [6.0, 16.0])  # 2 w v
    w.assign([10.0, 10.0])  # a plain SGD loop updates parameters one by one...
    np.testing.assert_array_equal(v.grad.data, [1.0, 4.0])  # ...v's gradient is still w**2
    assert w.grad.is_gradient
    with pytest.raises(GradientError, match="written after this output was computed"):
        loss.backprop()  # it would mix the loss of old weights with new ones
    loss.realize()
    loss.backprop()  # the next backprop moves .grad to the new values
    np.testing.assert_array_equal(v.grad.data, [100.0, 100.0])
