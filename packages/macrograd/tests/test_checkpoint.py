"""save_checkpoint / load_checkpoint: a resumed run ends exactly where a straight one does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from macrograd import Tensor, compute_graph
from macrograd.checkpoint import CHECKPOINT_FILE, CheckpointError, load_checkpoint, save_checkpoint
from macrograd.data import DataLoader
from macrograd.nn import Dropout, Linear, Model, manual_seed
from macrograd.optim import SGD, Adam, LinearLR, Optimizer

EPOCHS = 2
X = np.random.default_rng(0).random((40, 3), dtype=np.float32)
Y = X @ np.array([[1.0], [-2.0], [0.5]], np.float32)


class Tiny(Model):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = Linear(3, 8)
        self.drop = Dropout(0.25)  # draws from the default generator: its state matters
        self.out = Linear(8, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.drop(self.hidden(x).relu()))


def _setup(kind: str) -> tuple[Tiny, Optimizer, LinearLR, DataLoader]:
    manual_seed(0)
    model = Tiny()
    params = model.parameters()
    optimizer: Optimizer = SGD(params, 0.05, momentum=0.9) if kind == "sgd" else Adam(params, 0.01)
    loader = DataLoader(X, Y, batch_size=16, shuffle=True, seed=3)
    schedule = LinearLR(optimizer, start_factor=1.0, end_factor=0.1, total_iters=6)
    return model, optimizer, schedule, loader


def _epoch(model: Tiny, optimizer: Optimizer, schedule: LinearLR, loader: DataLoader) -> None:
    @compute_graph
    def loss_of(x: Tensor, y: Tensor) -> Tensor:
        error: Any = model(x) - y
        return (error * error).mean()

    for x, y in loader:
        loss_of(x, y).backprop()
        optimizer.step()
        schedule.step()


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_two_epochs_equal_one_epoch_then_a_resumed_one(tmp_path: Path, kind: str) -> None:
    straight = _setup(kind)
    for _ in range(EPOCHS):
        _epoch(*straight)

    first = _setup(kind)
    _epoch(*first)
    save_checkpoint(tmp_path, first[0], first[1], schedule=first[2], loader=first[3])
    manual_seed(123)  # a new process: another random state, fresh objects
    model, optimizer, schedule, loader = _setup(kind)
    manual_seed(456)
    load_checkpoint(tmp_path, model, optimizer, schedule=schedule, loader=loader)
    _epoch(model, optimizer, schedule, loader)

    for (name, a), b in zip(
        straight[0].state_dict().items(), model.state_dict().values(), strict=True
    ):
        assert np.array_equal(a, b), name
    assert schedule.get_last_lr() == straight[2].get_last_lr()


def test_a_failed_save_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, optimizer, _, _ = _setup("sgd")
    save_checkpoint(tmp_path, model, optimizer, extra={"epoch": 1})
    good = (tmp_path / CHECKPOINT_FILE).read_bytes()

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("os.fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, model, optimizer, extra={"epoch": 2})
    assert (tmp_path / CHECKPOINT_FILE).read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_FILE]


def test_missing_malformed_and_mismatched_checkpoints_say_why(tmp_path: Path) -> None:
    model, optimizer, schedule, _ = _setup("sgd")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path, model, optimizer)
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00garbage")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path, model, optimizer)
    save_checkpoint(tmp_path, model, optimizer)
    other = Linear(3, 1)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(tmp_path, other, SGD(other.parameters(), 0.1))
    with pytest.raises(CheckpointError, match="schedule"):
        load_checkpoint(tmp_path, model, optimizer, schedule=schedule)
