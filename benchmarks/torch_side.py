"""The PyTorch side of `mnist_vs_torch.py`; runs in a Python that has torch (not in the
workspace: torch would pull a multi-GB CUDA build). Prints one JSON line.

Two modes:
  train:   --data D.npz --init INIT.safetensors ...  trains the README MLP exactly like
           `mnist` does (same initial weights, batches, schedule) and reports timing
  predict: --data D.npz --predict W.safetensors --out P.npy  writes test predictions
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn


class MNISTModel(nn.Module):
    """The README's MLP with the same attribute (and so state_dict key) names."""

    def __init__(self) -> None:
        super().__init__()
        self.input_layer = nn.Linear(784, 1024)
        self.hidden_1 = nn.Linear(1024, 1024)
        self.hidden_2 = nn.Linear(1024, 1024)
        self.output_layer = nn.Linear(1024, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.input_layer(x))
        x = F.relu(self.hidden_1(x))
        x = F.relu(self.hidden_2(x))
        return self.output_layer(x)  # logits: cross_entropy applies log-softmax


def train(args: argparse.Namespace, data: dict[str, np.ndarray]) -> dict[str, object]:
    xs, ys = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    model = MNISTModel()
    model.load_state_dict(load_file(args.init))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    n, bs = xs.shape[0], args.batch_size
    steps_per_epoch = -(-n // bs)
    total = steps_per_epoch * args.epochs
    rng = np.random.default_rng(args.seed)  # the same batches as mg_data.DataLoader
    step, seconds, losses = 0, 0.0, []
    for _ in range(args.epochs):
        perm = torch.from_numpy(rng.permutation(n))
        xe, ye = xs[perm], ys[perm]  # shuffled outside the timed loop, as the reference does
        start = time.perf_counter()
        for i in range(0, n, bs):
            if args.schedule == "linear":
                opt.param_groups[0]["lr"] = args.lr * (1.0 - step / total)
            loss = F.cross_entropy(model(xe[i : i + bs]), ye[i : i + bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            step += 1
        seconds += time.perf_counter() - start
    with torch.no_grad():
        pred = model(torch.from_numpy(data["x_test"])).argmax(1).numpy()
    epoch_seconds = seconds / args.epochs
    return {
        "impl": "torch",
        "torch": torch.__version__,
        "epoch_seconds": round(epoch_seconds, 4),
        "samples_per_second": round(n / epoch_seconds, 1),
        "test_accuracy": round(float((pred == data["y_test"]).mean()), 4),
        "train_loss": round(float(torch.stack(losses[-50:]).mean()), 5),
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--init")
    p.add_argument("--predict")
    p.add_argument("--out")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--schedule", choices=["linear", "constant"], default="linear")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = dict(np.load(args.data))
    if args.predict:
        model = MNISTModel()
        model.load_state_dict(load_file(args.predict))
        with torch.no_grad():
            pred = model(torch.from_numpy(data["x_test"])).argmax(1).numpy()
        np.save(args.out, pred)
        print(json.dumps({"impl": "torch", "predictions": args.out}))
        return
    print(json.dumps(train(args, data)), flush=True)


if __name__ == "__main__":
    main()
