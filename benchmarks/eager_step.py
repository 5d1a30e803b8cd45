"""The small eager training step against PyTorch: MLP 64-64-64-10, batch 32, SGD with
momentum (``../shared/reference/torch_small_step.py``), written the PyTorch way with no
``compute_graph`` (eager), the same step under ``compute_graph`` (compiled), and
PyTorch's eager step, each run in its own process, alternated; prints medians and
ratios and writes ``results/eager_step.json``.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE uv run python benchmarks/eager_step.py --runs 5 \
        --before main=/path/to/main/.venv/bin/python

Every step is timed on its own and a run reports the median step (a 2-core machine
shared with other work preempts a process for 10-20 ms at a time, which a mean over
steps would count) and the mean. ``--torch-threads`` sets PyTorch's threads (the
reference uses 2; on a loaded machine its spinning OpenMP threads lose most). PyTorch
runs from --torch-python (default /tmp/torchenv/bin/python); skipped if absent.
``--profile`` prints a cProfile of the eager step instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def build(mode: str) -> Callable[[], None]:
    """One training step of the small MLP, eager or compiled."""
    from mg_nn import Linear, ReLU, Sequential
    from mg_nn import functional as F
    from mg_optim import SGD
    from mg_tensor import Tensor, compute_graph

    model = Sequential(
        Linear(64, 64, generator=0),
        ReLU(),
        Linear(64, 64, generator=1),
        ReLU(),
        Linear(64, 10, generator=2),
    )
    opt = SGD(model.parameters(), 0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 64)).astype(np.float32)
    y = rng.integers(0, 10, 32)

    def loss_of(x: Any, y: Any) -> Tensor:
        return F.cross_entropy(model(x), y)

    forward = compute_graph(loss_of) if mode == "compiled" else loss_of

    def step() -> None:
        loss = forward(x, y)
        opt.zero_grad()
        loss.backprop()
        float(loss.data)
        opt.step()

    return step


def measure(mode: str, steps: int, warmup: int) -> dict[str, float]:
    step = build(mode)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e6)
    return {"median_us": statistics.median(times), "mean_us": statistics.mean(times)}


def child(cmd: list[str]) -> dict[str, float]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def profile(steps: int) -> None:
    import cProfile
    import pstats

    step = build("eager")
    for _ in range(30):
        step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--torch-python", default="/tmp/torchenv/bin/python")
    p.add_argument("--torch-threads", type=int, nargs="+", default=[2, 1])
    p.add_argument(
        "--before",
        nargs="*",
        default=[],
        metavar="LABEL=PYTHON",
        help="Pythons of other checkouts: their rows too, alternated",
    )
    p.add_argument("--json-out", default=str(HERE / "results" / "eager_step.json"))
    p.add_argument("--child", choices=["eager", "compiled"], help=argparse.SUPPRESS)
    p.add_argument("--profile", action="store_true")
    return p.parse_args()


def commands(args: argparse.Namespace) -> dict[str, list[str]]:
    """Row name -> the command that measures it."""
    counts = ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    rows = {
        mode: [sys.executable, __file__, "--child", mode, *counts] for mode in ("eager", "compiled")
    }
    for before in args.before:
        label, python = before.split("=", 1)
        for mode in ("eager", "compiled"):
            rows[f"{mode} ({label})"] = [python, __file__, "--child", mode, *counts]
    if Path(args.torch_python).exists():
        for threads in args.torch_threads:
            script = str(HERE / "torch_eager_step.py")
            cmd = [args.torch_python, script, *counts, "--threads", str(threads)]
            rows[f"torch eager, {threads} thread{'s' * (threads > 1)}"] = cmd
    return rows


def report(args: argparse.Namespace, runs: dict[str, list[dict[str, float]]]) -> None:
    """Print medians and ratios to each PyTorch row; write the JSON file."""
    load = os.getloadavg()
    summary: dict[str, Any] = {}
    for name, results in runs.items():
        summary[name] = {
            "median_us": round(statistics.median(r["median_us"] for r in results), 1),
            "mean_us": round(statistics.median(r["mean_us"] for r in results), 1),
            "runs_median_us": [round(r["median_us"], 1) for r in results],
        }
    torch_names = [n for n in summary if n.startswith("torch")]
    print(
        f"small MLP training step, µs (medians of {args.runs} alternated runs, "
        f"{args.steps} steps each)"
    )
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(
        f"{'':30s} {'median step':>12s} {'mean step':>10s}  "
        + "  ".join(f"/ {n}" for n in torch_names)
    )
    for name, row in summary.items():
        ratios = {t: round(row["median_us"] / summary[t]["median_us"], 2) for t in torch_names}
        row["ratio_to"] = ratios
        print(
            f"{name:30s} {row['median_us']:12.1f} {row['mean_us']:10.1f}  "
            + "  ".join(f"{r:>8.2f}" for r in ratios.values())
        )
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"runs": args.runs, "steps": args.steps, "load_average": load, "rows": summary}
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.warmup)))
        return
    if args.profile:
        profile(args.steps)
        return
    rows = commands(args)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in rows}
    for _ in range(args.runs):  # alternated: each round runs every command once
        for name, cmd in rows.items():
            runs[name].append(child(cmd))
    report(args, runs)


if __name__ == "__main__":
    main()
