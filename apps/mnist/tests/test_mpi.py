"""`mnist` on 2 processes (``mpiexec -n 2``): global batch 64 = 2 x 32, only rank 0
prints and writes files, at least 97% after one epoch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import DATA, needs_mnist

MPIEXEC = Path(sys.executable).parent / "mpiexec"


@needs_mnist
@pytest.mark.skipif(not MPIEXEC.exists(), reason="no mpiexec (the mg-dist[mpi] extra)")
@pytest.mark.skipif("PMI_RANK" in os.environ, reason="starts its own mpiexec")
def test_two_processes_reach_97_percent_in_one_epoch(tmp_path: Path) -> None:
    weights = tmp_path / "weights.safetensors"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    command = [str(MPIEXEC), "-n", "2", sys.executable, "-m", "mnist_app.cli"]
    options = ["--data-dir", str(DATA), "--json", "--no-progress", "--save", str(weights)]
    done = subprocess.run(
        command + options, capture_output=True, text=True, env=env, timeout=1200, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2, done.stdout  # rank 0's summary line and JSON, nothing from rank 1
    summary = json.loads(lines[-1])
    assert summary["processes"] == 2 and summary["config"]["batch_size"] == 64
    assert summary["test_accuracy"] >= 0.97, summary
    assert weights.exists()
