"""How one drawn item looks: colour by role, label, and the tooltip SVG viewers show."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mg_graph.graph import SCOPE_KINDS
from mg_graph.node import Node, Role

if TYPE_CHECKING:
    from mg_graph.visualize.items import Drawing, Item

COLOURS = {
    Role.PARAMETER: "#4a7bd0",
    Role.INPUT: "#d9534f",
    Role.CONSTANT: "#4c9a4c",
    Role.COMPUTED: "#dddddd",
}
GRADIENT_COLOUR = "#f0ad4e"
BOX_COLOUR = "#eef2f8"
GRADIENT_BOX_COLOUR = "#fbe3c0"


def shape_text(shape: tuple[int, ...]) -> str:
    """``64x784``, or ``scalar``.

    >>> shape_text((64, 784)), shape_text(())
    ('64x784', 'scalar')
    """
    return "x".join(map(str, shape)) or "scalar"


def _bytes(count: int) -> str:
    for unit in ("B", "KB", "MB"):
        if count < 1024:
            return f"{count:g} {unit}"
        count = round(count / 1024, 1)  # type: ignore[assignment]
    return f"{count:g} GB"


def scope_title(scope: tuple[str, ...]) -> str:
    """A scope's last name and the type of layer it is, if that says more.

    >>> from mg_graph import named_scope
    >>> with named_scope("Demo", kind="Demo"), named_scope("fc", kind="Linear"):
    ...     pass
    >>> scope_title(("Demo", "fc")), scope_title(("Demo",))
    ('fc: Linear', 'Demo')
    """
    kind = SCOPE_KINDS.get(scope)
    return scope[-1] + (f": {kind}" if kind not in (None, scope[-1]) else "")


def node_attributes(node: Node, sharing: str | None) -> dict[str, str]:
    """Attributes of one graph node: role colour, op or name, shape and dtype."""
    title = node.name or (node.op.label() if node.op is not None else node.role.value)
    if node.name and node.op is not None:  # a named result still says what computes it
        title += f"\n{node.op.label()}"
    label = f"{title}\n{shape_text(node.shape)} {node.dtype}"
    tooltip = node_tooltip(node, sharing)
    if node.op is None:
        return {
            "label": label,
            "shape": "box",
            "style": "filled,rounded",
            "fillcolor": COLOURS[node.role],
            "fontcolor": "white",
            "tooltip": tooltip,
        }
    if node.is_gradient:
        style = {"style": "filled,dashed", "fillcolor": GRADIENT_COLOUR}
    else:
        style = {"style": "filled", "fillcolor": COLOURS[node.role]}
    return {"label": label, "shape": "ellipse", **style, "tooltip": tooltip}


def node_tooltip(node: Node, sharing: str | None) -> str:
    """Op, shape, dtype, bytes and where the user created the node.

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> print(node_tooltip(Graph().leaf(np.zeros((2, 3)), location="net.py:7"), None))
    constant
    2x3 float64, 48 B
    created at net.py:7
    """
    what = node.op.label() if node.op is not None else node.role.value
    if node.name:
        what = f"{node.name}: {what}"
    nbytes = node.size * node.dtype.itemsize
    lines = [what, f"{shape_text(node.shape)} {node.dtype}, {_bytes(nbytes)}"]
    lines.append(f"created at {node.location}")
    if sharing:
        lines.append(sharing)
    return "\n".join(lines)


def item_attributes(
    item: Item, drawing: Drawing, sharing: dict[int, str], mirror: Item | None
) -> dict[str, str]:
    """Attributes of a drawn item: a node's own, or a box's (see `box_attributes`)."""
    if item.kind == "node":
        return node_attributes(item.nodes[0], sharing.get(item.nodes[0].id))
    inside = {n.id for n in item.nodes}
    inputs = [  # what flows in on the box's own side (forward or backward), no scalars
        i
        for n in item.nodes
        for i in n.inputs
        if i.id not in inside and i.is_gradient == item.backward and (i.op or i.size > 1)
    ]
    outputs = [  # results read outside the box on its own side, or by nobody at all
        n
        for n in item.nodes
        if n.op is not None
        and (
            not drawing.readers[n.id]
            or any(_outside(drawing.item_of[r], item) for r in drawing.readers[n.id])
        )
    ]
    title = item.title
    if item.kind == "layer":
        title = scope_title((*item.scope, item.title))
    elif mirror is not None:  # the backward of a run is named after what it mirrors
        only = mirror.nodes[0].op if mirror.kind == "node" else None
        title = only.name if only is not None else mirror.title
    return box_attributes(item, title, list(dict.fromkeys(inputs)), outputs)


def _outside(other: Item, item: Item) -> bool:
    return other is not item and other.backward == item.backward


def box_attributes(
    item: Item, title: str, inputs: list[Node], outputs: list[Node]
) -> dict[str, str]:
    """A collapsed layer or run of ops: name (and type), input and output shapes,
    parameter count; the tooltip adds its ops, their bytes and where it was called."""
    params = [n for n in item.nodes if n.op is None and n.role is Role.PARAMETER]
    ops = [n for n in item.nodes if n.op is not None]
    ins = ", ".join(dict.fromkeys(shape_text(n.shape) for n in inputs)) or "-"
    outs = ", ".join(dict.fromkeys(shape_text(n.shape) for n in outputs)) or "-"
    lines = [title + (" (backward)" if item.backward else ""), f"{ins} -> {outs}"]
    if params:
        lines.append(f"{sum(p.size for p in params):,} parameters")
    tooltip = [
        *lines,
        f"{len(ops)} op{'s' * (len(ops) != 1)}: "
        + ", ".join(dict.fromkeys(n.op.name for n in ops if n.op)),
        f"{_bytes(sum(n.size * n.dtype.itemsize for n in ops))} of results",
        f"created at {ops[0].location if ops else item.nodes[0].location}",
    ]
    return {
        "label": "\n".join(lines),
        "shape": "box",
        "style": "filled,rounded" + (",dashed" if item.backward else ""),
        "fillcolor": GRADIENT_BOX_COLOUR if item.backward else BOX_COLOUR,
        "tooltip": "\n".join(tooltip),
    }
