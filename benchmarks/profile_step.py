"""Where the milliseconds of one training step go: matmuls, other kernels, the
optimiser, and Python overhead (step time minus the kernels it ran).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE uv run python benchmarks/profile_step.py

Trains the original README's MLP (or with ``--model cnn`` the CNN, Adam) exactly as
`mnist` does (same forward, backprop, optimiser step) on random data, then times every
kernel of the frozen schedule.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from macrograd.nn import manual_seed
from mnist_app.cli import use_threads
from mnist_app.data import load
from mnist_app.models import build
from mnist_app.train import Config, make_optimizer, training_forward


def _kind(op: str) -> str:
    if op in {"matmul", "linear"} or "linear" in op:
        return "matmul"
    return "convolution" if op.startswith("conv") else "other kernels"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    p.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default=None,
        help="sgd for the MLP, adam for the CNN",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--cpu",
        action="store_true",
        help="process CPU time instead, each kernel timed where it runs in real steps "
        "(steadier than wall time on a shared machine); ops named with their shapes",
    )
    p.add_argument(
        "--in-steps",
        action="store_true",
        help="wall time of each kernel timed where it runs in real steps (with --cpu: "
        "process CPU time, all threads together)",
    )
    p.add_argument("--threads", type=int, default=None, help="as mnist --threads")
    p.add_argument(
        "--mnist",
        action="store_true",
        help="MNIST's first training batches (the copy shipped with the app) instead of "
        "random images, as torch_cnn_step.py --mnist",
    )
    args = p.parse_args()
    with use_threads(args.threads, args.model):  # the threads mnist itself would use
        profile(args)


def profile(args: argparse.Namespace) -> None:
    manual_seed(0)
    model = build(args.model)
    params = model.parameters()
    optimizer = args.optimizer or ("adam" if args.model == "cnn" else "sgd")
    lr = 0.001 if optimizer == "adam" else 0.01
    opt = make_optimizer(Config(lr=lr, optimizer=optimizer), params)
    b = args.batch_size
    xs, ys = batches(b, args.steps + 10, args.mnist)
    at = [0]
    forward = training_forward(model)

    def step() -> None:
        i = at[0] = (at[0] + 1) % len(xs)
        loss, _ = forward(xs[i], ys[i])
        loss.backprop()
        float(loss.data)
        opt.step(params)

    for _ in range(10):
        step()
    if args.cpu or args.in_steps:
        clock = time.process_time if args.cpu else time.perf_counter
        in_steps(forward, step, args.steps, clock, args.json)
        return
    totals, updates = [], []
    for i in range(args.steps):
        t0 = time.perf_counter()
        loss, _ = forward(xs[i], ys[i])
        loss.backprop()
        float(loss.data)
        t1 = time.perf_counter()
        opt.step(params)
        t2 = time.perf_counter()
        totals.append(t2 - t0)
        updates.append(t2 - t1)

    plan = forward.graph.executor.plan
    per_kind: dict[str, float] = defaultdict(float)
    per_op: dict[str, float] = defaultdict(float)
    repeats = 20
    for node, kernel in plan.steps:
        t0 = time.perf_counter()
        with np.errstate(all="ignore"):  # replaying in-place kernels alone overflows
            for _ in range(repeats):
                kernel()
        dt = (time.perf_counter() - t0) / repeats
        op = node.op
        name = op.name if op is not None else "leaf"
        per_op[name] += dt
        per_kind[_kind(name)] += dt
    step_ms = statistics.median(totals) * 1e3
    update_ms = statistics.median(updates) * 1e3
    kernels_ms = sum(per_kind.values()) * 1e3
    profile = {
        "model": args.model,
        "optimizer": optimizer,
        "batch_size": b,
        "step_ms": round(step_ms, 3),
        "matmul_ms": round(per_kind["matmul"] * 1e3, 3),
        "convolution_ms": round(per_kind["convolution"] * 1e3, 3),
        "other_kernels_ms": round(per_kind["other kernels"] * 1e3, 3),
        "optimizer_ms": round(update_ms, 3),
        "python_overhead_ms": round(step_ms - update_ms - kernels_ms, 3),
        "kernels": len(plan.steps),
        "by_op_ms": {
            k: round(v * 1e3, 3) for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])
        },
    }
    if args.json:
        print(json.dumps(profile))
        return
    print(
        f"one training step, {args.model} + {optimizer}, batch {b}: "
        f"{step_ms:.2f} ms (median of {args.steps})"
    )
    for key in (
        "matmul_ms",
        "convolution_ms",
        "other_kernels_ms",
        "optimizer_ms",
        "python_overhead_ms",
    ):
        share = profile[key] / step_ms
        print(f"  {key[:-3].replace('_', ' '):16s} {profile[key]:7.3f} ms  {share:6.1%}")
    print(f"  ({profile['kernels']} kernels in the schedule)")
    for name, ms in profile["by_op_ms"].items():
        print(f"    {name:20s} {ms:7.3f} ms")


def batches(b: int, count: int, mnist: bool) -> tuple[list[Any], list[Any]]:
    """``count`` batches of ``b`` (images flattened, labels one-hot): MNIST's first
    training images, or one random batch repeated."""
    if mnist:
        arrays = load(None, progress=False, subset=b * count)
        cuts = [slice(i * b, (i + 1) * b) for i in range(count)]
        return [arrays.x_train[c] for c in cuts], [arrays.y_train[c] for c in cuts]
    rng = np.random.default_rng(0)
    x = rng.random((b, 784), dtype=np.float32)
    return [x] * count, [np.eye(10, dtype=np.float32)[rng.integers(0, 10, b)]] * count


def in_steps(
    forward: Any, step: Callable[[], None], steps: int, clock: Callable[[], float], as_json: bool
) -> None:
    """Print the time (by ``clock``) of a step and of each kernel as it runs in the steps
    (with ``as_json``, one JSON line: ``step_ms``, ``kernels_ms``, ``matmul_ms`` and
    ``by_kernel_ms``)."""
    plan = forward.graph.executor.plan
    spent: dict[str, float] = defaultdict(float)

    def timed(kernel: Callable[[], Any], name: str) -> Callable[[], Any]:
        def run() -> Any:
            t0 = clock()
            result = kernel()
            spent[name] += clock() - t0
            return result

        return run

    for i, (node, kernel) in enumerate(plan.steps):
        name = f"{node.op.name if node.op is not None else 'leaf'} {node.shape}"
        plan.steps[i] = (node, timed(kernel, name))
    plan.calls[:] = [kernel for _, kernel in plan.steps]  # what a call replays
    t0 = clock()
    for _ in range(steps):
        step()
    total = (clock() - t0) / steps * 1e3
    kernels = sum(spent.values()) / steps * 1e3
    if as_json:
        by_kernel = {k: round(v / steps * 1e3, 4) for k, v in spent.items()}
        matmul = sum(v for k, v in by_kernel.items() if _kind(k.split()[0]) == "matmul")
        record = {"step_ms": round(total, 4), "kernels_ms": round(kernels, 4)}
        print(json.dumps(record | {"matmul_ms": round(matmul, 4), "by_kernel_ms": by_kernel}))
        return
    kind = "CPU" if clock is time.process_time else "wall"
    print(f"{kind} per step {total:.2f} ms, kernels {kernels:.2f} ms (mean of {steps} steps)")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:40s} {seconds / steps * 1e3:7.3f} ms")


if __name__ == "__main__":
    main()
