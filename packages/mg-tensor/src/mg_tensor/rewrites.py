"""Numerical-stability rewrites, run when `compute_graph` freezes a graph and before
any gradient node exists, so the gradients are built from the stable forms too.

* ``exp(x) / exp(x).sum(axis, keepdims=True)`` becomes ``softmax(x, axis)``, whose
  kernel subtracts the maximum first (logits of +-1000 stay finite);
* ``log(softmax(x))`` becomes ``log_softmax(x)``, whose gradient never divides by a
  probability that underflowed to 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mg_graph import Node, register_pass, topo_order
from mg_tensor.ops.binary import Divide
from mg_tensor.ops.linalg import MatMul
from mg_tensor.ops.reduce import Sum
from mg_tensor.ops.shape import BroadcastTo, Reshape, Transpose
from mg_tensor.ops.softmax import LogSoftmax, Softmax
from mg_tensor.ops.unary import Exp, Log

if TYPE_CHECKING:
    from mg_graph import Graph


def _through_views(node: Node) -> Node:
    while isinstance(node.op, Reshape | BroadcastTo):
        node = node.inputs[0]
    return node


def _same(a: Node, b: Node) -> bool:
    """The same value: one node, or the same pure op on the same inputs (``x.exp()``
    written twice); common-subexpression elimination has not run yet."""
    return a is b or (
        a.op is not None
        and a.op.pure
        and a.op == b.op
        and len(a.inputs) == len(b.inputs)
        and all(i is j for i, j in zip(a.inputs, b.inputs, strict=True))
    )


def _softmax_axis(node: Node) -> int | None:
    """The axis if ``node`` is exp(x) / sum(exp(x), axis) (keepdims or reshaped)."""
    if not isinstance(node.op, Divide):
        return None
    numerator, denominator = node.inputs
    total = _through_views(denominator)
    if not (isinstance(numerator.op, Exp) and isinstance(total.op, Sum)):
        return None
    if not _same(total.inputs[0], numerator) or len(total.op.axes) != 1:
        return None
    if numerator.shape != node.shape:  # the denominator must broadcast, not the numerator
        return None
    axis = total.op.axes[0]
    if node.ndim > 0 and denominator.shape[axis] != 1 and numerator.shape[axis] != 1:
        return None
    return axis


def stabilize_softmax(graph: Graph) -> None:
    """Rewrite naive softmax and log(softmax) patterns into the stable ops, in place.

    >>> import numpy as np
    >>> from mg_tensor import Tensor, compute_graph
    >>> f = compute_graph(lambda x: (x.exp() / x.exp().sum(axis=0, keepdims=True)).log())
    >>> f(np.array([1000.0, -1000.0])).data
    array([    0., -2000.])
    """
    for node in topo_order(graph.outputs):
        axis = _softmax_axis(node)
        if axis is not None:
            exp_node = node.inputs[0]
            node.op, node.inputs, node.value = Softmax(axis), (exp_node.inputs[0],), None
        elif isinstance(node.op, Log) and isinstance(node.inputs[0].op, Softmax):
            softmax = node.inputs[0]
            assert isinstance(softmax.op, Softmax)
            node.op, node.inputs, node.value = LogSoftmax(softmax.op.axis), softmax.inputs, None


register_pass("stabilize_softmax", stabilize_softmax)


def _consumers(graph: Graph) -> dict[int, int]:
    counts: dict[int, int] = {}
    for node in topo_order(graph.outputs):
        for inp in node.inputs:
            counts[inp.id] = counts.get(inp.id, 0) + 1
    for node in graph.outputs:
        counts[node.id] = counts.get(node.id, 0) + 1
    return counts


def _transposed(graph: Graph, node: Node) -> Node:
    """``node.T`` for a 2-d node, unwrapping an existing transpose (a free view either way)."""
    if isinstance(node.op, Transpose) and node.op.axes == (1, 0):
        return node.inputs[0]
    return graph.apply(Transpose((1, 0)), node)


def transpose_matmul(graph: Graph) -> None:
    """``(a @ b).T`` becomes ``b.T @ a.T``, so the product is written in its final layout.

    A Linear layer computes ``x @ W.T``; the gradient of ``W`` comes out of autodiff as
    ``(x.T @ g).T``, which would otherwise cost a copy of a weight-sized matrix every
    step. After this pass BLAS writes ``g.T @ x`` straight into the gradient buffer.

    >>> import numpy as np
    >>> from mg_tensor import Tensor, compute_graph
    >>> w = Tensor(np.ones((3, 2)), requires_grad=True)
    >>> f = compute_graph(lambda x: (x @ w.T).sum())
    >>> loss = f(np.ones((4, 2))); loss.backprop()
    >>> [n.op.name for n in f.graph.outputs if n.is_gradient]
    ['matmul']
    """
    uses = _consumers(graph)
    for node in topo_order(graph.outputs):
        if not (isinstance(node.op, Transpose) and node.op.axes == (1, 0)):
            continue
        product = node.inputs[0]
        if not isinstance(product.op, MatMul) or uses.get(product.id, 0) != 1:
            continue
        a, b = product.inputs
        if a.ndim != 2 or b.ndim != 2:
            continue
        node.op, node.value = MatMul(), None
        node.inputs = (_transposed(graph, b), _transposed(graph, a))


register_pass("transpose_matmul", transpose_matmul, frozenset({"freeze", "gradients"}))
