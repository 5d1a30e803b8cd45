"""Kernels of the issue-13 op families against numpy's nearest equivalents.

Prints the median time of each kernel (alternated runs, this machine is noisy):
``erf`` (numpy has none: against ``tanh`` and a ``math.erf`` loop), two-operand
``einsum`` run as one batched matmul (against ``np.einsum`` and ``np.matmul``),
``logsumexp``, ``sort``/``topk``, ``take_along_axis`` and its gradient's scatter.

    uv run python benchmarks/op_kernels.py [--size 1000000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mg_tensor.ops.einsum import Einsum
from mg_tensor.ops.gather import ScatterAddAlongAxis, TakeAlongAxis
from mg_tensor.ops.special import _erf
from mg_tensor.ops.stats import LogSumExp


def median_ms(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):  # alternated: a slow phase of the machine hits every kernel
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def report(title: str, figures: dict[str, float]) -> None:
    print(title)
    for name, ms in figures.items():
        print(f"  {name:<34} {ms:9.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x64 = rng.standard_normal(args.size)
    x32 = x64.astype(np.float32)
    small = x64[: args.size // 100]
    report(
        f"erf over {args.size:,} elements",
        median_ms(
            {
                "erf float64": lambda: _erf(x64),
                "erf float32": lambda: _erf(x32),
                "np.tanh float64 (one pass)": lambda: np.tanh(x64),
                "math.erf loop over 1% of them": lambda: [math.erf(v) for v in small],
            },
            args.repeats,
        ),
    )
    q = rng.standard_normal((8, 4, 64, 32))
    k = rng.standard_normal((8, 4, 64, 32))
    out = np.empty((8, 4, 64, 64))
    attention = Einsum("bhqd,bhkd->bhqk")
    report(
        "einsum bhqd,bhkd->bhqk (8, 4, 64, 32)",
        median_ms(
            {
                "Einsum op (one batched matmul)": lambda: attention.forward(q, k, out=out),
                "np.einsum optimize=True": lambda: np.einsum(
                    "bhqd,bhkd->bhqk", q, k, out=out, optimize=True
                ),
                "np.einsum (C loop)": lambda: np.einsum("bhqd,bhkd->bhqk", q, k, out=out),
                "np.matmul (the floor)": lambda: np.matmul(q, k.swapaxes(-1, -2), out=out),
            },
            args.repeats,
        ),
    )
    logits = rng.standard_normal((512, 1000))
    lse = LogSumExp((1,), False)
    report(
        "logsumexp over (512, 1000), axis 1",
        median_ms(
            {
                "LogSumExp op (stable)": lambda: lse.forward(logits),
                "naive log(sum(exp))": lambda: np.log(np.exp(logits).sum(1)),
            },
            args.repeats,
        ),
    )
    index = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    take = TakeAlongAxis(1)
    scatter = ScatterAddAlongAxis(1)
    base = np.zeros_like(logits)
    picked = np.take_along_axis(logits, index, 1)
    report(
        "sorting and gathers over (512, 1000)",
        median_ms(
            {
                "stable argsort (sort, topk)": lambda: np.argsort(logits, 1, kind="stable"),
                "take_along_axis k=5": lambda: take.forward(logits, index),
                "scatter_add k=5 (its gradient)": lambda: scatter.forward(base, index, picked),
            },
            args.repeats,
        ),
    )


if __name__ == "__main__":
    main()
