"""The training loop, shaped like the original README's: model, decorated forward,
backprop, optimiser step."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

from macrograd import Tensor
from macrograd import distributed as dist
from macrograd.data import DataLoader
from macrograd.engine import CompiledFunction, compute_graph
from macrograd.nn import Model, manual_seed
from macrograd.optim import SGD, Adam, LinearLR, Optimizer
from mnist_app.data import Arrays
from mnist_app.models import build, cross_entropy


@dataclass(frozen=True)
class Config:
    """Everything a run depends on (the command-line options)."""

    epochs: int = 1
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    schedule: str = "linear"
    optimizer: str = "sgd"
    model: str = "mlp"
    seed: int = 0
    progress: bool = True


@dataclass
class Summary:
    """What a run measured; ``epoch_seconds`` is the training loop alone."""

    test_accuracy: float
    epoch_seconds: float
    samples_per_second: float
    train_loss: float
    train_accuracy: float
    peak_memory_mb: float
    config: dict[str, Any]
    processes: int = 1  # ranks that trained together (mpiexec -n N)
    communication_seconds: float = 0.0  # per epoch, blocked in the gradient all-reduce
    losses: list[float] = field(default_factory=list, repr=False)
    accuracies: list[float] = field(default_factory=list, repr=False)  # per batch

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["losses"], data["accuracies"]
        return data


def make_optimizer(config: Config, params: list[Tensor]) -> Optimizer:
    if config.optimizer == "sgd":
        return SGD(params, config.lr, momentum=config.momentum)
    if config.optimizer == "adam":
        return Adam(params, config.lr)
    raise ValueError(f"unknown optimizer {config.optimizer!r}: use 'sgd' or 'adam'")


def training_forward(model: Model) -> CompiledFunction[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The compiled forward pass of a training step: ``(loss, predictions)``.

    Traced on its first call and frozen; later calls only refill the input buffers (a
    smaller last batch is a second traced variant).

    >>> import numpy as np
    >>> from mnist_app.models import build
    >>> forward = training_forward(build("mlp"))
    >>> loss, y_pred = forward(np.zeros((2, 784), np.float32), np.eye(10, dtype=np.float32)[:2])
    >>> y_pred.shape
    (2, 10)
    """

    @compute_graph
    def forward(x_batch: Tensor, y_batch: Tensor) -> tuple[Tensor, Tensor]:
        y_pred = model(x_batch)
        loss = cross_entropy(y_batch, y_pred)
        return loss, y_pred

    return forward


def train_step(
    forward: CompiledFunction[[Tensor, Tensor], tuple[Tensor, Tensor]],
    optimizer: Optimizer | dist.DistributedOptimizer,
    parameters: list[Tensor],
    x_batch: NDArray[np.float32],
    y_batch: NDArray[np.float32],
) -> tuple[float, NDArray[np.float32]]:
    """One step as the original README writes it; returns the loss and predictions.

    >>> import numpy as np
    >>> from mnist_app.models import build
    >>> model = build("mlp")
    >>> forward, params = training_forward(model), model.parameters()
    >>> x, y = np.zeros((2, 784), np.float32), np.eye(10, dtype=np.float32)[:2]
    >>> loss, predictions = train_step(forward, make_optimizer(Config(), params), params, x, y)
    >>> round(loss, 1), predictions.shape  # about ln(10): the initial logits are near 0
    (2.3, (2, 10))
    """
    loss, y_pred = forward(x_batch, y_batch)
    loss.backprop()  # loss, predictions and gradients in one replay
    # read both before the step changes the weights (laziness would recompute them)
    value, predictions = float(loss.data), y_pred.data
    optimizer.step(parameters)
    return value, predictions


def train(
    config: Config,
    arrays: Arrays,
    on_first_step: Callable[[Any], None] | None = None,
    initial: str | None = None,
) -> tuple[Model, Summary]:
    """Train a fresh model on ``arrays`` and evaluate it on the test set; ``initial``
    names a file to save the initial weights to.

    Started by ``mpiexec -n N``, each rank trains on its shard of every epoch at
    ``config.batch_size // N`` rows per step, the gradients averaged over the ranks
    (``config.batch_size`` is the global batch); only rank 0 shows progress and
    evaluates (the others report a test accuracy of -1).
    """
    world, rank = dist.world_size(), dist.rank()
    if config.batch_size % world:
        raise ValueError(
            f"--batch-size {config.batch_size} is the global batch: it must be a multiple "
            f"of the {world} processes"
        )
    manual_seed(config.seed)
    model = build(config.model)
    if initial and rank == 0:
        model.save(initial)
    parameters = model.parameters()
    optimizer = make_optimizer(config, parameters)
    dist.broadcast_parameters(model)
    reducer = dist.DistributedOptimizer(optimizer)  # optimizer.step() in a world of one
    train_minibatches = DataLoader(
        arrays.x_train,
        arrays.y_train,
        batch_size=config.batch_size // world,
        shuffle=True,
        seed=config.seed,
        shard=(rank, world) if world > 1 else None,
    )
    steps = config.epochs * len(train_minibatches)
    schedule = (
        LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=steps)
        if config.schedule == "linear"
        else None
    )

    forward = training_forward(model)
    losses: list[float] = []
    accuracies: list[float] = []
    seconds = 0.0
    for epoch in range(config.epochs):
        bar = tqdm(
            total=len(train_minibatches),
            desc=f"epoch {epoch + 1}/{config.epochs}",
            unit="batch",
            disable=not config.progress or rank > 0,
            file=sys.stderr,
            leave=True,
        )
        seen = correct = 0
        start = time.perf_counter()
        for x_batch, y_batch in train_minibatches:
            loss, predictions = train_step(forward, reducer, parameters, x_batch, y_batch)
            losses.append(loss)
            hits = int((predictions.argmax(axis=1) == y_batch.argmax(axis=1)).sum())
            if schedule is not None:
                schedule.step()
            if on_first_step is not None and len(losses) == 1:
                on_first_step(forward)
            seen += len(x_batch)
            correct += hits
            accuracies.append(hits / len(x_batch))
            if len(losses) % 25 == 0 or seen == train_minibatches.epoch_samples:
                rate = world * seen / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(
                    loss=f"{np.mean(losses[-25:]):.4f}",
                    acc=f"{correct / seen:.4f}",
                    samples_s=f"{rate:,.0f}",
                    refresh=False,
                )
            bar.update(1)
        seconds += time.perf_counter() - start
        bar.close()

    test_accuracy = evaluate(model, arrays.x_test, arrays.labels_test) if rank == 0 else -1.0
    epoch_seconds = seconds / config.epochs
    summary = Summary(
        test_accuracy=round(test_accuracy, 4),
        epoch_seconds=round(epoch_seconds, 3),
        samples_per_second=round(len(arrays.x_train) / epoch_seconds, 1),
        train_loss=round(float(np.mean(losses[-50:])), 5),
        train_accuracy=round(correct / seen, 4),
        peak_memory_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        config=asdict(config),
        processes=world,
        communication_seconds=round(reducer.wait_seconds / config.epochs, 3),
        losses=losses,
        accuracies=accuracies,
    )
    return model, summary


def evaluate(
    model: Model, images: NDArray[np.float32], labels: NDArray[Any], batch_size: int = 1000
) -> float:
    """Fraction of ``images`` whose predicted class equals ``labels``."""
    model.eval()

    @compute_graph
    def predict(x: Tensor) -> Tensor:
        probabilities: Tensor = model(x)
        return probabilities.argmax(axis=1)

    hits = 0
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        hits += int((predict(batch).data == labels[start : start + batch_size]).sum())
    model.train()
    return hits / len(images)
