"""A world of one process: no launcher, or no runtime. Everything is a no-op."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import mg_dist as dist
from mg_dist.params import first_mismatch
from mg_tensor import Tensor

pytestmark = pytest.mark.skipif(dist.world_size() > 1, reason="a world of one process only")


def _python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "PMIX_"))}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**clean, **env},
        check=True,
        timeout=60,
    )
    return done.stdout.strip() + done.stderr


def test_world_of_one_is_a_no_op() -> None:
    dist.init()
    assert (dist.rank(), dist.world_size()) == (0, 1)
    dist.barrier()
    w = Tensor([1.0, 2.0], requires_grad=True)
    dist.broadcast_parameters([w])
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


def test_mpi_is_not_imported_without_a_launcher() -> None:
    out = _python(
        "import sys, mg_dist as d; d.init(); print(d.world_size(), 'mpi4py.MPI' in sys.modules)"
    )
    assert out.startswith("1 False")


def test_without_the_runtime_the_world_is_one_process() -> None:
    # launched, but `from mpi4py import MPI` fails (as without libmpi): warn, world of one
    code = (
        "import sys; sys.modules['mpi4py'] = None\n"
        "import mg_dist as d; print(d.rank(), d.world_size())"
    )
    out = _python(code, PMI_RANK="0", PMI_SIZE="2")
    assert out.startswith("0 1")
    assert "MPI runtime is unavailable" in out


def test_first_mismatch_names_the_parameter() -> None:
    a = [("fc.weight", (4, 3), "<f4"), ("fc.bias", (4,), "<f4")]
    assert first_mismatch([a, list(a)]) is None
    b = [("fc.weight", (4, 3), "<f4"), ("fc.bias", (5,), "<f4")]
    assert (
        first_mismatch([a, b])
        == "parameter 'fc.bias' is (4,) float32 on rank 0 but (5,) float32 on rank 1"
    )
    c = [("fc.weight", (4, 3), "<f8"), ("fc.bias", (4,), "<f4")]
    assert "'fc.weight' is (4, 3) float32 on rank 0 but (4, 3) float64 on rank 2" in str(
        first_mismatch([a, a, c])
    )
    assert "'fc.bias' exists on rank 0 but not on rank 1" in str(first_mismatch([a, a[:1]]))
    d = [("other.weight", (4, 3), "<f4"), ("fc.bias", (4,), "<f4")]
    assert (
        first_mismatch([a, d])
        == "parameter 0 is 'fc.weight' on rank 0 but 'other.weight' on rank 1"
    )
