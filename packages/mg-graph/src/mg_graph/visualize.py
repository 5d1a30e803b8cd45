"""Draw a graph with graphviz: parameters blue, input buffers red, constants green."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import graphviz  # type: ignore[import-untyped]

from mg_graph.errors import GraphError
from mg_graph.node import Node, Role

if TYPE_CHECKING:
    from mg_graph.graph import Graph

COLOURS = {
    Role.PARAMETER: "#4a7bd0",
    Role.INPUT: "#d9534f",
    Role.CONSTANT: "#4c9a4c",
    Role.COMPUTED: "#dddddd",
}
GRADIENT_COLOUR = "#f0ad4e"
_FORMATS = {"svg", "png", "pdf", "dot", "gv", "jpg", "jpeg"}


class GraphvizNotFoundError(GraphError, RuntimeError):
    """Rendering needs graphviz's ``dot`` program, which is not installed."""


def _attributes(node: Node) -> dict[str, str]:
    title = node.name or (node.op.label() if node.op is not None else node.role.value)
    if node.name and node.op is not None:  # a named result still says what computes it
        title += f"\n{node.op.label()}"
    shape = "x".join(map(str, node.shape)) or "scalar"
    label = f"{title}\n{shape} {node.dtype}"
    if node.op is None:
        colour = COLOURS[node.role]
        return {
            "label": label,
            "shape": "box",
            "style": "filled,rounded",
            "fillcolor": colour,
            "fontcolor": "white",
        }
    if node.is_gradient:
        return {
            "label": label,
            "shape": "ellipse",
            "style": "filled,dashed",
            "fillcolor": GRADIENT_COLOUR,
        }
    return {"label": label, "shape": "ellipse", "style": "filled", "fillcolor": COLOURS[node.role]}


def visualize(
    graph: Graph, path: str | None = None, *, clusters: bool = True, gradients: bool = True
) -> graphviz.Digraph:
    """Build a `graphviz.Digraph` of ``graph``; render it to ``path`` if one is given.

    Nodes built inside a named scope (a layer call) are grouped into a cluster; with
    ``gradients=False`` the backward subgraph is left out.

    >>> from mg_graph import Graph
    >>> "digraph" in visualize(Graph()).source
    True
    """
    dot = graphviz.Digraph(
        graph.name,
        graph_attr={"rankdir": "TB", "fontname": "Helvetica"},
        node_attr={"fontname": "Helvetica", "fontsize": "10"},
    )
    nodes = [n for n in graph.nodes if gradients or not n.is_gradient]
    shown = {n.id for n in nodes}
    groups: dict[tuple[str, ...], list[Node]] = {}
    for node in nodes:
        groups.setdefault(node.scope if clusters else (), []).append(node)
    for scope, members in groups.items():
        if scope:
            name = "cluster_" + "_".join(scope).replace(".", "_")
            with dot.subgraph(name=name) as sub:
                sub.attr(label=".".join(scope), style="rounded,dashed", color="#888888")
                for node in members:
                    sub.node(str(node.id), **_attributes(node))
        else:
            for node in members:
                dot.node(str(node.id), **_attributes(node))
    for node in nodes:
        for inp in node.inputs:
            if inp.id in shown:
                style = "dashed" if node.is_gradient else "solid"
                dot.edge(str(inp.id), str(node.id), style=style)
    if path is not None:
        render(dot, path)
    return dot


def render(dot: graphviz.Digraph, path: str) -> str:
    """Write ``dot`` to ``path``; the format comes from the file's extension."""
    stem, ext = os.path.splitext(path)
    fmt = ext.lstrip(".").lower()
    if fmt not in _FORMATS:
        raise ValueError(
            f"visualize: cannot tell the format of {path!r}; use one of "
            + ", ".join(sorted(_FORMATS))
        )
    if fmt in {"dot", "gv"}:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(dot.source)
        return path
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError(
            f"visualize: rendering {path!r} needs graphviz's `dot` program, which is not on "
            "PATH.\n  fix: install the system package (Debian/Ubuntu: `apt-get install "
            "graphviz`, macOS: `brew install graphviz`), or save the source with a .dot "
            "path; `graph.visualize().source` gives the DOT text without it"
        )
    tmp = f"{stem}.partial{ext}"
    source = f"{stem}.partial.gv"  # where graphviz saves the DOT text it renders
    try:
        dot.render(filename=source, outfile=tmp, format=fmt, cleanup=True)
        os.replace(tmp, path)
    finally:  # a failed render leaves neither a partial image nor the source behind
        for leftover in (tmp, source):
            if os.path.exists(leftover):
                os.remove(leftover)
    return path
