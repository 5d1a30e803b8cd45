"""mg-graph: Macrograd's graph runtime. Graphs, nodes, the op protocol, the default
graph, on-demand evaluation, frozen-graph execution, rewrites and visualisation. It knows
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
    RewriteError,
    ShapeError,
    describe,
)
from mg_graph.evaluate import topo_order
from mg_graph.executor import source_of
from mg_graph.graph import (
    SCOPE_KINDS,
    Graph,
    get_default_graph,
    graph_of,
    named_scope,
    within_scope,
)
from mg_graph.node import CLOCK, Node, Role
from mg_graph.op import Alias, Op
from mg_graph.passes import GENERIC_PASSES
from mg_graph.rewrite import Constant, Passes, Rewrite, Rule, Stage, Sweep, rewrite
from mg_graph.source import register_internal, user_location
from mg_graph.visualize import GraphvizNotFoundError

__all__ = [
    "CLOCK",
    "GENERIC_PASSES",
    "SCOPE_KINDS",
    "Alias",
    "AnomalyError",
    "Constant",
    "DTypeError",
    "FrozenGraphError",
    "GradientError",
    "Graph",
    "GraphError",
    "GraphvizNotFoundError",
    "MixedGraphError",
    "Node",
    "Op",
    "Passes",
    "Rewrite",
    "RewriteError",
    "Role",
    "Rule",
    "ShapeError",
    "Stage",
    "Sweep",
    "describe",
    "detect_anomaly",
    "get_default_graph",
    "graph_of",
    "named_scope",
    "register_internal",
    "rewrite",
    "source_of",
    "topo_order",
    "user_location",
    "within_scope",
]
