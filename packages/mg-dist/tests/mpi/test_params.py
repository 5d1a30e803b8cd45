"""Run under ``mpiexec -n 2``: every rank starts from rank 0's weights."""

from __future__ import annotations

import numpy as np
import pytest
from nets import MLP

import mg_dist as dist
from mg_dist.runtime import comm

pytestmark = pytest.mark.skipif(dist.world_size() != 2, reason="run with mpiexec -n 2")


def test_ranks() -> None:
    c = comm()
    assert c is not None
    assert sorted(c.allgather(dist.rank())) == [0, 1]
    dist.barrier()


def test_broadcast_parameters_gives_every_rank_rank_0s_weights() -> None:
    model = MLP([5, 4, 3], seed=dist.rank())  # different initial weights on each rank
    before = {name: p.data for name, p in model.named_parameters()}
    c = comm()
    assert c is not None
    theirs = c.allgather(before)
    assert not np.array_equal(theirs[0]["fc0.weight"], theirs[1]["fc0.weight"])
    dist.broadcast_parameters(model)
    y = model(np.ones((2, 5), np.float32))
    after = c.allgather({name: p.data for name, p in model.named_parameters()})
    for name in before:
        np.testing.assert_array_equal(after[0][name], theirs[0][name])
        np.testing.assert_array_equal(after[1][name], theirs[0][name])
    w = {name: a.astype(np.float64) for name, a in theirs[0].items()}
    h = np.maximum(np.ones((2, 5)) @ w["fc0.weight"] + w["fc0.bias"], 0)
    np.testing.assert_allclose(y.data, h @ w["fc1.weight"] + w["fc1.bias"], rtol=1e-5)


def test_all_sum_adds_every_ranks_value() -> None:
    assert dist.all_sum(dist.rank() + 1.5) == 1.5 + 2.5
