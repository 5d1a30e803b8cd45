"""The training loop, shaped like the original README's: model, decorated forward,
backprop, optimiser step."""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

from macrograd import Tensor
from macrograd.checkpoint import CheckpointError, checkpoint_extra, load_checkpoint, save_checkpoint
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
    subset: int | None = None  # the first N training and test images only
    progress: bool = True


@dataclass
class Summary:
    """What a run measured; ``epoch_seconds`` is the training loop alone."""

    test_accuracy: float | None  # None if training diverged
    epoch_seconds: float
    samples_per_second: float
    train_loss: float | None
    train_accuracy: float | None
    peak_memory_mb: float
    config: dict[str, Any]
    diverged_at_step: int | None = None
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
    optimizer: Optimizer,
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


@dataclass
class Run:
    """A training run in progress: everything a checkpoint saves and restores."""

    config: Config
    model: Model
    optimizer: Optimizer
    loader: DataLoader
    schedule: LinearLR | None
    epoch: int = 0  # epochs finished
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)  # per batch
    train_accuracy: float | None = None  # of the last epoch
    seconds: float = 0.0  # training loop time, this process's epochs only
    epochs_here: int = 0  # epochs run by this process
    diverged_at_step: int | None = None

    @property
    def parameters(self) -> list[Tensor]:
        return self.model.parameters()

    def history(self) -> dict[str, Any]:
        """What a checkpoint keeps besides the objects' states."""
        return {
            "config": asdict(self.config),
            "epoch": self.epoch,
            "losses": self.losses,
            "accuracies": self.accuracies,
            "train_accuracy": self.train_accuracy,
        }


def start(config: Config, arrays: Arrays, initial: Callable[[Model], None] | None = None) -> Run:
    """A fresh run: seeded model, optimiser, shuffling loader and schedule. ``initial``
    gets the model before any step (to save the initial weights)."""
    manual_seed(config.seed)
    model = build(config.model)
    if initial is not None:
        initial(model)
    optimizer = make_optimizer(config, model.parameters())
    loader = DataLoader(
        arrays.x_train, arrays.y_train, batch_size=config.batch_size, shuffle=True, seed=config.seed
    )
    steps = config.epochs * len(loader)
    schedule = (
        LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=steps)
        if config.schedule == "linear"
        else None
    )
    return Run(config, model, optimizer, loader, schedule)


def save_run(run: Run, directory: str) -> None:
    """Checkpoint ``run`` to ``directory`` (see `macrograd.checkpoint.save_checkpoint`)."""
    save_checkpoint(
        directory,
        run.model,
        run.optimizer,
        schedule=run.schedule,
        loader=run.loader,
        extra=run.history(),
    )


def saved_config(directory: str) -> Config:
    """The configuration of the run checkpointed in ``directory``."""
    history = checkpoint_extra(directory) or {}
    if "config" not in history:
        raise CheckpointError(f"{directory}: not a checkpoint of the mnist tool")
    return Config(**history["config"])


def resume(directory: str, arrays: Arrays, epochs: int | None = None, progress: bool = True) -> Run:
    """The run checkpointed in ``directory`` (by `save_run`), to continue up to
    ``epochs`` in all (default: the run's own). A linear schedule's length is part of
    the run: with it, ``epochs`` cannot change (CheckpointError)."""
    saved = saved_config(directory)
    if epochs not in (None, saved.epochs) and saved.schedule == "linear":
        raise CheckpointError(
            f"the run in {directory} decays its learning rate to 0 over {saved.epochs} "
            f"epoch(s): resume it with --epochs {saved.epochs} (or train with "
            "--schedule constant to extend runs)"
        )
    run = start(saved, arrays)
    history = load_checkpoint(
        directory, run.model, run.optimizer, schedule=run.schedule, loader=run.loader
    )
    assert history is not None  # saved_config found it
    run.config = replace(saved, epochs=epochs or saved.epochs, progress=progress)
    run.epoch = int(history["epoch"])
    run.losses = [float(x) for x in history["losses"]]
    run.accuracies = [float(x) for x in history["accuracies"]]
    run.train_accuracy = history["train_accuracy"]
    return run


def run_epoch(run: Run, on_first_step: Callable[[Any], None] | None = None) -> None:
    """Train ``run`` for one epoch; a non-finite loss stops it (``diverged_at_step``)."""
    config, loader = run.config, run.loader
    forward = training_forward(run.model)
    parameters = run.parameters
    bar = tqdm(
        total=len(loader),
        desc=f"epoch {run.epoch + 1}/{config.epochs}",
        unit="batch",
        disable=not config.progress,
        file=sys.stderr,
        leave=True,
    )
    seen = correct = 0
    first = on_first_step if run.epochs_here == 0 else None  # this process's first step
    start_time = time.perf_counter()
    for x_batch, y_batch in loader:
        loss, predictions = train_step(forward, run.optimizer, parameters, x_batch, y_batch)
        run.losses.append(loss)
        if not math.isfinite(loss):
            run.diverged_at_step = len(run.losses)
            break
        hits = int((predictions.argmax(axis=1) == y_batch.argmax(axis=1)).sum())
        if run.schedule is not None:
            run.schedule.step()
        if first is not None:
            first(forward)
            first = None
        seen += len(x_batch)
        correct += hits
        run.accuracies.append(hits / len(x_batch))
        if len(run.losses) % 25 == 0 or seen == loader.num_samples:
            _show(
                bar, run.losses, correct / seen, seen / max(time.perf_counter() - start_time, 1e-9)
            )
        bar.update(1)
    run.seconds += time.perf_counter() - start_time
    run.epochs_here += 1
    bar.close()
    if run.diverged_at_step is None:
        run.epoch += 1
        run.train_accuracy = correct / seen


def _show(bar: Any, losses: list[float], accuracy: float, rate: float) -> None:
    bar.set_postfix(
        loss=f"{np.mean(losses[-25:]):.4f}",
        acc=f"{accuracy:.4f}",
        samples_s=f"{rate:,.0f}",
        refresh=False,
    )


def train(
    config: Config,
    arrays: Arrays,
    on_first_step: Callable[[Any], None] | None = None,
    initial: Callable[[Model], None] | None = None,
    *,
    run: Run | None = None,
    on_epoch_end: Callable[[Run], None] | None = None,
) -> tuple[Model, Summary]:
    """Train a fresh model (or continue ``run``, see `resume`, whose own configuration
    then counts) up to its epochs and evaluate it on the test set. ``initial`` gets the
    model before the first step; ``on_epoch_end`` gets the run after each epoch (to
    checkpoint it). A non-finite loss stops training: the summary's
    ``diverged_at_step`` says where."""
    run = run if run is not None else start(config, arrays, initial)
    while run.epoch < run.config.epochs and run.diverged_at_step is None:
        run_epoch(run, on_first_step)
        if on_epoch_end is not None and run.diverged_at_step is None:
            on_epoch_end(run)
    return run.model, summarise(run, arrays)


def summarise(run: Run, arrays: Arrays) -> Summary:
    """The run's `Summary` (test accuracy only if it did not diverge)."""
    diverged = run.diverged_at_step is not None
    test_accuracy = None if diverged else evaluate(run.model, arrays.x_test, arrays.labels_test)
    epoch_seconds = run.seconds / max(run.epochs_here, 1)
    return Summary(
        test_accuracy=None if test_accuracy is None else round(test_accuracy, 4),
        epoch_seconds=round(epoch_seconds, 3),
        samples_per_second=round(len(arrays.x_train) / max(epoch_seconds, 1e-9), 1),
        train_loss=round(float(np.mean(run.losses[-50:])), 5) if run.losses else None,
        train_accuracy=None if run.train_accuracy is None else round(run.train_accuracy, 4),
        peak_memory_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        config=asdict(run.config),
        diverged_at_step=run.diverged_at_step,
        losses=run.losses,
        accuracies=run.accuracies,
    )


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
