"""Train the original README's MLP for one epoch in Macrograd (`mnist`), in PyTorch and
in the hand-written numpy reference, alternating runs; print medians, ratios and peak
memory per batch size, with the matmul-only floor (the epoch's matmuls alone, timed in
numpy at their shapes by ../shared/reference/gemm_peak.py once per round, fastest
kept), write a JSON file, and
check that weights saved by `mnist` load into the equivalent PyTorch model and give the
same predictions.

    uv run python benchmarks/mnist_vs_torch.py --batch-sizes 32 64 256 --repeats 3

Macrograd and PyTorch start from the same initial weights and see the same batches with
the same hyperparameters; the numpy reference (../shared/reference/numpy_mlp.py) uses
the same batches and hyperparameters with its own (identically distributed) initial
weights. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from the children's
environment so OpenBLAS picks its fastest kernels. PyTorch runs from --torch-python
(default /tmp/torchenv/bin/python: `python3 -m venv /tmp/torchenv &&
/tmp/torchenv/bin/pip install torch==2.13.0 numpy safetensors`); it is skipped if absent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
N_TRAIN = 60_000
TARGET = 0.95  # the issue's: at most this many times PyTorch's epoch
ROOT = HERE.parent
WRAP_MAXRSS = (
    "import atexit, resource, runpy, sys; "
    "atexit.register(lambda: print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF)"
    ".ru_maxrss, file=sys.stderr)); sys.argv = sys.argv[1:]; "
    "sys.path.insert(0, __import__('os').path.dirname(sys.argv[0])); "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def child_env(data_dir: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
    }
    env["MACROGRAD_DATA"] = data_dir
    env["MNIST_DIR"] = data_dir
    return env


def last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)  # type: ignore[no-any-return]
    raise RuntimeError(f"no JSON line in output:\n{text[-2000:]}")


def run(cmd: list[str], env: dict[str, str]) -> tuple[dict[str, Any], str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return last_json(proc.stdout), proc.stderr


def common(args: argparse.Namespace, batch: int) -> list[str]:
    return [
        "--batch-size",
        str(batch),
        "--lr",
        str(args.lr),
        "--momentum",
        str(args.momentum),
        "--seed",
        str(args.seed),
        "--threads",
        str(args.threads),
    ]


def macrograd(
    args: argparse.Namespace, batch: int, tmp: Path, env: dict[str, str]
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "mnist_app.cli",
        "--json",
        "--no-progress",
        "--schedule",
        args.schedule,
        "--data-dir",
        args.data_dir,
        "--save",
        str(tmp / f"final-{batch}.safetensors"),
        "--save-initial",
        str(tmp / f"init-{batch}.safetensors"),
        *common(args, batch),
    ]
    out, _ = run(cmd, env)
    return out


def torch_run(
    args: argparse.Namespace, batch: int, tmp: Path, env: dict[str, str]
) -> dict[str, Any]:
    cmd = [
        args.torch_python,
        str(HERE / "torch_side.py"),
        "--data",
        str(tmp / "mnist.npz"),
        "--init",
        str(tmp / f"init-{batch}.safetensors"),
        "--schedule",
        args.schedule,
        *common(args, batch),
    ]
    out, _ = run(cmd, env)
    return out


def numpy_run(args: argparse.Namespace, batch: int, env: dict[str, str]) -> dict[str, Any]:
    script = str(Path(args.reference_dir) / "numpy_mlp.py")
    cmd = [
        sys.executable,
        "-c",
        WRAP_MAXRSS,
        script,
        "--lr-schedule",
        args.schedule,
        *common(args, batch),
    ]
    out, err = run(cmd, env)
    rss = [line.split()[1] for line in err.splitlines() if line.startswith("MAXRSS")]
    out["peak_memory_mb"] = round(int(rss[-1]) / 1024, 1) if rss else None
    return out


def matmul_floor(
    args: argparse.Namespace, batch: int, env: dict[str, str], lib: str = "numpy"
) -> float | None:
    """Seconds an epoch's matmuls alone take in ``lib`` (numpy or torch) at the rates
    measured for their shapes (../shared/reference/gemm_peak.py): no training loop on that
    library's BLAS can beat it."""
    script = Path(args.reference_dir) / "gemm_peak.py"
    python = sys.executable if lib == "numpy" else args.torch_python
    if not script.exists() or not Path(python).exists():
        return None
    cmd = [python, str(script), "--which", lib, "--batches", str(batch)]
    cmd += ["--threads", str(args.threads), "--square", "1024"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if record.get("batch") == batch:
            return float(record["floor_s_at_measured_shape_rates"])
    return None


def matmuls_in_steps(args: argparse.Namespace, batch: int, env: dict[str, str]) -> float:
    """Milliseconds the matmuls of one training step take where they run in real steps
    (`profile_step.py --in-steps`, mean of 200 steps on MNIST batches)."""
    cmd = [sys.executable, str(HERE / "profile_step.py"), "--in-steps", "--json", "--mnist"]
    cmd += ["--batch-size", str(batch), "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return float(last_json(proc.stdout)["matmul_ms"])


def export_data(tmp: Path, data_dir: str) -> None:
    from mg_data import flatten, load_mnist, scale

    mnist = load_mnist(data_dir, progress=False)
    np.savez(
        tmp / "mnist.npz",
        x_train=flatten(scale(mnist.train_images)),
        y_train=mnist.train_labels.astype(np.int64),
        x_test=flatten(scale(mnist.test_images)),
        y_test=mnist.test_labels.astype(np.int64),
    )


def same_predictions(
    args: argparse.Namespace, batch: int, tmp: Path, env: dict[str, str]
) -> dict[str, Any]:
    """Load `mnist --save` weights into PyTorch and into Macrograd; compare predictions."""
    from mnist_app.models import MNIST_model
    from mnist_app.train import evaluate

    weights = tmp / f"final-{batch}.safetensors"
    out = tmp / "torch-pred.npy"
    run(
        [
            args.torch_python,
            str(HERE / "torch_side.py"),
            "--data",
            str(tmp / "mnist.npz"),
            "--predict",
            str(weights),
            "--out",
            str(out),
        ],
        env,
    )
    data = np.load(tmp / "mnist.npz")
    model = MNIST_model(784, 10)
    model.load(str(weights))
    ours = np.asarray(model(data["x_test"]).argmax(axis=1).data)
    theirs = np.load(out)
    return {
        "weights": weights.name,
        "agreement": float((ours == theirs).mean()),
        "macrograd_accuracy": float((ours == data["y_test"]).mean()),
        "torch_accuracy": float((theirs == data["y_test"]).mean()),
        "macrograd_accuracy_via_app": evaluate(model, data["x_test"], data["y_test"]),
    }


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(
    runs: dict[str, list[dict[str, Any]]], floors: dict[str, list[float | None]]
) -> dict[str, Any]:
    """Medians of each implementation's runs, the ratios and the matmul floors (the
    fastest of the rounds: a lower bound for any loop on that library's BLAS)."""
    summary: dict[str, Any] = {
        impl: {
            key: median(rs, key)
            for key in ("epoch_seconds", "samples_per_second", "test_accuracy", "peak_memory_mb")
        }
        | {"runs": rs}
        for impl, rs in runs.items()
        if rs
    }
    ours = summary["macrograd"]["epoch_seconds"]
    for impl in ("numpy", "torch"):
        if impl in summary:
            summary[f"ratio_to_{impl}"] = round(ours / summary[impl]["epoch_seconds"], 3)
    for lib, values in floors.items():
        measured = [f for f in values if f is not None]
        if measured:
            summary[f"{lib}_matmul_floor_seconds"] = min(measured)
            if "torch" in summary:
                torch_s = summary["torch"]["epoch_seconds"]
                summary[f"{lib}_matmul_floor_ratio_to_torch"] = round(min(measured) / torch_s, 3)
    return summary


def gemm_share(summary: dict[str, Any], matmul_ms: float, batch: int) -> dict[str, Any]:
    """The issue's test for a missed target: does what remains of the gap come from GEMM
    time running at 80% or more of gemm_peak's rate for those shapes?

    ``rate_share``: numpy's matmul floor over our matmuls' time in real steps (each the
    fastest of the rounds).
    ``with_torch_gemms``: our epoch with its matmuls swapped for PyTorch's matmul floor
    (everything else ours), over PyTorch's epoch."""
    ours, theirs = summary["macrograd"]["epoch_seconds"], summary["torch"]["epoch_seconds"]
    in_steps = matmul_ms / 1e3 * (N_TRAIN / batch)
    share = summary["numpy_matmul_floor_seconds"] / in_steps
    swapped = (ours - in_steps + summary["torch_matmul_floor_seconds"]) / theirs
    return {
        "matmul_seconds_in_steps": round(in_steps, 3),
        "rate_share": round(share, 3),
        "with_torch_gemms": round(swapped, 3),
        "holds": share >= 0.8 and swapped <= TARGET,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--schedule", choices=["linear", "constant"], default="linear")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "mnist"))
    p.add_argument("--reference-dir", default=str(ROOT.parent / "shared" / "reference"))
    p.add_argument("--torch-python", default="/tmp/torchenv/bin/python")
    p.add_argument("--skip", nargs="*", default=[], choices=["torch", "numpy"])
    p.add_argument("--json-out", default=str(HERE / "results" / "mnist_vs_torch.json"))
    args = p.parse_args()
    have_torch = "torch" not in args.skip and Path(args.torch_python).exists()
    have_numpy = "numpy" not in args.skip and Path(args.reference_dir, "numpy_mlp.py").exists()
    if not have_torch:
        print(f"(PyTorch skipped: no {args.torch_python})")
    env = child_env(args.data_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    results: dict[str, Any] = {"config": vars(args), "batches": {}}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        export_data(tmp, args.data_dir)
        for batch in args.batch_sizes:
            runs: dict[str, list[dict[str, Any]]] = {"macrograd": [], "torch": [], "numpy": []}
            floors: dict[str, list[float | None]] = {"numpy": [], "torch": []}
            in_steps: list[float] = []  # our matmuls' ms a step, each round
            for r in range(args.repeats):
                runs["macrograd"].append(macrograd(args, batch, tmp, env))
                if have_torch:
                    runs["torch"].append(torch_run(args, batch, tmp, env))
                if have_numpy:
                    runs["numpy"].append(numpy_run(args, batch, env))
                floors["numpy"].append(matmul_floor(args, batch, env))
                if have_torch:
                    floors["torch"].append(matmul_floor(args, batch, env, "torch"))
                    in_steps.append(matmuls_in_steps(args, batch, env))
                print(
                    f"batch {batch} run {r + 1}/{args.repeats}: "
                    + ", ".join(
                        f"{k} {v[-1]['epoch_seconds']:.2f} s" for k, v in runs.items() if v
                    ),
                    flush=True,
                )
            summary = summarize(runs, floors)
            if in_steps and "numpy_matmul_floor_seconds" in summary:
                # the fastest round, as for the floors
                summary["gemm_share"] = gemm_share(summary, min(in_steps), batch)
            if have_torch:
                summary["interop"] = same_predictions(args, batch, tmp, env)
            results["batches"][str(batch)] = summary
    print_table(results)
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


def print_table(results: dict[str, Any]) -> None:
    print(
        f"\n{'batch':>5} {'impl':>10} {'epoch s':>8} {'samples/s':>10} {'test acc':>8} "
        f"{'peak MB':>8}"
    )
    for batch, summary in results["batches"].items():
        for impl in ("macrograd", "numpy", "torch"):
            if impl in summary:
                s = summary[impl]
                mem = f"{s['peak_memory_mb']:8.0f}" if s["peak_memory_mb"] else f"{'-':>8}"
                print(
                    f"{batch:>5} {impl:>10} {s['epoch_seconds']:8.2f} "
                    f"{s['samples_per_second']:10,.0f} {s['test_accuracy']:8.4f} {mem}"
                )
        ratios = ", ".join(f"{k} {v}" for k, v in summary.items() if k.startswith("ratio"))
        print(f"{'':>5} {'':>10} macrograd {ratios}")
        for lib in ("numpy", "torch"):
            if f"{lib}_matmul_floor_seconds" in summary:
                vs_torch = summary.get(f"{lib}_matmul_floor_ratio_to_torch")
                print(
                    f"{'':>5} {'':>10} matmuls alone ({lib}, fastest of the rounds): "
                    f"{summary[f'{lib}_matmul_floor_seconds']:.2f} s"
                    + (f" = {vs_torch} x PyTorch's epoch" if vs_torch is not None else "")
                )
        if "gemm_share" in summary:
            s = summary["gemm_share"]
            print(
                f"{'':>5} {'':>10} our matmuls in real steps: {s['matmul_seconds_in_steps']:.2f} s "
                f"an epoch, {s['rate_share']:.0%} of numpy's rate at their shapes; with "
                f"PyTorch's matmul time instead: {s['with_torch_gemms']} x PyTorch "
                f"(target {TARGET}): the gap is GEMM time: {s['holds']}"
            )
        if "interop" in summary:
            i = summary["interop"]
            print(
                f"{'':>5} {'':>10} weights -> PyTorch: predictions agree on "
                f"{i['agreement']:.2%} (acc {i['macrograd_accuracy']:.4f} vs "
                f"{i['torch_accuracy']:.4f})"
            )


if __name__ == "__main__":
    main()
