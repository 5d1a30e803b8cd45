"""`mnist` on 2 processes (``mpiexec -n 2``): the global batch 64 = 2 x 32, only rank 0
prints and writes files, at least 97% after one epoch, and a checkpointed run resumed
on 2 processes ends where an uninterrupted one does.

Needs the MPI runtime (the app's ``mpi`` extra: mpi4py and the mpich wheel, which ships
``mpiexec`` next to the interpreter); without it these tests skip, saying so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mnist_support import ENTRY, one_line

# the mpich wheel's, next to this Python, else on PATH (uv run --with layers environments)
_BESIDE = Path(sys.executable).with_name("mpiexec")
MPIEXEC = str(_BESIDE) if _BESIDE.exists() else shutil.which("mpiexec") or ""

pytestmark = [
    pytest.mark.skipif(
        not MPIEXEC or importlib.util.find_spec("mpi4py") is None,
        reason="no MPI runtime (mpiexec and mpi4py): install the app's `mpi` extra "
        "(uv run --extra mpi ..., or pip install 'mnist-app[mpi]')",
    ),
    pytest.mark.skipif(
        any(v in os.environ for v in ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK")),
        reason="already under an MPI launcher: these tests start their own mpiexec",
    ),
]


def mpiexec(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``mpiexec -n 2 mnist ARGS`` in ``folder``, one BLAS thread per process."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "HOME": str(folder)}
    return subprocess.run(
        [MPIEXEC, "-n", "2", *ENTRY, "--threads", "1", "--no-progress", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def summary_of(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """Rank 0's JSON summary, checking that no other rank printed anything."""
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2, done.stdout  # rank 0's summary line and its JSON only
    summary: dict[str, object] = json.loads(lines[1])
    assert summary["processes"] == 2
    return summary


def test_two_processes_reach_97_percent_in_one_epoch(tmp_path: Path) -> None:
    # the requirement: one full epoch (minutes on a loaded 2-core machine)
    done = mpiexec(tmp_path, "--json", "--save", "weights.safetensors", timeout=1500)
    summary = summary_of(done)
    assert summary["config"]["batch_size"] == 64  # type: ignore[index]
    assert summary["test_accuracy"] >= 0.97, summary  # type: ignore[operator]
    assert " | 2 processes, " in done.stdout
    assert (tmp_path / "weights.safetensors").exists()


def test_resumed_on_two_processes_ends_where_an_uninterrupted_run_does(tmp_path: Path) -> None:
    quick = ["--subset", "512", "--schedule", "constant", "--json"]
    whole = summary_of(mpiexec(tmp_path, *quick, "--epochs", "2", "--save", "whole.safetensors"))
    summary_of(mpiexec(tmp_path, *quick, "--epochs", "1", "--checkpoint", "ckpt"))
    assert (tmp_path / "ckpt" / "checkpoint.safetensors").is_file()
    resumed = summary_of(
        mpiexec(tmp_path, "--resume", "ckpt", "--epochs", "2", "--json", "--save", "b.safetensors")
    )
    assert resumed["test_accuracy"] == whole["test_accuracy"]
    assert resumed["train_loss"] == whole["train_loss"]
    whole_bytes = (tmp_path / "whole.safetensors").read_bytes()
    assert (tmp_path / "b.safetensors").read_bytes() == whole_bytes


def test_a_batch_the_processes_cannot_share_is_refused(tmp_path: Path) -> None:
    done = mpiexec(tmp_path, "--subset", "128", "--batch-size", "63")
    assert done.returncode == 2, done.stderr
    # every rank finds the same mistake: said once
    assert one_line(done.stderr) == (
        "mnist: --batch-size 63 is the global batch: use a multiple of the 2 processes"
    )


def test_a_mistake_on_one_rank_ends_every_rank(tmp_path: Path) -> None:
    # rank 1 alone lacks the data (another machine, say): rank 0 must not wait for it
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "HOME": str(tmp_path)}
    options = ["--subset", "128", "--no-progress"]
    command = [MPIEXEC, "-n", "1", *ENTRY, *options, ":"]
    command += ["-n", "1", *ENTRY, *options, "--data-dir", str(tmp_path / "nowhere")]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2, done.stderr
    assert "nowhere" in one_line(done.stderr)
    assert done.stdout == ""


def test_eval_on_two_processes_scores_shares_and_reports_once(tmp_path: Path) -> None:
    summary_of(mpiexec(tmp_path, "--subset", "1001", "--json", "--save", "w.safetensors"))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "HOME": str(tmp_path)}
    options = ["eval", "--weights", "w.safetensors", "--subset", "1001", "--json"]
    options += ["--no-progress", "--threads", "1"]

    def run(*launcher: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*launcher, *ENTRY, *options],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    two, one = run(MPIEXEC, "-n", "2"), run()
    assert two.returncode == 0 and one.returncode == 0, two.stderr + one.stderr
    lines = two.stdout.strip().splitlines()
    assert len(lines) == 2, two.stdout  # rank 0's line and its JSON only
    shared, alone = json.loads(lines[1]), json.loads(one.stdout.strip().splitlines()[-1])
    assert shared["processes"] == 2 and "processes" not in alone
    assert shared["test_accuracy"] == alone["test_accuracy"]  # 1001 images: 500 + 501
