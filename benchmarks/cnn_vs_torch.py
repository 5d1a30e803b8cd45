"""One epoch of the MNIST CNN (`mnist --model cnn --optimizer adam`) in Macrograd and in
PyTorch (../shared/reference/torch_cnn.py: the same network, Adam with the same linear
decay, same batch size), alternating runs; prints medians and ratios, writes JSON.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        uv run python benchmarks/cnn_vs_torch.py --repeats 5

``--macrograd NAME=PYTHON`` (repeatable) times other checkouts too, alternated with
this one (e.g. ``before=/path/to/old/checkout/.venv/bin/python``), so a before/after
comparison sees the same machine state.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mnist_vs_torch import HERE, ROOT, child_env, run


def macrograd(python: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    cmd = [python, "-m", "mnist_app.cli", "--json", "--no-progress", "--model", "cnn"]
    cmd += ["--optimizer", "adam", "--data-dir", args.data_dir, "--seed", str(args.seed)]
    cmd += ["--batch-size", str(args.batch_size), "--threads", str(args.threads)]
    cmd += ["--epochs", str(args.epochs)]
    return run(cmd, env)[0]


def torch_run(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    cmd = [args.torch_python, str(Path(args.reference_dir) / "torch_cnn.py")]
    cmd += ["--batch-size", str(args.batch_size), "--threads", str(args.threads)]
    cmd += ["--seed", str(args.seed)]
    return run(cmd, env)[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=1, help="Macrograd's epochs (PyTorch: 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "mnist"))
    p.add_argument("--reference-dir", default=str(ROOT.parent / "shared" / "reference"))
    p.add_argument("--torch-python", default="/tmp/torchenv/bin/python")
    p.add_argument("--macrograd", action="append", default=[], metavar="NAME=PYTHON")
    p.add_argument("--json-out", default=str(HERE / "results" / "cnn_vs_torch.json"))
    args = p.parse_args()
    env = child_env(args.data_dir)
    pythons = {"macrograd": sys.executable} | dict(v.split("=", 1) for v in args.macrograd)
    have_torch = Path(args.torch_python).exists()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in pythons}
    runs["torch"] = []
    for r in range(args.repeats):
        for name, python in pythons.items():
            runs[name].append(macrograd(python, args, env))
        if have_torch:
            runs["torch"].append(torch_run(args, env))
        line = ", ".join(
            f"{k} {v[-1]['epoch_seconds']:.2f} s (acc {v[-1]['test_accuracy']:.4f})"
            for k, v in runs.items()
            if v
        )
        print(f"run {r + 1}/{args.repeats}: {line}", flush=True)
    summary: dict[str, Any] = {"config": vars(args)}
    for name, rs in runs.items():
        if rs:
            summary[name] = {
                "epoch_seconds": statistics.median(r["epoch_seconds"] for r in rs),
                "test_accuracy": statistics.median(r["test_accuracy"] for r in rs),
                "runs": [round(r["epoch_seconds"], 2) for r in rs],
            }
    print(f"\n{'impl':>12} {'median s':>9} {'test acc':>9}  runs")
    for name in runs:
        if name in summary:
            s = summary[name]
            print(f"{name:>12} {s['epoch_seconds']:9.2f} {s['test_accuracy']:9.4f}  {s['runs']}")
            if "torch" in summary and name != "torch":
                ratio = s["epoch_seconds"] / summary["torch"]["epoch_seconds"]
                s["ratio_to_torch"] = round(ratio, 3)
                print(f"{'':>12} {ratio:.3f} x PyTorch")
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
