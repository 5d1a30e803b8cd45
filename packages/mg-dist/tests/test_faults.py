"""Faults in a 2-process job (each test starts its own ``mpiexec -n 2``): no hang, a
non-zero exit on every rank, the error printed once."""

from __future__ import annotations

import pytest
from launch import mpiexec, run

import mg_dist as dist

pytestmark = [
    pytest.mark.skipif(dist.world_size() > 1, reason="starts its own mpiexec"),
    pytest.mark.skipif(mpiexec() is None, reason="no mpiexec (install mg-dist[mpi])"),
]


def test_different_models_are_detected_at_start_up() -> None:
    script = """
import numpy as np
import mg_dist as dist
from mg_tensor import Tensor

hidden = 5 if dist.rank() == 0 else 6
model = {
    "fc1.weight": Tensor(np.zeros((4, 3), np.float32), requires_grad=True),
    "fc2.weight": Tensor(np.zeros((hidden, 4), np.float32), requires_grad=True),
}
dist.init()
dist.broadcast_parameters(model)
print("not reached", flush=True)
"""
    code, out, seconds = run(script)
    assert code != 0
    assert seconds < 30
    assert "not reached" not in out
    message = "parameter 'fc2.weight' is (5, 4) float32 on rank 0 but (6, 4) float32 on rank 1"
    assert out.count(message) == 1, f"exit {code} after {seconds:.1f} s:\n{out}"


def test_a_rank_that_raises_ends_every_rank_quickly() -> None:
    # rank 1 fails in its third step while rank 0 goes on into the gradient all-reduce
    script = """
import numpy as np
import mg_dist as dist
from mg_optim import SGD
from mg_tensor import Tensor

w = Tensor(np.ones(3, np.float32), requires_grad=True)
opt = dist.DistributedOptimizer(SGD([w], lr=0.1))
for step in range(1000):
    if step == 3 and dist.rank() == 1:
        raise ValueError("boom on rank 1")
    (w * w).sum().backprop()
    opt.step()
print("not reached", flush=True)
"""
    code, out, seconds = run(script)
    assert code != 0
    assert seconds < 20
    assert "not reached" not in out
    assert out.count("ValueError: boom on rank 1") == 1, (
        f"exit {code} after {seconds:.1f} s:\n{out}"
    )
    assert "[rank 1] Traceback" in out
