"""Constant folding: compute, once, every pure node whose inputs are all constants."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mg_graph.evaluate import compute, topo_order
from mg_graph.node import CLOCK, Role

if TYPE_CHECKING:
    from mg_graph.graph import Graph

_LIMIT = 1 << 20  # elements: larger results stay computed rather than stored


def fold_constants(graph: Graph) -> None:
    """Replace constant subexpressions by constant leaves holding their value.

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> from mg_graph.op import Alias
    >>> g = Graph(); a = g.leaf(np.ones(1)); b = g.apply(Alias(), a)
    >>> g.freeze([b], optimize=False); fold_constants(g); b.role
    <Role.CONSTANT: 'constant'>
    """
    for node in topo_order(graph.outputs):
        op = node.op
        if (
            op is None
            or not op.pure
            or op.effect
            or node.size > _LIMIT
            or not all(i.op is None and i.role is Role.CONSTANT for i in node.inputs)
        ):
            continue
        compute([node])
        assert node.value is not None
        node.value = node.value.copy() if node.value.base is not None else node.value
        node.op = None
        node.inputs = ()
        node.role = Role.CONSTANT
        node.stamp = CLOCK.tick()
