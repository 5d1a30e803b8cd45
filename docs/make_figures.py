"""Draw the pictures in docs/: `uv run python docs/make_figures.py`.

The README's softmax graph, and the training graph of the README's MLP as
`mnist --graph` draws it (traced by `compute_graph`, differentiated by `backprop()`):
every node, and one box per layer (`depth=1`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from macrograd import Tensor
from macrograd.engine import Graph, compute_graph
from macrograd.nn import manual_seed
from mnist_app.models import MNIST_model, cross_entropy, softmax

HERE = Path(__file__).parent


def softmax_graph() -> None:
    graph = Graph("softmax")
    logits = softmax(Tensor([[1, 2, 3, 4], [5, 6, 7, 8]], graph=graph, name="my_tensor"))
    logits.realize()
    graph.visualize(str(HERE / "softmax-graph.svg"))


def mlp_training_graph() -> Graph:
    manual_seed(0)
    model = MNIST_model(784, 10)

    @compute_graph
    def forward(x_batch: Tensor, y_batch: Tensor) -> Tensor:
        y_pred = model(x_batch)
        return cross_entropy(y_batch, y_pred)

    labels = np.eye(10, dtype=np.float32)[np.arange(64) % 10]
    forward(np.zeros((64, 784), np.float32), labels).backprop()
    return forward.graph


if __name__ == "__main__":
    softmax_graph()
    graph = mlp_training_graph()
    graph.visualize(str(HERE / "mlp-training-graph.svg"))
    graph.visualize(str(HERE / "mlp-training-graph-depth1.svg"), depth=1)
