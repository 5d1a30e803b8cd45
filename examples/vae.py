"""A variational autoencoder on MNIST digits, written as a PyTorch user would.

The encoder maps a 28x28 digit to the mean and log-variance of a Gaussian over a
16-dimensional code; a code is drawn with the reparameterisation trick
(``mu + exp(logvar / 2) * randn``, so the gradient flows through ``mu`` and ``logvar``)
and the decoder maps it back to pixel logits. The loss is the negative evidence lower
bound: the Bernoulli reconstruction error plus the KL divergence of the code's
distribution from N(0, I), in nats per image. After training the script reports the
test set's loss and draws digits decoded from random codes. MNIST is read from
``--data-dir``, else ``$MACROGRAD_DATA``, else the user cache (``uv run mnist`` downloads
it there). Run from the repository root:

    uv run python examples/vae.py --data-dir ../shared/mnist   # test loss 112.6 in ~1 min
    uv run python examples/vae.py --data-dir ../shared/mnist --epochs 1 --eager

``compute_graph`` traces the training step once, random draw included, and replays it
at every step with fresh draws (``--eager`` rebuilds the graph at every step instead;
both draw the same numbers and give the same losses for the same seed).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

import macrograd as mg
from macrograd import Tensor
from macrograd.data import load_split
from macrograd.engine import compute_graph
from macrograd.nn import F, Linear, Model, manual_seed
from macrograd.optim import Adam

Images = NDArray[np.float32]


def load(split: str, data_dir: str | None = None, limit: int | None = None) -> Images:
    """``(N, 784)`` images in [0, 1] (the first ``limit`` of the split)."""
    images, _ = load_split(split, data_dir, download=False)  # type: ignore[arg-type]
    return (images[:limit].reshape(-1, 784) / np.float32(255)).astype(np.float32)


class VAE(Model):
    def __init__(self, hidden: int = 400, latent: int = 16) -> None:
        super().__init__()
        self.encoder = Linear(784, hidden)
        self.to_stats = Linear(hidden, 2 * latent)  # mu and logvar side by side
        self.decoder_hidden = Linear(latent, hidden)
        self.decoder_out = Linear(hidden, 784)

    def encode(self, x: Tensor | Images) -> tuple[Tensor, Tensor]:
        mu, logvar = self.to_stats(self.encoder(x).relu()).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: Tensor | NDArray[np.float32]) -> Tensor:
        return self.decoder_out(self.decoder_hidden(z).relu())  # pixel logits

    def forward(self, x: Tensor | Images) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x)
        z = mu + (0.5 * logvar).exp() * mg.randn_like(mu)  # the reparameterisation trick
        return self.decode(z), mu, logvar


def negative_elbo(logits: Tensor, x: Tensor | Images, mu: Tensor, logvar: Tensor) -> Tensor:
    """Reconstruction error plus KL(N(mu, exp(logvar)) || N(0, I)), nats per image."""
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum()
    return (reconstruction + kl) / len(mu)


def train(
    images: Images,
    steps: int,
    compiled: bool = True,
    seed: int = 0,
    batch_size: int = 128,
    lr: float = 1e-3,
    report: Callable[[int, float], None] | None = None,
) -> tuple[VAE, list[float]]:
    """Train on shuffled batches (a fresh order every epoch); returns the model and the
    loss of every step."""
    manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = VAE()
    optimizer = Adam(model.parameters(), lr=lr)

    def step_loss(x: Tensor | Images) -> Tensor:
        logits, mu, logvar = model(x)
        return negative_elbo(logits, x, mu, logvar)

    step = compute_graph(step_loss) if compiled else step_loss
    losses: list[float] = []
    per_epoch = len(images) // batch_size
    while len(losses) < steps:
        order = rng.permutation(len(images))
        for i in range(min(per_epoch, steps - len(losses))):
            loss = step(images[order[i * batch_size : (i + 1) * batch_size]])
            loss.backprop()
            optimizer.step()
            losses.append(float(loss.data))
            if report is not None:
                report(len(losses) - 1, losses[-1])
    return model, losses


def evaluate(model: VAE, images: Images, batch_size: int = 1000) -> float:
    """The test set's negative ELBO (one code drawn per image), nats per image."""
    model.eval()
    total = 0.0
    with mg.no_grad():
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size]
            logits, mu, logvar = model(x)
            total += float(negative_elbo(logits, x, mu, logvar).data) * len(x)
    model.train()
    return total / len(images)


def draw(model: VAE, count: int = 4, seed: int = 0) -> str:
    """``count`` digits decoded from random codes, side by side in characters."""
    manual_seed(seed)
    with mg.no_grad():
        z = mg.randn(count, model.decoder_hidden.in_features)
        pixels = model.decode(z).sigmoid().data.reshape(count, 28, 28)
    shades = np.array(list(" .:-=+*#%@"))
    rows = shades[np.minimum((pixels[:, ::2, :] * 10).astype(int), 9)]  # 14 lines each
    return "\n".join("  ".join("".join(r) for r in rows[:, line]) for line in range(14))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with the MNIST files")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=None, help="use the first N images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eager", action="store_true", help="no compute_graph")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads (0: numpy's default, all cores)"
    )
    args = parser.parse_args(argv)
    with threadpool_limits(limits=args.threads or None):
        run(args)


def run(args: argparse.Namespace) -> None:
    train_images = load("train", args.data_dir, args.train_size)
    test_images = load("test", args.data_dir)
    steps = args.epochs * (len(train_images) // 128)

    def report(step: int, loss: float) -> None:
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss:.2f}", flush=True)

    start = time.perf_counter()
    model, _ = train(train_images, steps, not args.eager, args.seed, report=report)
    seconds = time.perf_counter() - start
    print(
        f"VAE: test loss (negative ELBO) {evaluate(model, test_images):.1f} nats per image, "
        f"{args.epochs} epochs ({steps} steps) in {seconds:.0f} s"
    )
    print(draw(model))


if __name__ == "__main__":
    main()
