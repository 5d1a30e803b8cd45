"""Random ops (fresh draws per computation, streams by creation order) and threads
(issue 11, sections 5 and 7)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import mg_tensor as mt
from mg_tensor import Tensor, compute_graph


def _program(x: Any) -> Tensor:
    noise = mt.randn(3)
    keep = mt.bernoulli(0.5, (3,))
    return x * keep + noise * 0.1 + mt.uniform(-1, 1, (3,))


def test_the_same_seed_gives_the_same_draws_eager_and_compiled() -> None:
    x = np.ones(3, np.float32)
    mt.manual_seed(7)
    eager = [_program(Tensor(x)).data for _ in range(4)]
    mt.manual_seed(7)
    compiled = compute_graph(_program)
    traced = [compiled(x).data for _ in range(4)]
    for a, b in zip(eager, traced, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(traced[0], traced[1])  # fresh draws at every call


def test_draws_depend_on_creation_order_not_on_reading_order() -> None:
    mt.manual_seed(3)
    a, b = mt.rand(4), mt.rand(4)
    first = (a.data, b.data)
    mt.manual_seed(3)
    a, b = mt.rand(4), mt.rand(4)
    second = (b.data, a.data)  # read the other way round
    np.testing.assert_array_equal(first[0], second[1])
    np.testing.assert_array_equal(first[1], second[0])
    assert not np.array_equal(first[0], first[1])


def test_a_random_value_is_fixed_and_realize_repeats_the_draw() -> None:
    r = mt.randn(5)
    first = r.data
    np.testing.assert_array_equal(r.data, first)
    np.testing.assert_array_equal(r.realize().data, first)


def test_distributions_and_their_like_forms() -> None:
    mt.manual_seed(0)
    n = mt.normal(2.0, 3.0, (20_000,)).data
    assert abs(n.mean() - 2.0) < 0.1 and abs(n.std() - 3.0) < 0.1
    u = mt.uniform(-2.0, 5.0, (20_000,)).data
    assert u.min() >= -2.0 and u.max() < 5.0 and abs(u.mean() - 1.5) < 0.1
    i = mt.randint(3, 6, (1_000,)).data
    assert set(np.unique(i).tolist()) == {3, 4, 5} and i.dtype == np.int64
    p = Tensor(np.array([0.0, 1.0, 0.5] * 1000, np.float32))
    b = mt.bernoulli(p).data
    assert b[0::3].sum() == 0 and b[1::3].sum() == 1000 and 400 < b[2::3].sum() < 600
    t = Tensor(np.zeros((2, 3), np.float64))
    for like in (mt.randn_like, mt.rand_like):
        drawn = like(t)
        assert drawn.shape == (2, 3) and drawn.dtype == np.float64
    assert mt.normal_like(t, 1.0, 0.0).data.tolist() == [[1.0] * 3] * 2
    assert mt.uniform_like(t, 2, 3).dtype == np.float64
    assert set(mt.bernoulli_like(t, 1.0).data.ravel().tolist()) == {1.0}
    assert mt.randint_like(t, 0, 1).data.sum() == 0
    with pytest.raises(ValueError, match="high"):
        mt.randint(3, 3, (2,))


def test_reparameterised_normal_is_differentiable() -> None:
    mean = Tensor([1.0, 2.0], requires_grad=True)
    std = Tensor([0.5, 0.5], requires_grad=True)
    z = mt.normal(mean, std)
    z.sum().backprop()
    np.testing.assert_array_equal(mean.grad.data, [1.0, 1.0])  # type: ignore[union-attr]
    eps = (z.data - mean.data) / std.data
    np.testing.assert_allclose(std.grad.data, eps, rtol=1e-5)  # type: ignore[union-attr]


def test_numpy_randomness_inside_a_trace_is_a_constant() -> None:
    rng = np.random.default_rng(0)

    @compute_graph
    def f(x: Any) -> Tensor:
        return x + Tensor(rng.standard_normal(3).astype(np.float32))

    x = np.zeros(3, np.float32)
    np.testing.assert_array_equal(f(x).data, f(x).data)


def _in_threads(*workers: Callable[[], int]) -> None:
    """Run each worker in its own thread, started together; each returns how many
    wrong values it saw. No wrong value and no exception may come back."""
    errors: list[BaseException] = []
    wrong: list[int] = []
    start = threading.Barrier(len(workers))

    def run(worker: Callable[[], int]) -> None:
        try:
            start.wait()
            wrong.append(worker())
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sum(wrong) == 0


def test_a_trace_in_one_thread_never_captures_another_threads_eager_work() -> None:
    def eager() -> int:
        values = (Tensor(np.full(2, float(i), np.float32)) for i in range(3_000))
        return sum(float((t * 2 + 1).sum()) != 4 * i + 2 for i, t in enumerate(values))

    def tracing() -> int:
        wrong = 0
        for i in range(3_000):
            f = compute_graph(lambda x: (x * 3).sum())
            wrong += float(f(np.full(2, float(i), np.float32))) != 6 * i
        return wrong

    _in_threads(eager, tracing)


def test_one_compiled_function_called_from_two_threads() -> None:
    w = Tensor(np.ones(8, np.float32), requires_grad=True)

    @compute_graph
    def f(x: Any) -> Tensor:
        return (x * w).sum()

    def worker(offset: int) -> Callable[[], int]:
        def run() -> int:
            values = [float(offset + i) for i in range(3_000)]
            # read each result after its call returns, before the next call
            return sum(float(f(np.full(8, v, np.float32))) != 8 * v for v in values)

        return run

    _in_threads(worker(0), worker(10_000))
