"""Sequence classification with an LSTM (or a GRU), written as a PyTorch user would.

Which waveform is this noisy signal: a sine, a square wave or a sawtooth (random
frequency, phase and amplitude)? A two-layer recurrent network reads the sequence one
step at a time and a linear head classifies its last hidden state. The data are made
by the script (no download). Run from the repository root:

    uv run python examples/sequence_classifier.py              # LSTM: 96% in about 10 s
    uv run python examples/sequence_classifier.py --cell gru --steps 300 --eager

The unrolled sequence is ordinary graph nodes, so ``compute_graph`` traces the whole
forward pass once, freezes it and replays it at every step (``--eager`` rebuilds the
graph at every step instead; both give the same losses for the same seed).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from macrograd import Tensor
from macrograd.engine import compute_graph
from macrograd.nn import GRU, LSTM, F, Linear, Model, manual_seed
from macrograd.optim import Adam

CLASSES = ("sine", "square", "sawtooth")


def make_data(
    n: int, length: int, rng: np.random.Generator
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """``n`` noisy waveforms ``(n, length, 1)`` and their classes ``(n,)``."""
    labels = rng.integers(0, len(CLASSES), n)
    t = np.arange(length)[None, :]
    cycles = rng.uniform(1.5, 4.0, (n, 1)) * t / length + rng.uniform(0, 1, (n, 1))
    phase = 2 * np.pi * cycles
    waves = np.stack([np.sin(phase), np.sign(np.sin(phase)), 2 * (cycles % 1.0) - 1], axis=0)[
        labels, np.arange(n)
    ]
    amplitude = rng.uniform(0.5, 1.5, (n, 1))
    noisy = amplitude * waves + rng.normal(0, 0.2, (n, length))
    return noisy[..., None].astype(np.float32), labels.astype(np.int64)


class SequenceClassifier(Model):
    def __init__(self, cell: str = "lstm", hidden: int = 32, layers: int = 2) -> None:
        super().__init__()
        recurrent = {"lstm": LSTM, "gru": GRU}[cell]
        self.rnn = recurrent(1, hidden, num_layers=layers, batch_first=True)
        self.head = Linear(hidden, len(CLASSES))

    def forward(self, x: Tensor | NDArray[np.float32]) -> Tensor:
        out, _ = self.rnn(x)  # (N, L, hidden): the last layer's state at every step
        return self.head(out[:, -1])


def train(
    cell: str = "lstm",
    steps: int = 200,
    compiled: bool = True,
    seed: int = 0,
    batch: int = 64,
    length: int = 24,
    lr: float = 1e-2,
    report: Callable[[int, float], None] | None = None,
) -> tuple[SequenceClassifier, list[float]]:
    """Train on fresh random batches; returns the model and the loss of every step."""
    manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SequenceClassifier(cell)
    optimizer = Adam(model.parameters(), lr=lr)

    def loss_of(x: Tensor | NDArray[np.float32], y: Tensor | NDArray[np.int64]) -> Tensor:
        return F.cross_entropy(model(x), y)

    step_loss = compute_graph(loss_of) if compiled else loss_of
    losses = []
    for step in range(steps):
        x, y = make_data(batch, length, rng)
        loss = step_loss(x, y)
        loss.backprop()
        optimizer.step()
        losses.append(float(loss.data))
        if report is not None:
            report(step, losses[-1])
    return model, losses


def accuracy(model: SequenceClassifier, x: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    model.eval()
    return float((model(x).data.argmax(1) == y).mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eager", action="store_true", help="no compute_graph")
    args = parser.parse_args(argv)

    def report(step: int, loss: float) -> None:
        if step % 25 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss:.4f}")

    start = time.perf_counter()
    model, _ = train(args.cell, args.steps, not args.eager, args.seed, report=report)
    seconds = time.perf_counter() - start
    x, y = make_data(1000, 24, np.random.default_rng(args.seed + 1))
    print(
        f"{args.cell.upper()}: test accuracy {accuracy(model, x, y):.1%} "
        f"({len(CLASSES)} classes, chance 33.3%), {args.steps} steps in {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
