"""MNIST as the training loop wants it: flat float32 pixels in [0, 1], one-hot labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from macrograd.data import flatten, load_mnist, one_hot, scale


@dataclass(frozen=True)
class Arrays:
    """Training and test arrays, ready to batch."""

    x_train: NDArray[np.float32]
    y_train: NDArray[np.float32]  # one-hot
    x_test: NDArray[np.float32]
    labels_test: NDArray[Any]


def load(data_dir: str | None, progress: bool = True) -> Arrays:
    """Load MNIST from ``data_dir`` (else $MACROGRAD_DATA, else the user cache).

    >>> arrays = load(None)  # doctest: +SKIP
    """
    mnist = load_mnist(data_dir, progress=progress)
    return Arrays(
        x_train=flatten(scale(mnist.train_images)),
        y_train=one_hot(mnist.train_labels, 10),
        x_test=flatten(scale(mnist.test_images)),
        labels_test=mnist.test_labels.astype(np.int64),
    )
