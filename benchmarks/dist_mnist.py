"""One epoch of `mnist` on 1 process with 2 BLAS threads vs 2 processes with 1 each.

    uv run python benchmarks/dist_mnist.py --data-dir ../shared/mnist --repeats 2
    uv run python benchmarks/dist_mnist.py --subset 2000 --repeats 1   # a quick trial

Runs the two commands alternately (same global batch 64, same seed) and prints, per
configuration, the median epoch time, test accuracy and the share of the epoch
rank 0 spent blocked on the gradient all-reduce (``communication_seconds``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

MPIEXEC = str(Path(sys.executable).with_name("mpiexec"))  # the mpich wheel's (mpi extra)


def run(command: list[str]) -> dict[str, float]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    summary: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])  # rank 0's
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--subset", type=int, default=None, help="the first N images only")
    args = parser.parse_args()
    options = ["--json", "--no-progress"] + (["--data-dir", args.data_dir] if args.data_dir else [])
    options += ["--subset", str(args.subset)] if args.subset else []
    mnist = [sys.executable, "-m", "mnist_app.cli"]
    configs = {
        "1 process x 2 threads": [*mnist, "--threads", "2", *options],
        "2 processes x 1 thread": [MPIEXEC, "-n", "2", *mnist, "--threads", "1", *options],
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    for _ in range(args.repeats):
        for name, command in configs.items():
            results[name].append(run(command))
    for name, runs in results.items():
        epoch = statistics.median(r["epoch_seconds"] for r in runs)
        comm = statistics.median(
            r.get("communication_seconds", 0.0) / r["epoch_seconds"] for r in runs
        )
        accuracy = [r["test_accuracy"] for r in runs]
        print(
            f"{name:>24}: epoch {epoch:.1f} s (runs {[r['epoch_seconds'] for r in runs]}), "
            f"waiting on communication {comm:.0%}, test accuracy {accuracy}"
        )


if __name__ == "__main__":
    main()
