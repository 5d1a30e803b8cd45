"""Constant folding: compute, once, every pure node whose inputs are all constants."""

from __future__ import annotations

import numpy as np

from mg_graph.node import Node, Role
from mg_graph.rewrite import Constant, Stage, Sweep

_LIMIT = 1 << 20  # elements: larger results stay computed rather than stored


def fold_constant(node: Node, sweep: Sweep) -> Constant | None:
    """A node whose inputs are all constants becomes a constant holding its value.

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> from mg_graph.op import Alias
    >>> g = Graph(); a = g.leaf(np.ones(1)); b = g.apply(Alias(), a)
    >>> g.freeze([b], passes=[FOLD]); b.role
    <Role.CONSTANT: 'constant'>
    """
    op = node.op
    if op is None or node.size > _LIMIT:
        return None
    values = []
    for inp in node.inputs:
        if inp.op is not None or inp.role is not Role.CONSTANT or inp.value is None:
            return None
        values.append(inp.value)
    # a copy in the node's dtype: never a view of an input, never a numpy scalar
    return Constant(np.array(op.forward(*values), dtype=node.dtype))


FOLD = Stage("fold_constants", (fold_constant,))
