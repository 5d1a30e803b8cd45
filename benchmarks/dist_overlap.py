"""How much of the gradient all-reduce the graph-scheduled overlap hides.

Run on 2 processes (one BLAS thread each):

    OPENBLAS_NUM_THREADS=1 uv run mpiexec -n 2 python benchmarks/dist_overlap.py

The README's MLP (784-1024-1024-1024-10, 2.9M float32 parameters: 11.6 MB of
gradients) trains on random batches of 32 rows per rank in a frozen graph, SGD with
momentum, in three interleaved variants within one run:

* blocking: ``DistributedOptimizer(overlap=False)``: backprop, then every bucket's
  all-reduce, waited on at once, then the update;
* overlap: the default: each bucket's ``Iallreduce`` starts inside the backward replay
  as soon as its gradients exist, and ``step()`` waits for them;
* allreduce: one blocking ``Allreduce`` of the same 11.6 MB (what blocking pays).

It prints medians per step and the hidden share
``(blocking step - overlapped step) / allreduce time``, with the MPICH settings in
force (``MPIR_CVAR_ASYNC_PROGRESS=1`` starts MPICH's progress thread).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import numpy as np

import mg_dist as dist
from mg_dist.runtime import comm, mpi
from mg_nn import manual_seed
from mg_optim import SGD
from mg_tensor import Tensor, compute_graph
from mnist_app.models import build, cross_entropy


def _variant(overlap: bool, bucket_bytes: int) -> tuple[Any, Any]:
    manual_seed(0)
    model = build("mlp")
    opt = dist.DistributedOptimizer(
        SGD(model.parameters(), lr=0.01, momentum=0.9), overlap=overlap, bucket_bytes=bucket_bytes
    )

    @compute_graph
    def forward(x: Tensor, y: Tensor) -> Tensor:
        return cross_entropy(y, model(x))

    return forward, opt


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    parser.add_argument("--batch-size", type=int, default=32, help="rows per rank")
    parser.add_argument("--bucket-mb", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def _measure(
    args: argparse.Namespace, c: Any, variants: dict[str, tuple[Any, Any]], grads: Any
) -> tuple[dict[str, float], dict[str, float]]:
    """Median ms per step of each variant and of a bare all-reduce, and median ms per
    step each variant waited on communication, over interleaved rounds."""
    MPI = mpi()
    rng = np.random.default_rng(dist.rank())
    x = rng.random((args.batch_size, 784), np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, args.batch_size)]
    times: dict[str, list[float]] = {"blocking": [], "overlap": [], "allreduce": []}
    waits: dict[str, list[float]] = {"blocking": [], "overlap": []}
    for forward, opt in variants.values():  # warm up: trace, pin, add effect nodes
        for _ in range(3):
            forward(x, y).backprop()
            opt.step()
    for _ in range(args.rounds):
        for name, (forward, opt) in variants.items():
            c.Barrier()
            waited = opt.wait_seconds
            start = time.perf_counter()
            for _ in range(args.steps):
                forward(x, y).backprop()
                opt.step()
            times[name].append((time.perf_counter() - start) / args.steps)
            waits[name].append((opt.wait_seconds - waited) / args.steps)
        c.Barrier()
        start = time.perf_counter()
        for _ in range(args.steps):
            c.Allreduce(MPI.IN_PLACE, grads, op=MPI.SUM)
        times["allreduce"].append((time.perf_counter() - start) / args.steps)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    wait = {k: statistics.median(v) * 1e3 for k, v in waits.items()}
    return med, wait


def main() -> None:
    args = _arguments()
    c = comm()
    if c is None or c.Get_size() < 2:
        raise SystemExit("run it with mpiexec -n 2 (and the mg-dist[mpi] extra)")
    MPI = mpi()
    bucket_bytes = int(args.bucket_mb * 2**20)
    variants = {"blocking": _variant(False, bucket_bytes), "overlap": _variant(True, bucket_bytes)}
    grads = np.ones(sum(p.size for p in variants["overlap"][1].params), np.float32)
    med, wait = _measure(args, c, variants, grads)
    result = {
        "ranks": c.Get_size(),
        "batch_per_rank": args.batch_size,
        "gradient_mb": round(grads.nbytes / 1e6, 2),
        "buckets": len(variants["overlap"][1].reducer.buckets),
        "step_ms_blocking": round(med["blocking"], 2),
        "step_ms_overlap": round(med["overlap"], 2),
        "allreduce_ms": round(med["allreduce"], 2),
        "allreduce_gb_s": round(grads.nbytes / med["allreduce"] / 1e6, 2),
        "wait_ms_blocking": round(wait["blocking"], 2),
        "wait_ms_overlap": round(wait["overlap"], 2),
        "hidden_share": round((med["blocking"] - med["overlap"]) / med["allreduce"], 2),
        "mpich": MPI.Get_library_version().splitlines()[0].strip(),
        "MPIR_CVAR_ASYNC_PROGRESS": os.environ.get("MPIR_CVAR_ASYNC_PROGRESS", "0 (default)"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
    }
    if dist.rank() != 0:
        return
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
