"""The three rows of the performance issue against PyTorch, in one invocation: one CNN
epoch (`cnn_vs_torch.py`), the eager small-MLP step (`eager_step.py`) and the MLP epoch
at batch 64 (`mnist_vs_torch.py`), each script with alternated runs; prints each
script's table and the ratios, writes them all to one JSON file.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE uv run python benchmarks/vs_torch.py

``--repeats`` alternated runs per row (default 5); ``--rows`` picks some of them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGETS = {"cnn": 0.80, "eager": 1.0, "mlp": 0.95}  # at most this many times PyTorch's


def row(name: str, repeats: int, out: Path) -> dict[str, Any]:
    """Run one row's script (its output shown as it goes); its JSON summary."""
    json_out = out.with_name(f"{out.stem}_{name}.json")
    script, extra = {
        "cnn": ("cnn_vs_torch.py", ["--repeats", str(repeats)]),
        "eager": ("eager_step.py", ["--runs", str(repeats)]),
        "mlp": ("mnist_vs_torch.py", ["--repeats", str(repeats), "--batch-sizes", "64"]),
    }[name]
    cmd = [sys.executable, str(HERE / script), *extra, "--json-out", str(json_out)]
    print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
    subprocess.run(cmd, check=True)
    result: dict[str, Any] = json.loads(json_out.read_text())
    return result


def ratio(name: str, result: dict[str, Any]) -> float | None:
    """Macrograd's time over PyTorch's in one row's summary (the eager step against the
    faster of PyTorch's thread settings)."""
    if name == "cnn":
        value = result.get("macrograd", {}).get("ratio_to_torch")
    elif name == "mlp":
        value = result["batches"]["64"].get("ratio_to_torch")
    else:
        rows = result["rows"]
        torch = min(r["median_us"] for n, r in rows.items() if n.startswith("torch"))
        value = round(rows["eager"]["median_us"] / torch, 3)
    return None if value is None else float(value)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rows", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    p.add_argument("--json-out", default=str(HERE / "results" / "vs_torch.json"))
    args = p.parse_args()
    out = Path(args.json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    for name in args.rows:
        result = row(name, args.repeats, out)
        summary[name] = {"ratio": ratio(name, result), "target": TARGETS[name], "run": result}
    print("\nrow      Macrograd / PyTorch   target")
    for name, s in summary.items():
        shown = "n/a" if s["ratio"] is None else f"{s['ratio']:.3f}"
        print(f"{name:8s} {shown:>19s}   <= {s['target']:.2f}")
    out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
