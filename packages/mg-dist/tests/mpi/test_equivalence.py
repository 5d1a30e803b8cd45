"""Run under ``mpiexec -n 2``: after 20 steps, 2 ranks at batch 32 hold the same
parameters as 1 process at batch 64 on the same samples, and identical ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from nets import MLP, data, loss

import mg_dist as dist
from mg_dist.runtime import comm
from mg_optim import SGD, Adam, Optimizer
from mg_tensor import Tensor, compute_graph

pytestmark = pytest.mark.skipif(dist.world_size() != 2, reason="run with mpiexec -n 2")

STEPS, BATCH = 20, 32


def _batches(x: Any, y: Any, batch: int, shard: tuple[int, int] | None) -> Any:
    """Shuffled batches, sharded as mg-data's ``DataLoader(shard=...)`` does (mg-dist's
    tests do not depend on mg-data; its own tests check the loader against this rule):
    one seeded order for all ranks, remainder dropped, every world_size-th row."""
    order = np.random.default_rng(5).permutation(len(x))
    if shard is not None:
        rank, world = shard
        order = order[: len(x) // world * world][rank::world]
    for start in range(0, STEPS * batch, batch):
        idx = order[start : start + batch]
        yield x[idx], y[idx]


def _train(
    model: MLP, opt: Any, x: Any, y: Any, batch: int, shard: tuple[int, int] | None, frozen: bool
) -> None:
    def step_loss(xb: Tensor, yb: Tensor) -> Tensor:
        return loss(model, xb, yb)

    f = compute_graph(step_loss) if frozen else step_loss
    for xb, yb in _batches(x, y, batch, shard):
        f(xb, yb).backprop()
        opt.step()


def _optimizer(kind: str, params: list[Tensor]) -> Optimizer:
    return SGD(params, lr=0.1, momentum=0.9) if kind == "sgd" else Adam(params, lr=1e-3)


@pytest.mark.parametrize("frozen", [True, False])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize(("dtype", "rtol"), [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_two_ranks_at_32_equal_one_process_at_64(
    dtype: Any, rtol: float, kind: str, frozen: bool
) -> None:
    x, y = data(STEPS * 2 * BATCH + 7, 12, 4, dtype)  # an odd remainder: one row dropped
    sizes = [12, 16, 16, 4]
    # the reference, computed on each rank: one process at batch 64, same samples
    reference = MLP(sizes, dtype, seed=0)
    _train(reference, _optimizer(kind, reference.parameters()), x, y, 2 * BATCH, None, frozen)

    model = MLP(sizes, dtype, seed=dist.rank())  # rank 0's weights are the reference's
    opt = dist.DistributedOptimizer(_optimizer(kind, model.parameters()))
    dist.broadcast_parameters(model)
    _train(model, opt, x, y, BATCH, (dist.rank(), dist.world_size()), frozen)
    assert opt.reducer is not None
    if frozen:  # replays started every bucket's reduction from the second step on
        assert opt.reducer.overlapped == (STEPS - 1) * len(opt.reducer.buckets)
    c = comm()
    assert c is not None
    ranks = c.allgather([p.data for p in model.parameters()])
    for a, b in zip(*ranks, strict=True):
        np.testing.assert_array_equal(a, b)  # every rank holds identical parameters
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        ref = q.data
        np.testing.assert_allclose(
            p.data, ref, rtol=rtol, atol=rtol * np.abs(ref).max(), err_msg=name
        )
