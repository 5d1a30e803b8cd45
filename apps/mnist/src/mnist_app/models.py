"""The models: the original README's MLP, unchanged, and a small CNN."""

from __future__ import annotations

from macrograd import Tensor
from macrograd.nn import Conv2d, Flatten, Linear, MaxPool2d, Model


# functions can be designed with the same notation that `numpy` uses
# (compute_graph rewrites both into their numerically stable forms):
def softmax(x: Tensor) -> Tensor:
    e_x = x.exp()
    return e_x / (e_x.sum(axis=1, keepdims=True))


def cross_entropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    loss: Tensor = -1 * (y_true * (y_pred).log()).sum() / y_true.data.shape[0]
    return loss


# MODEL Creation like Pytorch
class MNIST_model(Model):
    """784-1024-1024-1024-10 MLP with ReLU and a softmax output, as in the README."""

    def __init__(self, in_dims: int, out_dims: int) -> None:
        super(MNIST_model, self).__init__()  # noqa: UP008 - as written in the README

        self.input_layer = Linear(in_dims, 1024)
        self.hidden_1 = Linear(1024, 1024)
        self.hidden_2 = Linear(1024, 1024)
        self.output_layer = Linear(1024, out_dims)

    def __call__(self, data: Tensor) -> Tensor:
        data = self.input_layer(data)
        data = data.relu()

        data = self.hidden_1(data)
        data = data.relu()

        data = self.hidden_2(data)
        data = data.relu()

        data = self.output_layer(data)
        data = softmax(data)

        return data


class MNIST_cnn(Model):
    """Two 3x3 conv blocks (32, 64 channels) with max-pooling, then a 128-unit MLP."""

    def __init__(self, out_dims: int = 10) -> None:
        super().__init__()
        self.conv_1 = Conv2d(1, 32, 3, padding=1)
        self.pool_1 = MaxPool2d(2)
        self.conv_2 = Conv2d(32, 64, 3, padding=1)
        self.pool_2 = MaxPool2d(2)
        self.flatten = Flatten()
        self.hidden = Linear(64 * 7 * 7, 128)
        self.output_layer = Linear(128, out_dims)

    def forward(self, data: Tensor) -> Tensor:
        data = data.reshape((data.shape[0], 1, 28, 28))
        data = self.pool_1(self.conv_1(data).relu())
        data = self.pool_2(self.conv_2(data).relu())
        data = self.hidden(self.flatten(data)).relu()
        return softmax(self.output_layer(data))


def build(name: str) -> Model:
    """The model called ``name`` ("mlp" or "cnn") for 28x28 digits and 10 classes."""
    if name == "mlp":
        return MNIST_model(784, 10)
    if name == "cnn":
        return MNIST_cnn(10)
    raise ValueError(f"unknown model {name!r}: use 'mlp' or 'cnn'")
