"""The PyTorch side of `eager_step.py` (runs in a Python that has torch): the step of
``../shared/reference/torch_small_step.py`` (MLP 64-64-64-10, batch 32, SGD momentum,
eager), each step timed on its own. Prints one JSON line: median and mean µs per step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    m = torch.nn.Sequential(
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )
    opt = torch.optim.SGD(m.parameters(), 0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((32, 64)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 10, 32))

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        float(loss.detach())
        opt.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e6)
    print(json.dumps({"median_us": statistics.median(times), "mean_us": statistics.mean(times)}))


if __name__ == "__main__":
    main()
