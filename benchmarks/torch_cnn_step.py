"""PyTorch's side of `profile_step.py --model cnn --cpu`: wall and process CPU time of
one training step of the CNN of ../shared/reference/torch_cnn.py (Adam, batch 64, random
data). Runs in a Python that has torch:

    /tmp/torchenv/bin/python benchmarks/torch_cnn_step.py --threads 1

``--mnist`` trains on MNIST's first training batches (through
../shared/reference/mnist_common.py) instead of random images: PyTorch's step is a
quarter faster on real, mostly blank images. ``--profile`` adds PyTorch's own
per-operator breakdown (torch.profiler, self CPU time per step), the yardstick for
`profile_step.py --model cnn --in-steps`.
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--profile", action="store_true", help="per-operator times per step")
    p.add_argument("--mnist", action="store_true", help="MNIST batches, not random images")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xs, ys = batches(args.mnist, args.steps + 10)
    at = [0]

    def step() -> None:
        i = at[0] = (at[0] + 1) % len(xs)
        loss = F.cross_entropy(model(xs[i]), ys[i])
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
    if args.profile:
        operators(step, args.steps)


def batches(mnist: bool, count: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``count`` batches of 64: MNIST's first training images, or random ones."""
    if not mnist:
        return [torch.rand(64, 1, 28, 28)] * count, [torch.randint(0, 10, (64,))] * count
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "reference"))
    import mnist_common  # type: ignore[import-not-found]

    x, y, _, _ = mnist_common.load_mnist()
    images = torch.from_numpy(x[: 64 * count]).reshape(count, 64, 1, 28, 28)
    labels = torch.from_numpy(y[: 64 * count].astype("int64")).reshape(count, 64)
    return list(images), list(labels)


def operators(step: Callable[[], None], steps: int) -> None:
    """Print the self CPU time per step of each operator (above 0.05 ms), largest first."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    for event in rows:
        ms = event.self_cpu_time_total / steps / 1e3
        if ms >= 0.05:
            print(f"  {event.key:50s} {ms:7.3f} ms")


if __name__ == "__main__":
    main()
