"""How close numpy's GEMMs let the CNN step come to PyTorch's: Macrograd's step as it is,
and as it would be if each convolution cost nothing but its GEMMs.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE uv run python benchmarks/cnn_floor.py

Each round, alternated, measures:

* Macrograd's step, kernel by kernel where the kernels run (`profile_step.py --model cnn
  --in-steps --json --mnist`, batch 64, Adam, MNIST's first training batches);
* the convolutions' GEMMs alone at their shapes, in the fastest form numpy has: one GEMM
  per kernel over the whole batch, its column matrix made beforehand and not timed, BLAS
  on every thread, each in both orientations, the faster kept;
* PyTorch's step (`torch_cnn_step.py --mnist`, the same network, Adam, the same batches:
  on random images PyTorch's step takes a third longer, ours the same).

"GEMM-only convolutions" is our step minus every convolution kernel and the bias
gradients (the sums PyTorch's convolution_backward does inside), plus those GEMMs: what
no copy, layout or fusion work on the convolutions can beat while the other kernels stay
as they are. Medians over the rounds; one JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
TARGET = 0.80  # the issue's: at most this many times PyTorch's step
CONVOLUTION = ("conv2d ", "conv2d_input_grad ", "conv2d_weight_grad ", "sum (32,)", "sum (64,)")
# (rows, inner, columns) of each GEMM: conv1 (1 -> 32 channels, 28 x 28) forward and
# weight gradient (its input needs no gradient), conv2 (32 -> 64, 14 x 14) all three
BATCH_PIXELS = {1: 64 * 28 * 28, 2: 64 * 14 * 14}
SHAPES = {
    "conv1 forward": (32, 9, BATCH_PIXELS[1]),
    "conv1 weight gradient": (32, BATCH_PIXELS[1], 9),
    "conv2 forward": (64, 288, BATCH_PIXELS[2]),
    "conv2 input gradient": (288, 64, BATCH_PIXELS[2]),
    "conv2 weight gradient": (64, BATCH_PIXELS[2], 288),
}


def best_of(fn: Callable[[], Any], repeats: int = 30) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls, after a warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm_ms(rows: int, inner: int, cols: int) -> float:
    """Milliseconds of the faster of ``(rows, inner) @ (inner, cols)`` and its transpose
    ``(cols, inner) @ (inner, rows)``, float32, preallocated output."""
    rng = np.random.default_rng(0)
    a, b = rng.random((rows, inner), np.float32), rng.random((inner, cols), np.float32)
    at, bt = np.ascontiguousarray(a.T), np.ascontiguousarray(b.T)
    c, ct = np.empty((rows, cols), np.float32), np.empty((cols, rows), np.float32)
    straight = best_of(lambda: np.matmul(a, b, out=c))
    transposed = best_of(lambda: np.matmul(bt, at, out=ct))
    return min(straight, transposed) * 1e3


def ours(threads: int) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "profile_step.py"), "--model", "cnn", "--in-steps"]
    cmd += ["--json", "--mnist", "--steps", "100", "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    record: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return record


def torch_step(python: str, threads: int) -> float | None:
    if not Path(python).exists():
        return None
    cmd = [python, str(HERE / "torch_cnn_step.py"), "--mnist", "--threads", str(threads)]
    cmd += ["--steps", "100"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    found = re.search(r"step ([0-9.]+) ms wall", proc.stdout)
    return float(found.group(1)) if found else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--torch-python", default="/tmp/torchenv/bin/python")
    args = p.parse_args()
    steps, convs, floors, torch_ms = [], [], [], []
    gemms: dict[str, list[float]] = {name: [] for name in SHAPES}
    for r in range(args.rounds):
        record = ours(args.threads)
        conv = sum(v for k, v in record["by_kernel_ms"].items() if k.startswith(CONVOLUTION))
        with threadpool_limits(limits=args.threads):
            for name, shape in SHAPES.items():
                gemms[name].append(gemm_ms(*shape))
        floor = sum(values[-1] for values in gemms.values())
        steps.append(record["step_ms"])
        convs.append(conv)
        floors.append(record["step_ms"] - conv + floor)
        theirs = torch_step(args.torch_python, args.threads)
        if theirs is not None:
            torch_ms.append(theirs)
        print(
            f"round {r + 1}/{args.rounds}: ours {record['step_ms']:.2f} ms (convolutions "
            f"{conv:.2f}), their GEMMs alone {floor:.2f}, PyTorch {theirs} ms",
            flush=True,
        )
    report(steps, convs, floors, torch_ms, gemms)


def report(
    steps: list[float],
    convs: list[float],
    floors: list[float],
    torch_ms: list[float],
    gemms: dict[str, list[float]],
) -> None:
    med = statistics.median
    result: dict[str, Any] = {
        "step_ms": round(med(steps), 3),
        "convolution_kernels_ms": round(med(convs), 3),
        "convolution_gemms_ms": {k: round(med(v), 3) for k, v in gemms.items()},
        "gemm_only_convolutions_step_ms": round(med(floors), 3),
    }
    print("\nconvolution GEMMs alone (numpy, whole batch, fastest orientation):")
    for name, ms in result["convolution_gemms_ms"].items():
        print(f"  {name:24s} {ms:6.3f} ms")
    print(f"Macrograd step                      {result['step_ms']:7.2f} ms")
    print(f"  its convolution kernels and bias gradients {result['convolution_kernels_ms']:.2f} ms")
    print(f"  with GEMM-only convolutions       {result['gemm_only_convolutions_step_ms']:7.2f} ms")
    if torch_ms:
        theirs = med(torch_ms)
        result |= {
            "torch_step_ms": round(theirs, 3),
            "ratio": round(result["step_ms"] / theirs, 3),
            "gemm_only_ratio": round(result["gemm_only_convolutions_step_ms"] / theirs, 3),
            "target": TARGET,
        }
        print(f"PyTorch step                        {theirs:7.2f} ms")
        print(
            f"ratio {result['ratio']}, with GEMM-only convolutions {result['gemm_only_ratio']} "
            f"(target {TARGET})"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
