"""MNIST as the training loop wants it: flat float32 pixels in [0, 1], one-hot labels.

The four canonical files ship with the app (``mnist_app/dataset``, read through
`importlib.resources`), so a fresh clone trains with no network. The lookup order is
``--data-dir``, ``$MACROGRAD_DATA``, the shipped copy, the user cache, a download.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import as_file, files
from typing import Any

import numpy as np
from numpy.typing import NDArray

from macrograd.data import DatasetError, flatten, load_mnist, one_hot, scale


@dataclass(frozen=True)
class Arrays:
    """Training and test arrays, ready to batch."""

    x_train: NDArray[np.float32]
    y_train: NDArray[np.float32]  # one-hot
    x_test: NDArray[np.float32]
    labels_test: NDArray[Any]

    def subset(self, n: int | None) -> Arrays:
        """The first ``n`` training and test samples (all of them if ``n`` is None).

        >>> a = Arrays(np.zeros((5, 2), np.float32), np.zeros((5, 10), np.float32),
        ...            np.zeros((3, 2), np.float32), np.zeros(3, np.int64))
        >>> len(a.subset(2).x_train), len(a.subset(2).x_test)
        (2, 2)
        """
        if n is None:
            return self
        return Arrays(self.x_train[:n], self.y_train[:n], self.x_test[:n], self.labels_test[:n])


def load(data_dir: str | None, progress: bool = True) -> Arrays:
    """Load MNIST from ``data_dir``, else $MACROGRAD_DATA, else the copy shipped with the
    app, else the user cache (downloading there). An explicit ``data_dir`` must exist.

    >>> load(None, progress=False).x_train.shape
    (60000, 784)
    """
    if data_dir is not None and not os.path.isdir(os.path.expanduser(data_dir)):
        raise DatasetError(
            f"--data-dir {data_dir}: no such folder (it is not created): give the folder "
            "that holds the four MNIST files, or leave --data-dir out to use the copy "
            "shipped with the app"
        )
    with as_file(files("mnist_app") / "dataset") as shipped:
        mnist = load_mnist(data_dir, bundled=shipped, progress=progress)
    return Arrays(
        x_train=flatten(scale(mnist.train_images)),
        y_train=one_hot(mnist.train_labels, 10),
        x_test=flatten(scale(mnist.test_images)),
        labels_test=mnist.test_labels.astype(np.int64),
    )
