"""The original README's MNIST example, as written (imports aside), on random data."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from macrograd import Tensor
from macrograd.engine import compute_graph
from macrograd.nn import Linear, Model
from macrograd.optim import SGD_Momentum


def softmax(x: Tensor) -> Tensor:
    e_x = x.exp()
    return e_x / (e_x.sum(axis=1, keepdims=True))


def cross_entropy(y_true, y_pred) -> Tensor:  # type: ignore[no-untyped-def]
    return -1 * (y_true * (y_pred).log()).sum() / y_true.data.shape[0]


# MODEL Creation like Pytorch
class MNIST_model(Model):
    def __init__(self, in_dims, out_dims):  # type: ignore[no-untyped-def]
        super(MNIST_model, self).__init__()  # noqa: UP008

        self.input_layer = Linear(in_dims, 1024)
        self.hidden_1 = Linear(1024, 1024)
        self.hidden_2 = Linear(1024, 1024)
        self.output_layer = Linear(1024, out_dims)

    def __call__(self, data):  # type: ignore[no-untyped-def]
        data = self.input_layer(data)
        data = data.relu()

        data = self.hidden_1(data)
        data = data.relu()

        data = self.hidden_2(data)
        data = data.relu()

        data = self.output_layer(data)
        data = softmax(data)

        return data


class TinyModel(Model):
    def __init__(self, in_dims, out_dims):  # type: ignore[no-untyped-def]
        super().__init__()
        self.input_layer = Linear(in_dims, 16)
        self.output_layer = Linear(16, out_dims)

    def __call__(self, data):  # type: ignore[no-untyped-def]
        return softmax(self.output_layer(self.input_layer(data).relu()))


def random_minibatches(steps: int, batch: int, dims: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """A learnable random problem."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = rng.standard_normal((batch, dims)).astype(np.float32)
        x[:, :10] *= 3  # the class is the largest of the first ten features
        yield x, np.eye(10, dtype=np.float32)[x[:, :10].argmax(axis=1)]


def run_readme_loop(model: Model, train_minibatches, learning_rate: float):  # type: ignore[no-untyped-def]
    parameters = model.parameters()
    optimizer = SGD_Momentum(parameters, learning_rate, alpha=0.8)

    @compute_graph
    def forward(x_batch, y_batch):  # type: ignore[no-untyped-def]
        y_pred = model(x_batch)
        loss = cross_entropy(y_batch, y_pred)

        return loss

    losses, sizes = [], []
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for x_batch, y_batch in train_minibatches:
            loss = forward(x_batch, y_batch)

            loss.backprop()

            optimizer.step(parameters)
            print(loss.data)
            losses.append(float(loss.data))
            sizes.append(len(forward.graph))
    printed = [float(line) for line in out.getvalue().split()]
    np.testing.assert_allclose(printed, losses, rtol=1e-6)
    return losses, sizes, forward


def test_readme_loop_runs_100_steps_with_constant_node_count_and_falling_loss() -> None:
    losses, sizes, _ = run_readme_loop(TinyModel(20, 10), random_minibatches(100, 32, 20), 0.1)
    assert len(losses) == 100
    assert len(set(sizes)) == 1
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])


def test_readme_mnist_model_trains_unchanged_on_random_data() -> None:
    model = MNIST_model(784, 10)
    losses, sizes, forward = run_readme_loop(model, random_minibatches(40, 32, 784), 0.1)
    assert len(set(sizes)) == 1
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:5])
    names = {n.name for n in forward.graph.nodes if n.role.value == "parameter"}
    assert {"input_layer.weight", "hidden_1.bias", "output_layer.weight"} <= names
