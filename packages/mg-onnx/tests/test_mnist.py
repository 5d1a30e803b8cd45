"""The exported MNIST MLP classifies the test set exactly as Macrograd does, under
onnxruntime. Trained for a few steps only: this is about equality, not accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_support import MLP, mnist_dir, session

import mg_nn
from mg_data import flatten, load_mnist, one_hot, scale
from mg_onnx import export, load
from mg_optim import SGD
from mg_tensor import Tensor, compute_graph

DATA = mnist_dir()
pytestmark = pytest.mark.skipif(DATA is None, reason="MNIST not found (set MACROGRAD_DATA)")


def test_onnxruntime_test_accuracy_equals_macrograds() -> None:
    mnist = load_mnist(DATA, download=False, progress=False)
    x_train, y_train = flatten(scale(mnist.train_images)), one_hot(mnist.train_labels, 10)
    x_test, labels = flatten(scale(mnist.test_images)), mnist.test_labels
    mg_nn.manual_seed(0)
    model = MLP()
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)

    @compute_graph
    def loss(x: Tensor, y: Tensor) -> Tensor:
        return -(y * model(x).log()).sum() / x.shape[0]

    for start in range(0, 64 * 30, 64):
        loss(x_train[start : start + 64], y_train[start : start + 64]).backprop()
        optimizer.step()

    model.eval()
    predict = compute_graph(lambda x: model(x).argmax(axis=1))
    ours = np.concatenate([predict(x_test[i : i + 1000]).data for i in range(0, 10000, 1000)])
    proto = export(model, x_test[:64])
    (probabilities,) = session(proto).run(None, {"data": x_test})
    theirs = probabilities.argmax(axis=1)
    accuracy = float((ours == labels).mean())
    assert 0.5 < accuracy == float((theirs == labels).mean())
    assert (ours == theirs).mean() > 0.999  # the same predictions, up to float32 near-ties
    reloaded = load(proto)(x_test[:1000]).data.argmax(axis=1)
    np.testing.assert_array_equal(reloaded, ours[:1000])
