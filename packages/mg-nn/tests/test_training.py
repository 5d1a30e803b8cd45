"""End to end: the original README's model and a small CNN train inside compute_graph."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

import mg_nn
from mg_graph import Role
from mg_nn import F, Linear, Model
from mg_nn.functional import softmax
from mg_tensor import Tensor, compute_graph


class MNIST_model(Model):  # verbatim from the original README
    def __init__(self, in_dims, out_dims):
        super(MNIST_model, self).__init__()  # noqa: UP008
        self.input_layer = Linear(in_dims, 1024)
        self.hidden_1 = Linear(1024, 1024)
        self.hidden_2 = Linear(1024, 1024)
        self.output_layer = Linear(1024, out_dims)

    def __call__(self, data):
        data = self.input_layer(data)
        data = data.relu()
        data = self.hidden_1(data)
        data = data.relu()
        data = self.hidden_2(data)
        data = data.relu()
        data = self.output_layer(data)
        data = softmax(data)
        return data


def test_readme_model_trains_in_a_frozen_graph() -> None:
    mg_nn.manual_seed(0)
    model = MNIST_model(64, 10)
    params = model.parameters()
    assert len(params) == 8

    @compute_graph
    def forward(x: Any, y: Any) -> Tensor:
        y_pred = model(x)
        loss: Tensor = -1 * (y * y_pred.log()).sum() / y.data.shape[0]
        return loss

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 64)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 16)]
    lr = 0.05
    losses, sizes = [], []
    for _ in range(20):
        loss = forward(x, y)
        loss.backprop()
        losses.append(float(loss.data))
        for p in params:
            p.assign(p.data - lr * p.grad.data)  # type: ignore[union-attr]
        sizes.append(len(forward.graph))
    assert losses[-1] < 0.75 * losses[0]
    assert all(b < a for a, b in itertools.pairwise(losses))
    assert len(set(sizes)) == 1 and len(forward.variants) == 1

    graph = forward.graph
    names = {n.name for n in graph.nodes if n.op is None and n.role is Role.PARAMETER}
    assert names == {
        f"{layer}.{kind}"
        for layer in ("input_layer", "hidden_1", "hidden_2", "output_layer")
        for kind in ("weight", "bias")
    }
    scopes = {n.scope for n in graph.nodes if n.op is not None and not n.is_gradient}
    assert ("MNIST_model", "hidden_1") in scopes
    assert [n for n, _ in model.named_parameters()][:2] == [
        "input_layer.weight",
        "input_layer.bias",
    ]


class SmallCNN(Model):
    def __init__(self) -> None:
        super().__init__()
        self.features = mg_nn.Sequential(
            mg_nn.Conv2d(1, 4, 3, padding=1),
            mg_nn.ReLU(),
            mg_nn.MaxPool2d(2),
            mg_nn.Conv2d(4, 6, 3, stride=2, padding=1),
            mg_nn.ReLU(),
        )
        self.flatten = mg_nn.Flatten()
        self.classifier = Linear(6 * 2 * 2, 3)

    def forward(self, x: Any) -> Tensor:
        return self.classifier(self.flatten(self.features(x)))


def test_small_cnn_trains_on_random_data() -> None:
    mg_nn.manual_seed(1)
    model = SmallCNN()
    params = model.parameters()
    assert [n for n, _ in model.named_parameters()] == [
        "features.0.weight",
        "features.0.bias",
        "features.3.weight",
        "features.3.bias",
        "classifier.weight",
        "classifier.bias",
    ]

    @compute_graph
    def step(x: Any, t: Any) -> Tensor:
        return F.cross_entropy(model(x), t)

    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 1, 8, 8)).astype(np.float32)
    t = rng.integers(0, 3, 12)
    losses = []
    for _ in range(40):
        loss = step(x, t)
        loss.backprop()
        losses.append(float(loss.data))
        for p in params:
            p.assign(p.data - 0.2 * p.grad.data)  # type: ignore[union-attr]
    assert losses[-1] < 0.6 * losses[0]
    accuracy = (model(x).data.argmax(1) == t).mean()
    assert accuracy > 0.75


def test_eager_training_without_compute_graph() -> None:
    mg_nn.manual_seed(2)
    model = mg_nn.Sequential(Linear(5, 8), mg_nn.Tanh(), mg_nn.Dropout(0.1), Linear(8, 2))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20, 5)).astype(np.float32)
    t = (x[:, 0] > 0).astype(np.int64)
    first = None
    for _ in range(60):
        loss = F.cross_entropy(model(x), t)
        loss.backprop()
        first = float(loss.data) if first is None else first
        for p in model.parameters():
            p.assign(p.data - 0.5 * p.grad.data)  # type: ignore[union-attr]
    model.eval()
    assert float(F.cross_entropy(model(x), t).data) < 0.5 * first
