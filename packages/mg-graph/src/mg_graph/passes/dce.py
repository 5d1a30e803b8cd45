"""Dead-code elimination: drop nodes no output depends on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mg_graph.evaluate import topo_order

if TYPE_CHECKING:
    from mg_graph.graph import Graph


def eliminate_dead_code(graph: Graph) -> None:
    """Keep only the nodes the graph's outputs depend on.

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> g = Graph(); a = g.leaf(np.ones(1)); b = g.leaf(np.ones(1))
    >>> g.freeze([a], optimize=False); eliminate_dead_code(g); len(g)
    1
    """
    live = {node.id for node in topo_order(graph.outputs)}
    if graph._strong is not None:
        graph._strong = [node for node in graph._strong if node.id in live]
    for node_id in [i for i in graph._nodes if i not in live]:
        del graph._nodes[node_id]
    graph._captures = {i: node for i, node in graph._captures.items() if i in live}
