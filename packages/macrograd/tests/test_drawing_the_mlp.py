"""The README MLP's training graph as `mnist --graph` draws it: scopes on every layer's
nodes, forward and backward, at most 12 and 20 nodes at ``depth=1``, and (with
graphviz's dot) a layout that reads top to bottom with the gradients beside it."""

from __future__ import annotations

import itertools
import re
import shutil

import numpy as np
import pytest
from test_readme_mnist_loop import MNIST_model, cross_entropy

from macrograd import Tensor
from macrograd.engine import Graph, Role, compute_graph
from mg_graph.visualize import positions
from mg_graph.visualize.items import program_order

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="graphviz's dot is not installed (apt-get install graphviz)",
)


def _training_graph() -> Graph:
    model = MNIST_model(784, 10)

    @compute_graph
    def forward(x_batch, y_batch):  # type: ignore[no-untyped-def]
        return cross_entropy(y_batch, model(x_batch))

    forward(np.ones((8, 784), np.float32), np.eye(10, dtype=np.float32)[:8]).backprop()
    return forward.graph


def _drawn(source: str) -> int:
    names = set(re.findall(r"^\s*(\w+) \[", source, re.MULTILINE)) - {"graph", "node", "edge"}
    return len(names)


def test_every_layer_node_has_a_scope_forward_and_backward() -> None:
    graph = _training_graph()
    layers = {"input_layer", "hidden_1", "hidden_2", "output_layer"}
    for node in graph.nodes:
        if node.op is not None and node.op.name in {"linear", "matmul", "transpose"}:
            assert node.scope[:1] == ("MNIST_model",) and node.scope[1] in layers, node
    unscoped = [n for n in graph.nodes if n.is_gradient and n.op is not None and not n.scope]
    assert {n.op.name for n in unscoped if n.op} <= {"multiply", "exp", "sum", "subtract"}
    source = graph.visualize().source
    for layer in layers:  # each parameter is drawn in its layer's cluster
        start = source.index(f"subgraph cluster_MNIST_model_{layer} {{")
        cluster = source[start : source.index("}", start)]
        assert f'label="{layer}.weight' in cluster and f'label="{layer}.bias' in cluster
        assert f"subgraph cluster_MNIST_model_{layer}__backward {{" in source
    # a dotted arrow from each parameter's gradient back to the parameter
    assert source.count("style=dotted") == 8
    assert graph.visualize(depth=1).source.count("style=dotted") == 4  # one per layer


def test_depth_1_draws_one_box_per_layer_like_the_original_readme() -> None:
    eager = Graph("forward")
    with eager.as_default():
        y_pred = MNIST_model(784, 10)(Tensor(np.ones((8, 784), np.float32)))
    forward = y_pred.graph.visualize(depth=1).source
    assert _drawn(forward) <= 12
    assert 'label="hidden_1: Linear\n8x1024 -> 8x1024\n1,049,600 parameters"' in forward
    training = _training_graph().visualize(depth=1).source
    assert _drawn(training) <= 20
    assert 'label="hidden_1: Linear (backward)' in training
    assert _drawn(_training_graph().visualize().source) > 50  # the full graph stays the default


@needs_dot
def test_the_layout_reads_like_the_computation() -> None:
    graph = _training_graph()
    at = positions(graph.visualize())
    order = program_order(graph.nodes)
    forward = [n for n in order if n.op is not None and not n.is_gradient]
    ys = [at[str(n.id)][1] for n in forward]
    assert all(a > b for a, b in itertools.pairwise(ys)), "forward runs top to bottom"
    forward_x = [at[str(n.id)][0] for n in forward]
    gradient_x = [at[str(n.id)][0] for n in graph.nodes if n.is_gradient and n.op is not None]
    assert min(gradient_x) > max(forward_x), "gradients in a column beside the forward pass"
    rows = sorted({round(y, 2) for _, y in at.values()}, reverse=True)
    for param in (n for n in graph.nodes if n.role is Role.PARAMETER):
        (layer,) = [n for n in forward if param in n.inputs]
        gap = rows.index(round(at[str(param.id)][1], 2)) - rows.index(
            round(at[str(layer.id)][1], 2)
        )
        assert abs(gap) <= 1, f"{param.name} is {gap} rows from its layer"
