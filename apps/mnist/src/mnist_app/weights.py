"""Weights files: written as safetensors bytes (PyTorch's names and layouts), read back
with every check a hand-edited or hostile file needs; ONNX files opened as models."""

from __future__ import annotations

import os
import stat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from macrograd.nn import Model
from mnist_app.outputs import UsageError, expand


def weights_bytes(model: Model) -> bytes:
    """The safetensors file of ``model``'s state dict, as bytes.

    >>> from mnist_app.models import build
    >>> weights_bytes(build("mlp"))[8:9]
    b'{'
    """
    from safetensors.numpy import save

    state = {name: np.ascontiguousarray(value) for name, value in model.state_dict().items()}
    return save(state, metadata={"format": "pt"})


def _check_file(path: str, flag: str, kind: str) -> None:
    """A UsageError unless ``path`` is a regular file (``flag`` writes one, of ``kind``)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UsageError(
            f"no weights file {path!r}: train with `mnist {flag} FILE` first"
        ) from None
    except OSError as err:
        raise UsageError(f"cannot open the weights {path!r}: {err.strerror or err}") from None
    if not stat.S_ISREG(mode):  # a FIFO would block, a device would never end
        raise UsageError(f"{path!r} is not a regular file: give a {kind} file")


def _read(path: str) -> dict[str, NDArray[Any]]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    _check_file(path, "--save", ".safetensors")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise UsageError(f"{path!r} is not a valid safetensors file: {err}") from None


def load_weights(model: Model, path: str) -> None:
    """Load the safetensors file ``path`` into ``model``. Refused (UsageError, nothing
    loaded): not a regular file, malformed, other names or shapes, a dtype other than
    the model's (no silent cast), or values that are not finite."""
    path = expand(path)
    state = _read(path)
    expected = model.state_dict()
    for name, value in state.items():
        if name in expected and value.dtype != expected[name].dtype:
            raise UsageError(
                f"{path!r}: {name} is {value.dtype}, the model is {expected[name].dtype} "
                "(weights of another dtype are refused, not cast)"
            )
        if np.issubdtype(value.dtype, np.inexact) and not np.isfinite(value).all():
            raise UsageError(f"{path!r}: {name} holds non-finite values (nan or inf)")
    try:
        model.load_state_dict(state)
    except ValueError as err:
        raise UsageError(f"cannot load {path!r} into this model: {err}") from None


def load_onnx(path: str) -> Model:
    """The model in the ONNX file ``path`` (written by `mnist --export`). Refused
    (UsageError): not a regular file, not an ONNX model, or ops Macrograd lacks."""
    from macrograd.onnx import load

    path = expand(path)
    _check_file(path, "--export", ".onnx")
    try:
        return load(path)
    except (ValueError, OSError) as err:
        raise UsageError(f"cannot load {path!r}: {err}") from None
