"""What a compiled function's guards cost per call (issue 11: at most 5 µs).

For the README's MLP (5 modules) and a deep model (64 sub-modules), times as medians:

* steady: checking the guards when no model changed since (one integer comparison);
* changed: after an unrelated model's ``train()`` bumped the guard epoch, evaluating
  every guard of the variant once (mode and members of each module it called);
* call: one whole call of the compiled function (input copy, guard check, handles),
  for scale.

Run with ``uv run python benchmarks/guard_overhead.py`` (``--json`` for machine output).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mg_nn import Linear, Model, ReLU, Sequential
from mg_tensor import Tensor, compute_graph

TARGET_US = 5.0


class ReadmeMLP(Model):
    def __init__(self) -> None:
        super().__init__()
        self.input_layer = Linear(784, 1024)
        self.hidden_1 = Linear(1024, 1024)
        self.hidden_2 = Linear(1024, 1024)
        self.output_layer = Linear(1024, 10)

    def forward(self, x: Any) -> Tensor:
        x = self.input_layer(x).relu()
        x = self.hidden_1(x).relu()
        x = self.hidden_2(x).relu()
        return self.output_layer(x)


def deep() -> Model:
    return Sequential(*[Sequential(Linear(8, 8), ReLU()) for _ in range(21)])


def median_us(run: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def measure(model: Model, width: int, repeats: int) -> dict[str, float]:
    x = np.ones((1, width), np.float32)
    forward = compute_graph(lambda x: model(x))
    _ = forward(x).data
    (variant,) = forward.variants
    other = Linear(1, 1)

    def changed() -> None:
        other.train()  # bumps the epoch: the next check evaluates every guard
        variant.valid()

    return {
        "modules": float(len(model.modules())),
        "guards": float(len(variant.guards)),
        "steady_us": median_us(variant.valid, repeats),
        "changed_us": median_us(changed, repeats) - median_us(other.train, repeats),
        "call_us": median_us(lambda: forward(x), repeats),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = {
        "readme_mlp": measure(ReadmeMLP(), 784, args.repeats),
        "deep_64_modules": measure(deep(), 8, args.repeats),
        "target_us": TARGET_US,
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    head = f"{'model':<18} {'modules':>7} {'guards':>6} {'steady µs':>10} {'changed µs':>11}"
    print(f"{head} {'call µs':>8}")
    for name in ("readme_mlp", "deep_64_modules"):
        r = results[name]
        assert isinstance(r, dict)
        print(
            f"{name:<18} {r['modules']:>7.0f} {r['guards']:>6.0f} {r['steady_us']:>10.2f} "
            f"{r['changed_us']:>11.2f} {r['call_us']:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
