"""The DOT text: clusters, and the rank constraints that make it read like the program.

Only graphviz's own means are used, no coordinates:

* forward items are chained by invisible heavy edges in program order, so they form
  one column, top to bottom;
* an edge between two gradient items is written head-first with ``dir=back``: the
  arrow still points from input to user, but dot ranks the user *above* its input, so
  the backward pass runs back up;
* each gradient item is tied by an invisible ``minlen=0`` edge to the forward item it
  mirrors (the last one of its own scope that it reads, else the first of its layer),
  which pulls it onto that row; data edges from the forward pass into the backward
  pass do not constrain ranks, and a constant read in several places is drawn beside
  each reader, so no edge crosses the whole picture;
* each parameter shares the row of the item that first uses it and sits to its right
  (``rank=same`` and a flat edge, under ``newrank``), and its gradient points back at it;
* for large drawings, ``nslimit`` caps the network simplex that places nodes
  across (dot's slowest phase on big graphs: 8-12 s of CPU at 5,000 nodes, 2 s capped).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import graphviz  # type: ignore[import-untyped]

from mg_graph.node import Node, Role
from mg_graph.visualize.items import Drawing, Item, cluster_name
from mg_graph.visualize.statements import Body
from mg_graph.visualize.style import GRADIENT_COLOUR, item_attributes, scope_title

_CLUSTER = {"style": "rounded,dashed", "color": "#888888", "fontname": "Helvetica"}
_BACKWARD_CLUSTER = {**_CLUSTER, "color": GRADIENT_COLOUR}


def emit(
    drawing: Drawing, name: str, clusters: bool, sharing: dict[int, str], large: bool
) -> graphviz.Digraph:
    """The `graphviz.Digraph` of ``drawing``; ``large`` caps dot's effort."""
    beside = _parameter_rows(drawing)
    mirrors = _mirrors(drawing, beside)
    body = Body()
    _place(body, drawing.items, _attributes(drawing, sharing, mirrors), clusters)
    for tail, head in drawing.edges:
        body.edge(*_edge(tail, head, beside))
    forward = [i for i in drawing.items if i.computed and not i.backward]
    for upper, lower in itertools.pairwise(forward):
        body.edge(upper.key, lower.key, {"style": "invis", "weight": "20"})
    _tie_mirrors(body, mirrors)
    _share_rows(body, beside)
    _gradients_point_back(body, drawing)
    graph = {"rankdir": "TB", "newrank": "true", "fontname": "Helvetica"}
    if large:  # cap dot's slowest phase, placing nodes across
        graph["nslimit"] = "0.1"
    return graphviz.Digraph(
        name,
        graph_attr=graph,
        node_attr={"fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"arrowsize": "0.7"},
        body=body.lines,
    )


def _attributes(
    drawing: Drawing, sharing: dict[int, str], mirrors: dict[Item, tuple[Item, bool]]
) -> dict[int, dict[str, str]]:
    """id(item) -> its DOT node attributes."""
    attributes = {}
    for item in drawing.items:
        mirrored = mirrors[item][0] if item in mirrors else None
        attributes[id(item)] = item_attributes(item, drawing, sharing, mirrored)
        if item.computed and not item.backward:  # dot keeps a group's edges straight
            attributes[id(item)]["group"] = "forward"
    return attributes


def _tie_mirrors(body: Body, mirrors: dict[Item, tuple[Item, bool]]) -> None:
    """Pull each gradient item onto the row of the forward item it mirrors."""
    for item, (twin, reads) in mirrors.items():
        if reads:  # on the row of the forward node it reads, to its right
            body.open()
            body.attr("rank", "same")
            body.edge(twin.key, item.key, {"style": "invis"})
            body.close()
        else:  # no higher than its layer's first row
            body.edge(twin.key, item.key, {"style": "invis", "minlen": "0", "weight": "8"})


def _share_rows(body: Body, beside: dict[Item, Item]) -> None:
    """Put each parameter on the row of its first user, in creation order to its right."""
    rows: dict[Item, list[Item]] = {}
    for param, user in beside.items():
        rows.setdefault(user, []).append(param)
    for user, params in rows.items():
        body.open()
        body.attr("rank", "same")
        for member in (user, *params):
            body.node(member.key)
        for left, right in itertools.pairwise(params):  # in creation order
            body.edge(left.key, right.key, {"style": "invis"})
        body.close()


def _place(
    body: Body, items: list[Item], attributes: dict[int, dict[str, str]], clusters: bool
) -> None:
    """Declare items, nested in one cluster per scope prefix (forward and backward apart)."""
    Key = tuple[bool, tuple[str, ...]]
    members: dict[Key, list[Item]] = {}
    subclusters: dict[Key, dict[Key, None]] = {}  # ordered sets
    for item in items:
        scope = item.scope if clusters else ()
        backward = item.backward and bool(scope)
        members.setdefault((backward, scope), []).append(item)
        for cut in range(len(scope), 0, -1):  # every ancestor lists its child cluster
            parent = (backward, scope[: cut - 1]) if cut > 1 else (False, ())
            subclusters.setdefault(parent, {})[(backward, scope[:cut])] = None

    def declare(key: Key) -> None:
        for item in members.get(key, []):
            body.node(item.key, attributes[id(item)])
        for backward, scope in subclusters.get(key, {}):
            body.open(cluster_name(scope, backward))
            style = _BACKWARD_CLUSTER if backward else _CLUSTER
            for attr, value in sorted(style.items()):
                body.attr(attr, value)
            body.attr("label", scope_title(scope) + (" (backward)" if backward else ""))
            declare((backward, scope))
            body.close()

    declare((False, ()))


def _parameter_rows(drawing: Drawing) -> dict[Item, Item]:
    """Parameter item -> the forward item that first reads it (drawn on its row)."""
    first: dict[Item, Item] = {}
    for tail, head in drawing.edges:
        if tail.kind == "node" and tail.nodes[0].role is Role.PARAMETER and not head.backward:
            first.setdefault(tail, head)
    return first


def _edge(tail: Item, head: Item, beside: dict[Item, Item]) -> tuple[str, str, dict[str, str]]:
    """(tail, head, attributes) of one data edge; see the module's docstring."""
    if beside.get(tail) is head:  # a parameter to its right: flat edge drawn leftwards
        return head.key, tail.key, {"dir": "back", "headport": "w", "tailport": "e"}
    if head.backward and tail.backward:
        return head.key, tail.key, {"dir": "back", "style": "dashed"}
    if head.backward or tail.backward:
        return tail.key, head.key, {"style": "dashed", "constraint": "false", "color": "#999999"}
    if tail in beside:  # a shared parameter's other users do not move it
        return tail.key, head.key, {"constraint": "false"}
    return tail.key, head.key, {}


def _mirrors(drawing: Drawing, beside: dict[Item, Item]) -> dict[Item, tuple[Item, bool]]:
    """Gradient item -> (the forward item it mirrors, whether it reads it): the last one
    it reads in its own scope (a parameter stands for the item on its row); in a layer
    called once where no gradient item reads one, the layer's first item (a bound:
    the backward of a layer runs up from its last row, so its first steps sit lower)."""
    reads: dict[Item, list[Item]] = {}
    for tail, head in drawing.edges:
        if head.backward and not tail.backward:
            reads.setdefault(head, []).append(beside.get(tail, tail))
    chain = [i for i in drawing.items if i.computed and not i.backward]
    calls: dict[tuple[tuple[str, ...], str], list[int]] = {}  # layer -> chain positions
    for index, item in enumerate(chain):
        calls.setdefault(_layer(item), []).append(index)
    mirrors = {}
    for item in drawing.items:
        own = [s for s in reads.get(item, []) if s.computed and _layer(s) == _layer(item)]
        if item.backward and own:
            mirrors[item] = max(own, key=lambda s: s.position), True
    anchored = {_layer(item) for item in mirrors}
    for item in drawing.items:  # a layer with no such read is held at its first row
        rows = calls.get(_layer(item), [])
        one_call = rows and rows[-1] - rows[0] == len(rows) - 1
        if item.backward and one_call and _layer(item) not in anchored:
            mirrors[item] = chain[rows[0]], False
    return mirrors


def _layer(item: Item) -> tuple[tuple[str, ...], str]:
    """What a gradient item mirrors: its scope, or the layer box it collapses."""
    return item.scope, item.title if item.kind == "layer" else ""


GradientLookup = Callable[[Node], "Node | None"]
_gradient_lookups: list[GradientLookup] = []


def register_gradient_lookup(lookup: GradientLookup) -> None:
    """Tell the visualiser how to find a parameter's gradient node (mg-tensor keeps
    gradient records; mg-graph knows nothing of them): it draws a dotted arrow from
    that node back to the parameter.

    >>> register_gradient_lookup(lambda param: None)
    >>> _gradient_lookups.pop()  # doctest: +ELLIPSIS
    <function <lambda> at ...>
    """
    _gradient_lookups.append(lookup)


def _gradient_of(param: Node) -> Node | None:
    for lookup in _gradient_lookups:
        found = lookup(param)
        if found is not None:
            return found
    return None


def _gradients_point_back(body: Body, drawing: Drawing) -> None:
    """A dotted orange arrow from each parameter's gradient back to the parameter."""
    drawn = set()
    for item in drawing.items:
        for node in item.nodes:
            grad = _gradient_of(node) if node.role is Role.PARAMETER else None
            source = drawing.item_of.get(grad.id) if grad is not None else None
            if source is None or source is item or (source.key, item.key) in drawn:
                continue
            drawn.add((source.key, item.key))
            body.edge(
                source.key,
                item.key,
                {
                    "style": "dotted",
                    "color": GRADIENT_COLOUR,
                    "constraint": "false",
                    "penwidth": "1.5",
                },
            )
