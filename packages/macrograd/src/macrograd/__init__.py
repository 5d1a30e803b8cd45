"""Macrograd: deep learning with lazy execution over explicit computational graphs.

Every tensor operation adds a node to a graph; nothing is computed until you ask
(``realize()``, ``.data``, ``backprop()``). The graph is a first-class object you can
freeze, optimise, replay, inspect and draw.

>>> from macrograd import Tensor
>>> t = Tensor([[1, 2], [3, 4]])
>>> (t * t).sum().data
array(30., dtype=float32)
"""

from mg_graph import Graph, Node, Role, get_default_graph, named_scope
from mg_tensor import Tensor, compute_graph, grad, realize

__all__ = [
    "Graph",
    "Node",
    "Role",
    "Tensor",
    "compute_graph",
    "get_default_graph",
    "grad",
    "named_scope",
    "realize",
]
__version__ = "0.1.0"
