"""Draw the pictures in docs/: `uv run python docs/make_figures.py`."""

from __future__ import annotations

from pathlib import Path

from macrograd import Tensor
from macrograd.engine import Graph

HERE = Path(__file__).parent


def softmax(x: Tensor) -> Tensor:
    e_x = x.exp()
    return e_x / (e_x.sum(axis=1, keepdims=True))


def softmax_graph() -> None:
    graph = Graph("softmax")
    logits = softmax(Tensor([[1, 2, 3, 4], [5, 6, 7, 8]], graph=graph, name="my_tensor"))
    logits.realize()
    graph.visualize(str(HERE / "softmax-graph.svg"))


if __name__ == "__main__":
    softmax_graph()
