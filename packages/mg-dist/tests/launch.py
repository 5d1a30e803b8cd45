"""Run a Python script under ``mpiexec -n N`` (for the tests that need a fresh job)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def mpiexec() -> str | None:
    """The ``mpiexec`` next to this Python (the mpich wheel's), else on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def run(script: str, n: int = 2, timeout: float = 60.0) -> tuple[int, str, float]:
    """Run ``script`` (Python source) on ``n`` processes: exit code, output, seconds."""
    exe = mpiexec()
    assert exe is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "PMIX_", "MPI_"))}
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    start = time.perf_counter()
    done = subprocess.run(
        [exe, "-n", str(n), sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - start
