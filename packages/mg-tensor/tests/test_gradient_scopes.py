"""Gradient nodes are built in the scope of the forward node they differentiate, so the
visualiser draws each layer's backward beside the layer."""

from __future__ import annotations

import numpy as np

from mg_graph import Graph, named_scope
from mg_tensor import Tensor, compute_graph, grad


def test_a_gradient_node_takes_the_scope_of_the_forward_node_it_differentiates() -> None:
    graph = Graph()
    w = Tensor(np.ones((3, 2)), requires_grad=True, graph=graph)
    x = Tensor(np.ones((4, 3)), graph=graph)
    with named_scope("Net"):
        with named_scope("fc"):
            h = x @ w
        y = h.relu()
    loss = (y * y).sum()
    forward = {id(n) for n in graph.nodes}
    with named_scope("elsewhere"):  # the caller's scope does not leak into gradients
        (dw,) = grad(loss, [w])
    created = [n for n in graph.nodes if id(n) not in forward and n.op is not None]
    scopes = {n.scope for n in created}
    assert scopes <= {(), ("Net",), ("Net", "fc")}
    assert ("Net", "fc") in scopes and ("Net",) in scopes
    assert dw.node.scope == ("Net", "fc")  # the weight gradient: matmul's vjp
    assert all(n.is_gradient for n in created)


def test_backprop_in_a_frozen_graph_scopes_its_gradient_nodes() -> None:
    w = Tensor(np.ones((3, 2), np.float32), requires_grad=True, name="fc.weight")

    @compute_graph
    def forward(x: Tensor) -> Tensor:
        with named_scope("Net"), named_scope("fc"):
            h = x @ w
        return (h * h).sum()

    forward(np.ones((4, 3), np.float32)).backprop()
    grads = [n for n in forward.graph.nodes if n.is_gradient and n.op is not None]
    assert grads and {("Net", "fc")} <= {n.scope for n in grads}
