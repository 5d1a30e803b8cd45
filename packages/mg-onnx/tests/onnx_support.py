"""Models and helpers shared by the mg-onnx tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray

from mg_nn import Conv2d, Flatten, Linear, MaxPool2d, Model, ReLU, Sequential
from mg_tensor import Tensor

RTOL, ATOL = 1e-5, 1e-6  # the float32 tolerance against onnxruntime


def naive_softmax(x: Tensor) -> Tensor:
    """The README's softmax: compute_graph's stability pass turns it into `Softmax`."""
    e_x = x.exp()
    return e_x / e_x.sum(axis=1, keepdims=True)


class MLP(Model):
    """The README's MNIST MLP: 784-1024-1024-1024-10, ReLU, naive softmax."""

    def __init__(self, hidden: int = 1024) -> None:
        super().__init__()
        self.layers = Sequential(
            Linear(784, hidden), ReLU(), Linear(hidden, hidden), ReLU(),
            Linear(hidden, hidden), ReLU(), Linear(hidden, 10),
        )  # fmt: skip

    def forward(self, data: Tensor) -> Tensor:
        return naive_softmax(self.layers(data))


class CNN(Model):
    """The mnist app's CNN: two conv blocks (32, 64 channels), pooling, a 128-unit MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.features = Sequential(
            Conv2d(1, 32, 3, padding=1), ReLU(), MaxPool2d(2),
            Conv2d(32, 64, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(),
        )  # fmt: skip
        self.head = Sequential(Linear(64 * 7 * 7, 128), ReLU(), Linear(128, 10))

    def forward(self, data: Tensor) -> Tensor:
        images = data.reshape((data.shape[0], 1, 28, 28))
        return naive_softmax(self.head(self.features(images)))


def session(proto: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def run(proto: onnx.ModelProto, *arrays: NDArray[Any]) -> list[NDArray[Any]]:
    """onnxruntime's outputs for ``arrays`` fed to the model's inputs in order."""
    sess = session(proto)
    feed = {i.name: a for i, a in zip(sess.get_inputs(), arrays, strict=True)}
    return list(sess.run(None, feed))


def assert_close(actual: Any, expected: Any) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def mnist_dir() -> Path | None:
    """$MACROGRAD_DATA, else <repo>/../shared/mnist, if it holds the MNIST files."""
    repo = Path(__file__).resolve().parents[3]
    for candidate in (os.environ.get("MACROGRAD_DATA"), repo.parent / "shared" / "mnist"):
        if candidate and any(Path(candidate).glob("t10k-images-idx3-ubyte*")):
            return Path(candidate)
    return None
