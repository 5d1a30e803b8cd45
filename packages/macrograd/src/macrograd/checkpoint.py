"""Checkpoints: everything a training run needs to continue exactly where it stopped.

One file, ``checkpoint.safetensors`` in a folder: the model's parameters and the
optimiser's state arrays as tensors, and as JSON metadata the optimiser's counters and
hyperparameters, the schedule's position, the data loader's position, Macrograd's random
state (`mg_tensor.random`: the seed, how many streams random ops such as dropout have
taken, and the initialisers' generator) and whatever ``extra`` the caller adds. It is
written atomically: a run killed while saving keeps the previous checkpoint.

>>> import tempfile
>>> import numpy as np
>>> from macrograd.nn import Linear
>>> from macrograd.optim import SGD
>>> model = Linear(2, 1)
>>> optimizer = SGD(model.parameters(), 0.1, momentum=0.9)
>>> folder = tempfile.mkdtemp()
>>> _ = save_checkpoint(folder, model, optimizer, extra={"epoch": 1})
>>> other = Linear(2, 1)
>>> load_checkpoint(folder, other, SGD(other.parameters(), 0.5, momentum=0.9))
{'epoch': 1}
>>> bool(np.array_equal(other.weight.data, model.weight.data))
True
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from mg_data import DataLoader, write_atomically
from mg_nn import Model
from mg_optim import Optimizer
from mg_tensor import random

__all__ = [
    "CHECKPOINT_FILE",
    "CheckpointError",
    "checkpoint_extra",
    "load_checkpoint",
    "save_checkpoint",
]

#: The file a checkpoint folder holds.
CHECKPOINT_FILE = "checkpoint.safetensors"
_META = "macrograd.checkpoint"
_FORMAT = 1
_TUPLE = "__tuple__"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not fit the model or optimiser."""


class _Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: Any, /) -> Any: ...


def save_checkpoint(
    directory: str | os.PathLike[str],
    model: Model,
    optimizer: Optimizer,
    *,
    schedule: _Stateful | None = None,
    loader: DataLoader | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write model, optimiser, schedule, loader position, random state and ``extra``
    (JSON-serialisable) to ``directory/checkpoint.safetensors``, creating the folder;
    returns the file's path. Take it between epochs (see `DataLoader.state_dict`)."""
    from safetensors.numpy import save

    tensors = {f"model.{name}": value for name, value in model.state_dict().items()}
    optimizer_state = optimizer.state_dict()
    counts = {}
    for name, arrays in optimizer_state.pop("state").items():
        counts[name] = len(arrays)
        tensors.update({f"optimizer.{name}.{k}": a for k, a in enumerate(arrays)})
    meta = {
        "format": _FORMAT,
        "optimizer": optimizer_state,
        "optimizer_state_counts": counts,
        "schedule": None if schedule is None else schedule.state_dict(),
        "loader": None if loader is None else loader.state_dict(),
        "rng": random.get_rng_state(),
        "extra": extra,
    }
    data = save(
        {k: np.ascontiguousarray(v) for k, v in tensors.items()},
        metadata={_META: json.dumps(_tag_tuples(meta))},
    )
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomically(folder / CHECKPOINT_FILE, data)


def _read(path: Path) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise CheckpointError(f"no checkpoint {path}: write one with save_checkpoint first")
    try:
        with safe_open(str(path), framework="np") as f:
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
            meta: dict[str, Any] = _untag_tuples(json.loads((f.metadata() or {})[_META]))
    except (SafetensorError, OSError, KeyError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint: {err}") from err
    if meta.get("format") != _FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {meta.get('format')!r}")
    return tensors, meta


def checkpoint_extra(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``extra`` of the checkpoint in ``directory``, without restoring anything (to
    learn how to build the model and optimiser that `load_checkpoint` needs)."""
    extra: dict[str, Any] | None = _read(Path(directory) / CHECKPOINT_FILE)[1]["extra"]
    return extra


def _tag_tuples(value: Any) -> Any:
    """``value`` with every tuple (such as Adam's betas) marked: JSON has only lists."""
    if isinstance(value, tuple):
        return {_TUPLE: [_tag_tuples(v) for v in value]}
    if isinstance(value, list):
        return [_tag_tuples(v) for v in value]
    if isinstance(value, dict):
        return {k: _tag_tuples(v) for k, v in value.items()}
    return value


def _untag_tuples(value: Any) -> Any:
    """The inverse of `_tag_tuples`.

    >>> _untag_tuples(json.loads(json.dumps(_tag_tuples({"betas": (0.9, 0.99), "n": [1]}))))
    {'betas': (0.9, 0.99), 'n': [1]}
    """
    if isinstance(value, dict):
        if set(value) == {_TUPLE}:
            return tuple(_untag_tuples(v) for v in value[_TUPLE])
        return {k: _untag_tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag_tuples(v) for v in value]
    return value


def load_checkpoint(
    directory: str | os.PathLike[str],
    model: Model,
    optimizer: Optimizer,
    *,
    schedule: _Stateful | None = None,
    loader: DataLoader | None = None,
) -> dict[str, Any] | None:
    """Restore what `save_checkpoint` wrote into ``model``, ``optimizer`` and, if given,
    ``schedule`` and ``loader``, and the default random generator; returns ``extra``.
    A missing or malformed checkpoint, or one that does not fit, raises
    `CheckpointError` saying why; nothing is restored then."""
    path = Path(directory) / CHECKPOINT_FILE
    tensors, meta = _read(path)
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    optimizer_state = dict(meta["optimizer"])
    optimizer_state["state"] = {
        name: [tensors[f"optimizer.{name}.{k}"] for k in range(count)]
        for name, count in meta["optimizer_state_counts"].items()
    }
    for part, given in (("schedule", schedule), ("loader", loader)):
        if (meta[part] is None) != (given is None):
            has = "has no" if meta[part] is None else "has a"
            raise CheckpointError(f"{path} {has} {part} state; pass {part}= accordingly")
    try:
        previous = model.state_dict()
        model.load_state_dict(model_state)
        try:
            optimizer.load_state_dict(optimizer_state)
            if schedule is not None:
                schedule.load_state_dict(meta["schedule"])
        except BaseException:
            model.load_state_dict(previous)
            raise
    except ValueError as err:
        raise CheckpointError(f"{path} does not fit: {err}") from err
    if loader is not None:
        loader.load_state_dict(meta["loader"])
    random.set_rng_state(meta["rng"])
    extra: dict[str, Any] | None = meta["extra"]
    return extra
