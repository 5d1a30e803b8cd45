"""Common-subexpression elimination: compute each distinct (op, inputs) once."""

from __future__ import annotations

from typing import Any

from mg_graph.node import Node, Role
from mg_graph.op import Alias
from mg_graph.rewrite import Stage, Sweep

_SMALL = 16  # constants up to this many elements are merged by value


def _key(node: Node) -> Any:
    if node.op is None:
        value = node.value
        if node.role is Role.CONSTANT and value is not None and value.size <= _SMALL:
            return ("constant", value.dtype.str, value.shape, value.tobytes())
        return None
    if isinstance(node.op, Alias):  # an output's own copy of another node: keep it
        return None
    # the sweep is in topological order and rewires users at once: inputs are canonical
    return (node.op.key(), tuple(i.id for i in node.inputs))


def merge_duplicate(node: Node, sweep: Sweep) -> Node | None:
    """A node computing what an earlier one does is that node: its users read the first
    (a duplicate output becomes an alias of it).

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> g = Graph(); a = g.leaf(np.ones(1)); b = g.leaf(np.ones(1))
    >>> g.freeze([a, b], passes=[CSE])
    >>> b.op.name, b.inputs[0] is a
    ('alias', True)
    """
    key = _key(node)
    if key is None:
        return None
    first = sweep.first(key, node)
    if first is node or (first.shape, first.dtype) != (node.shape, node.dtype):
        return None
    return first


CSE = Stage("cse", (merge_duplicate,))
