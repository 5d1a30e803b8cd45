"""Draw a graph with graphviz so that it reads like the computation.

Forward nodes run top to bottom in program order; gradient nodes run back up in a
column of their own beside the forward pass they mirror; each parameter sits beside
the layer that uses it, with its gradient pointing back at it. Scopes (layer calls)
are clusters, forward and backward apart. ``depth=`` collapses layers into boxes.
Parameters are blue, input buffers red, constants green, computed nodes grey,
gradient nodes orange and dashed. In SVG output every node has a tooltip.

>>> from mg_graph import Graph
>>> "digraph" in visualize(Graph()).source
True
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import graphviz  # type: ignore[import-untyped]

from mg_graph.source import user_location
from mg_graph.visualize.items import build
from mg_graph.visualize.layout import emit, register_gradient_lookup
from mg_graph.visualize.rendering import GraphvizNotFoundError, positions, render
from mg_graph.visualize.sharing import shared_buffers
from mg_graph.visualize.style import COLOURS, GRADIENT_COLOUR

if TYPE_CHECKING:
    from mg_graph.graph import Graph

SLOW_NODES = 2000  # dot slows down past it: packages/mg-graph/benchmarks/dot_layout.py


def visualize(
    graph: Graph,
    path: str | None = None,
    *,
    clusters: bool = True,
    gradients: bool = True,
    depth: int | None = None,
) -> graphviz.Digraph:
    """Build a `graphviz.Digraph` of ``graph``; render it to ``path`` if one is given.

    Nodes built inside a named scope (a layer call) are grouped into a cluster; with
    ``gradients=False`` the backward subgraph is left out. With ``depth=N`` every scope
    N levels below the outermost model is drawn as one box (its name, type, input and
    output shapes and parameter count), as is every other run of ops sharing a scope
    (the loss, an activation's backward); constants are left out.

    >>> from mg_graph import Graph
    >>> visualize(Graph(), depth=1).source.startswith("digraph")
    True
    """
    if depth is not None and depth < 0:
        raise ValueError(f"visualize: depth must be 0 or more, not {depth}")
    nodes = [n for n in graph.nodes if gradients or not n.is_gradient]
    drawing = build(nodes, depth)
    large = len(drawing.items) > SLOW_NODES
    if large:
        filename, _, line = user_location(2).rpartition(":")
        warnings.warn_explicit(
            f"visualize: {len(drawing.items):,} nodes take graphviz's dot a long time to lay "
            f"out (it slows down past {SLOW_NODES:,}); pass depth=1 to draw one box per "
            "layer, or depth=2 for one level more",
            UserWarning,
            filename,
            int(line) if line.isdigit() else 0,
        )
    dot = emit(drawing, graph.name, clusters, shared_buffers(graph), large)
    if path is not None:
        render(dot, path)
    return dot


__all__ = [
    "COLOURS",
    "GRADIENT_COLOUR",
    "SLOW_NODES",
    "GraphvizNotFoundError",
    "positions",
    "register_gradient_lookup",
    "render",
    "visualize",
]
