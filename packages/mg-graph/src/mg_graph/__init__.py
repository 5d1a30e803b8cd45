"""mg-graph: Macrograd's graph runtime. Graphs, nodes, the op protocol, the default
graph, eager evaluation, frozen-graph execution, passes and visualisation. It knows
no maths of its own: ops come from mg-tensor.

>>> import numpy as np
>>> from mg_graph import Graph, Role
>>> g = Graph()
>>> g.leaf(np.zeros(3), Role.INPUT, "x").label
'x (3,) float64'
"""

from mg_graph.anomaly import AnomalyError, detect_anomaly
from mg_graph.errors import (
    DTypeError,
    FrozenGraphError,
    GradientError,
    GraphError,
    MixedGraphError,
    ShapeError,
    describe,
)
from mg_graph.evaluate import topo_order
from mg_graph.executor import source_of
from mg_graph.graph import Graph, get_default_graph, graph_of, named_scope
from mg_graph.node import CLOCK, Node, Role
from mg_graph.op import Alias, Op
from mg_graph.passes import register_pass, run_passes
from mg_graph.source import register_internal, user_location
from mg_graph.visualize import GraphvizNotFoundError

__all__ = [
    "CLOCK",
    "Alias",
    "AnomalyError",
    "DTypeError",
    "FrozenGraphError",
    "GradientError",
    "Graph",
    "GraphError",
    "GraphvizNotFoundError",
    "MixedGraphError",
    "Node",
    "Op",
    "Role",
    "ShapeError",
    "describe",
    "detect_anomaly",
    "get_default_graph",
    "graph_of",
    "named_scope",
    "register_internal",
    "register_pass",
    "run_passes",
    "source_of",
    "topo_order",
    "user_location",
]
