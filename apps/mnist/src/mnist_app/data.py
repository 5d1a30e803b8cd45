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


def load(data_dir: str | None, progress: bool = True, subset: int | None = None) -> Arrays:
    """Load MNIST from ``data_dir``, else $MACROGRAD_DATA, else the copy shipped with the
    app, else the user cache (downloading there). An explicit ``data_dir`` must exist.
    With ``subset``, only the first ``subset`` training and test images are kept.

    >>> load(None, progress=False, subset=100).x_train.shape
    (100, 784)
    """
    if data_dir is not None and not os.path.isdir(os.path.expanduser(data_dir)):
        raise DatasetError(
            f"--data-dir {data_dir}: no such folder (it is not created): give the folder "
            "that holds the four MNIST files, or leave --data-dir out to use the copy "
            "shipped with the app"
        )
    with as_file(files("mnist_app") / "dataset") as shipped:
        mnist = load_mnist(data_dir, bundled=shipped, progress=progress)
    keep = slice(subset)  # before scaling: a quick trial converts only what it uses
    return Arrays(
        x_train=flatten(scale(mnist.train_images[keep])),
        y_train=one_hot(mnist.train_labels[keep], 10),
        x_test=flatten(scale(mnist.test_images[keep])),
        labels_test=mnist.test_labels[keep].astype(np.int64),
    )
