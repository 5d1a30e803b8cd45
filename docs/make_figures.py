"""Draw the pictures in docs/: `uv run python docs/make_figures.py`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from macrograd import Tensor
from macrograd.engine import Graph, compute_graph
from macrograd.nn import Linear, Model, manual_seed

HERE = Path(__file__).parent


def softmax(x: Tensor) -> Tensor:
    e_x = x.exp()
    return e_x / (e_x.sum(axis=1, keepdims=True))


def softmax_graph() -> None:
    graph = Graph("softmax")
    logits = softmax(Tensor([[1, 2, 3, 4], [5, 6, 7, 8]], graph=graph, name="my_tensor"))
    logits.realize()
    graph.visualize(str(HERE / "softmax-graph.svg"))


def cross_entropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    loss: Tensor = -1 * (y_true * (y_pred).log()).sum() / y_true.data.shape[0]
    return loss


class SmallMLP(Model):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = Linear(4, 8)
        self.output_layer = Linear(8, 3)

    def __call__(self, data: Tensor) -> Tensor:
        return softmax(self.output_layer(self.hidden(data).relu()))


def mlp_training_graph() -> None:
    manual_seed(0)
    model = SmallMLP()

    @compute_graph
    def forward(x_batch: Tensor, y_batch: Tensor) -> Tensor:
        return cross_entropy(y_batch, model(x_batch))

    loss = forward(np.ones((16, 4), np.float32), np.eye(3, dtype=np.float32)[[0] * 16])
    loss.backprop()
    forward.graph.visualize(str(HERE / "mlp-training-graph.svg"))


if __name__ == "__main__":
    softmax_graph()
    mlp_training_graph()
