"""A character-level GPT, written as a PyTorch user would.

Two transformer blocks (causal multi-head self-attention, then an MLP with GPT-2's tanh
GELU, each behind a LayerNorm and inside a residual connection) predict the next
character of Shakespeare (``examples/data/tinyshakespeare.txt``, public domain; see
``examples/data/README.md``).
The output projection reuses the token embedding (weight tying); AdamW decays the
weight matrices only (a parameter group without weight decay holds biases, LayerNorms
and the position table); the learning rate warms up linearly, then follows a cosine.
The script first fits a bigram model (counts) as the baseline, trains, compares the
validation losses and samples some text. Run from the repository root:

    uv run python examples/char_gpt.py     # validation 1.58 nats vs the bigram's 2.41, ~5 min
    uv run python examples/char_gpt.py --steps 200 --eager

The matrices are small (64 wide), so one BLAS thread is the fastest (``--threads``;
several threads on a busy machine are several times slower). ``compute_graph`` traces
the training step once, freezes it and replays it at every step (``--eager`` rebuilds
the graph at every step instead; both give the same losses for the same seed).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

import macrograd as mg
from macrograd import Tensor
from macrograd.engine import compute_graph
from macrograd.nn import (
    GELU,
    Dropout,
    Embedding,
    F,
    LayerNorm,
    Linear,
    Model,
    ModuleList,
    MultiheadAttention,
    Sequential,
    init,
    manual_seed,
)
from macrograd.optim import AdamW, CosineAnnealingLR, LinearWarmup, SequentialLR

DATA = Path(__file__).with_name("data") / "tinyshakespeare.txt"
Tokens = NDArray[np.int64]


class Vocabulary:
    """Characters <-> integer ids."""

    def __init__(self, text: str) -> None:
        self.chars = sorted(set(text))
        self.ids = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> Tokens:
        return np.array([self.ids[c] for c in text], np.int64)

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def load(path: Path = DATA, chars: int | None = None) -> tuple[Vocabulary, Tokens, Tokens]:
    """The vocabulary and the first 90% / last 10% of the text (or of its first
    ``chars`` characters) as training and validation ids."""
    text = path.read_text(encoding="utf-8")[:chars]
    vocab = Vocabulary(text)
    ids = vocab.encode(text)
    split = int(0.9 * len(ids))
    return vocab, ids[:split], ids[split:]


def batch(data: Tokens, size: int, context: int, rng: np.random.Generator) -> tuple[Tokens, Tokens]:
    """``size`` random windows (size, context) and their next characters."""
    starts = rng.integers(0, len(data) - context - 1, size)
    windows = starts[:, None] + np.arange(context)
    return data[windows], data[windows + 1]


def bigram_loss(train: Tokens, val: Tokens, vocab_size: int) -> float:
    """Validation cross-entropy (nats) of add-one smoothed bigram counts of ``train``."""
    counts = np.ones((vocab_size, vocab_size))
    np.add.at(counts, (train[:-1], train[1:]), 1)
    log_p = np.log(counts / counts.sum(1, keepdims=True))
    return float(-log_p[val[:-1], val[1:]].mean())


class Block(Model):
    """x + attention(LN(x)), then x + MLP(LN(x)) (pre-norm, as GPT-2)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(dim)
        self.attn = MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ln_2 = LayerNorm(dim)
        self.mlp = Sequential(
            Linear(dim, 4 * dim), GELU("tanh"), Linear(4 * dim, dim), Dropout(dropout)
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.ln_1(x)
        attended, _ = self.attn(h, h, h, need_weights=False, is_causal=True)
        x = x + attended
        mixed: Tensor = self.mlp(self.ln_2(x))
        return x + mixed


class CharGPT(Model):
    def __init__(
        self,
        vocab_size: int,
        context: int = 64,
        dim: int = 64,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.context = context
        self.tok_emb = Embedding(vocab_size, dim)
        self.pos_emb = Embedding(context, dim)
        self.drop = Dropout(dropout)
        self.blocks = ModuleList([Block(dim, heads, dropout) for _ in range(layers)])
        self.ln_f = LayerNorm(dim)
        self.head = Linear(dim, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying: one (vocab, dim) matrix
        for p in self.parameters():  # GPT-2's initialisation: N(0, 0.02) matrices
            if p.ndim == 2:
                p.assign(init.normal(p.shape, 0.0, 0.02))

    def forward(self, ids: Tensor | Tokens) -> Tensor:
        length = ids.shape[1]
        x = self.drop(self.tok_emb(ids) + self.pos_emb(np.arange(length)))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # (N, L, vocab) logits


def parameter_groups(model: Model, weight_decay: float) -> list[dict[str, Any]]:
    """Matrices decay; biases, LayerNorm weights and embeddings' position table do not."""
    decay: list[Tensor] = []
    no_decay: list[Tensor] = []
    for name, p in model.named_parameters():
        (decay if p.ndim == 2 and not name.startswith("pos_emb") else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def train(
    steps: int = 1500,
    compiled: bool = True,
    seed: int = 0,
    batch_size: int = 32,
    context: int = 64,
    dim: int = 64,
    lr: float = 3e-3,
    warmup: int = 100,
    dropout: float = 0.0,
    chars: int | None = None,
    report: Callable[[int, float], None] | None = None,
) -> tuple[CharGPT, Vocabulary, list[float]]:
    """Train on random windows of the training text; returns the model, the vocabulary
    and the loss of every step."""
    manual_seed(seed)
    rng = np.random.default_rng(seed)
    vocab, train_ids, _ = load(chars=chars)
    model = CharGPT(len(vocab), context, dim, dropout=dropout)
    optimizer = AdamW(parameter_groups(model, 0.1), lr=lr, betas=(0.9, 0.99))
    warmup = min(warmup, max(1, steps - 1))
    schedule = SequentialLR(
        optimizer,
        [
            LinearWarmup(optimizer, warmup),
            CosineAnnealingLR(optimizer, T_max=max(1, steps - warmup), eta_min=lr / 10),
        ],
        milestones=[warmup],
    )

    def loss_of(x: Tensor | Tokens, y: Tensor | Tokens) -> Tensor:
        logits = model(x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    step_loss = compute_graph(loss_of) if compiled else loss_of
    losses = []
    for step in range(steps):
        x, y = batch(train_ids, batch_size, context, rng)
        loss = step_loss(x, y)
        loss.backprop()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.data))
        if report is not None:
            report(step, losses[-1])
    return model, vocab, losses


def evaluate(model: CharGPT, data: Tokens, batch_size: int = 50) -> float:
    """Mean cross-entropy (nats) of the next character over all of ``data``, read in
    consecutive windows of the model's context."""
    model.eval()
    windows = (len(data) - 1) // model.context
    x = data[: windows * model.context].reshape(windows, -1)
    y = data[1 : windows * model.context + 1].reshape(windows, -1)
    total = 0.0
    with mg.no_grad():
        for start in range(0, windows, batch_size):
            logits = model(x[start : start + batch_size])
            target = y[start : start + batch_size].reshape(-1)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target, reduction="sum")
            total += float(loss.data)
    model.train()
    return total / y.size


def sample(
    model: CharGPT, vocab: Vocabulary, prompt: str, length: int, temperature: float = 0.8
) -> str:
    """Continue ``prompt`` by ``length`` characters drawn from the model."""
    model.eval()
    rng = np.random.default_rng(0)
    ids = list(vocab.encode(prompt))
    with mg.no_grad():
        for _ in range(length):
            window = np.array([ids[-model.context :]], np.int64)
            logits = model(window).data[0, -1] / temperature
            p = np.exp(logits - logits.max())
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
    model.train()
    return vocab.decode(ids)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=300, help="characters to sample")
    parser.add_argument("--eager", action="store_true", help="no compute_graph")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads (0: numpy's default, all cores)"
    )
    args = parser.parse_args(argv)
    with threadpool_limits(limits=args.threads or None):
        run(args)


def run(args: argparse.Namespace) -> None:

    vocab, train_ids, val_ids = load()
    baseline = bigram_loss(train_ids, val_ids, len(vocab))
    print(
        f"{len(train_ids):,} training and {len(val_ids):,} validation characters, "
        f"vocabulary {len(vocab)}; bigram baseline: validation loss {baseline:.3f}"
    )

    def report(step: int, loss: float) -> None:
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss:.4f}", flush=True)

    start = time.perf_counter()
    model, vocab, _ = train(args.steps, not args.eager, args.seed, report=report)
    seconds = time.perf_counter() - start
    val = evaluate(model, val_ids)
    print(
        f"GPT: validation loss {val:.3f} ({baseline - val:.3f} nats below the bigram's "
        f"{baseline:.3f}; uniform would be {math.log(len(vocab)):.3f}), "
        f"{args.steps} steps in {seconds:.0f} s"
    )
    if args.sample:
        print("---\n" + sample(model, vocab, "\n", args.sample) + "\n---")


if __name__ == "__main__":
    main()
