"""Converting torchvision (or any map-style) datasets to numpy arrays.

Needs the ``[torchvision]`` extra only for real torchvision datasets; nothing here
imports torch or torchvision at module level, and duck typing means the conversion
itself never needs them (tensors are converted through ``.numpy()``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["from_torchvision"]

_LABEL_ATTRS = ("targets", "labels")


def _to_numpy(value: Any) -> NDArray[Any]:
    """numpy array from a torch tensor, PIL image, list, scalar or array (no torch import)."""
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        return np.asarray(value.detach().cpu().numpy())
    return np.asarray(value)


def from_torchvision(dataset: Any, *, raw: bool = True) -> tuple[NDArray[Any], NDArray[Any]]:
    """Convert a torchvision dataset to ``(inputs, targets)`` numpy arrays.

    With ``raw`` (the default) and a dataset that has ``.data`` and ``.targets`` (or
    ``.labels``), those are converted directly: fast, but the dataset's ``transform``
    is *not* applied (torchvision MNIST gives ``uint8 (N, 28, 28)`` and ``int64 (N,)``).
    Otherwise every ``dataset[i]`` is read (applying its transforms) and the inputs
    stacked, so PIL images become ``(H, W[, C])`` arrays and tensors keep their shape.

    Example:
        >>> from torchvision.datasets import MNIST  # doctest: +SKIP
        >>> x, y = from_torchvision(MNIST("data", train=False))  # doctest: +SKIP
        >>> x.shape, y.dtype  # doctest: +SKIP
        ((10000, 28, 28), dtype('int64'))
    """
    if raw and hasattr(dataset, "data"):
        for attr in _LABEL_ATTRS:
            if hasattr(dataset, attr):
                inputs, targets = _to_numpy(dataset.data), _to_numpy(getattr(dataset, attr))
                if len(inputs) != len(targets):
                    raise ValueError(
                        f"dataset.data has {len(inputs)} samples but dataset.{attr} has "
                        f"{len(targets)}"
                    )
                return inputs, targets
    n = len(dataset)
    xs: list[NDArray[Any]] = []
    ys: list[NDArray[Any]] = []
    for i in range(n):
        x, y = dataset[i][:2]
        xs.append(_to_numpy(x))
        ys.append(_to_numpy(y))
    if not xs:
        return np.empty((0,)), np.empty((0,), dtype=np.int64)
    return np.stack(xs), np.stack(ys)
