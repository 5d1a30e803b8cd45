"""The graph engine: graphs, the default graph and `compute_graph`.

>>> from macrograd.engine import Graph, get_default_graph
>>> isinstance(get_default_graph(), Graph)
True
"""

from mg_graph import Graph, Node, Role, get_default_graph, named_scope
from mg_tensor import CompiledFunction, compute_graph, realize

__all__ = [
    "CompiledFunction",
    "Graph",
    "Node",
    "Role",
    "compute_graph",
    "get_default_graph",
    "named_scope",
    "realize",
]
