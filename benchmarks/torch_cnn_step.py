"""PyTorch's side of `profile_step.py --model cnn --cpu`: wall and process CPU time of
one training step of the CNN of ../shared/reference/torch_cnn.py (Adam, batch 64, random
data). Runs in a Python that has torch:

    /tmp/torchenv/bin/python benchmarks/torch_cnn_step.py --threads 1
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=40)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(10):
        step()
    wall, cpu = [], []
    for _ in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(
        f"PyTorch {torch.__version__}, {args.threads} thread(s): step "
        f"{statistics.median(wall) * 1e3:.2f} ms wall, {statistics.median(cpu) * 1e3:.2f} ms "
        f"CPU (medians of {args.steps})"
    )


if __name__ == "__main__":
    main()
