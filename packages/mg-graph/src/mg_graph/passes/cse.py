"""Common-subexpression elimination: compute each distinct (op, inputs) once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mg_graph.evaluate import topo_order
from mg_graph.node import Node, Role
from mg_graph.op import Alias

if TYPE_CHECKING:
    from mg_graph.graph import Graph

_SMALL = 16  # constants up to this many elements are merged by value


def _key(node: Node, canon: dict[int, Node]) -> Any:
    if node.op is None:
        if node.role is Role.CONSTANT and node.value is not None and node.size <= _SMALL:
            return ("constant", node.dtype.str, node.shape, node.value.tobytes())
        return None
    if not node.op.pure:  # each node draws on its own, even when two share an op instance
        return None
    return (node.op.key(), tuple(canon.get(i.id, i).id for i in node.inputs))


def eliminate_common_subexpressions(graph: Graph) -> None:
    """Point every user of a duplicate at its first occurrence; outputs become aliases.

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> g = Graph(); a = g.leaf(np.ones(1)); b = g.leaf(np.ones(1))
    >>> g.freeze([a, b], optimize=False); eliminate_common_subexpressions(g)
    >>> b.op.name, b.inputs[0] is a
    ('alias', True)
    """
    seen: dict[Any, Node] = {}
    canon: dict[int, Node] = {}
    outputs = {node.id for node in graph.outputs}
    for node in topo_order(graph.outputs):
        if node.op is not None and any(i.id in canon for i in node.inputs):
            node.inputs = tuple(canon.get(i.id, i) for i in node.inputs)
        key = _key(node, canon)
        if key is None or isinstance(node.op, Alias):
            continue
        first = seen.setdefault(key, node)
        if first is node or first.dtype != node.dtype or first.shape != node.shape:
            continue
        canon[node.id] = first
        if node.id in outputs:
            _alias(node, first)


def _alias(node: Node, target: Node) -> None:
    node.op = Alias()
    node.inputs = (target,)
    node.role = Role.COMPUTED
    node.value = None
