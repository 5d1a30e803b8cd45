"""Run under ``mpiexec -n 2``: gradients averaged over ranks before the step,
weighted by local sample counts; missing gradients take part as zeros."""

from __future__ import annotations

import numpy as np
import pytest

import mg_dist as dist
from mg_dist.runtime import comm
from mg_optim import SGD
from mg_tensor import Tensor, compute_graph

pytestmark = pytest.mark.skipif(dist.world_size() != 2, reason="run with mpiexec -n 2")


def _gathered(*tensors: Tensor) -> list[list[np.ndarray]]:
    c = comm()
    assert c is not None
    result: list[list[np.ndarray]] = c.allgather([t.data for t in tensors])
    return result


@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize("samples", [None, (3, 1)])
def test_gradients_are_averaged_weighted_by_samples(
    frozen: bool, samples: tuple[int, int] | None
) -> None:
    r = dist.rank()
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    opt = dist.DistributedOptimizer(SGD([w], lr=1.0))
    x = np.array([1.0, 10.0, 100.0], np.float32) * (r + 1)  # grad on rank r: x

    def loss(x: Tensor) -> Tensor:
        return (w * x).sum()

    f = compute_graph(loss) if frozen else loss
    for _ in range(2):  # the second step replays (frozen) into the optimiser's slots
        f(x).backprop()
        opt.step(samples=None if samples is None else samples[r])
    g0, g1 = np.array([1.0, 10.0, 100.0]), 2 * np.array([1.0, 10.0, 100.0])
    n0, n1 = samples or (1, 1)
    average = (n0 * g0 + n1 * g1) / (n0 + n1)
    expected = np.array([1.0, 2.0, 3.0]) - 2 * average
    for (value,) in _gathered(w):
        np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(w.grad.data, average, rtol=1e-6)  # type: ignore[union-attr]


@pytest.mark.parametrize("frozen", [False, True])
def test_a_parameter_without_gradient_on_one_rank(frozen: bool) -> None:
    r = dist.rank()
    a = Tensor([1.0, 1.0], requires_grad=True)
    b = Tensor([5.0, 5.0], requires_grad=True)  # used on rank 1 only
    c = Tensor([7.0], requires_grad=True)  # used nowhere
    opt = dist.DistributedOptimizer(SGD([a, b, c], lr=0.5, momentum=0.9))

    def loss(x: Tensor) -> Tensor:
        y = (a * x).sum()
        return y + (b * x).sum() if r == 1 else y

    f = compute_graph(loss) if frozen else loss
    x = np.array([2.0, 4.0], np.float32)
    for _ in range(3):
        f(x).backprop()
        assert (b.grad is None) == (r == 0)
        opt.step()
    # b: gradient x on rank 1, zeros on rank 0: averaged to x / 2, updated everywhere
    momentum = [1.0, 1.9, 2.71]
    np.testing.assert_allclose(b.data, 5.0 - 0.5 * sum(momentum) * x / 2, rtol=1e-6)
    np.testing.assert_allclose(a.data, 1.0 - 0.5 * sum(momentum) * x, rtol=1e-6)
    (a0, b0, c0), (a1, b1, c1) = _gathered(a, b, c)
    np.testing.assert_array_equal(a0, a1)
    np.testing.assert_array_equal(b0, b1)
    assert c0 == c1 == 7.0 and c.grad is None  # no rank had a gradient: not updated
    assert opt.state_dict()["steps"] == [3, 3, 0]
