"""Which nodes of a frozen graph the buffer planner made share memory (for tooltips)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from mg_graph.graph import Graph


def _base(array: NDArray[Any]) -> NDArray[Any]:
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def shared_buffers(graph: Graph) -> dict[int, str]:
    """Node id -> a tooltip line for computed nodes of a compiled frozen graph: whether
    its buffer is shared with other nodes. Empty for open graphs, and for frozen ones
    not yet run (nothing is compiled just to draw).

    >>> from mg_graph import Graph
    >>> shared_buffers(Graph())
    {}
    """
    executor = graph._executor if graph.frozen else None
    plan = executor._plan if executor is not None else None
    if plan is None:
        return {}
    computed = {n.id: n for n in graph.nodes if n.op is not None}
    by_base: dict[int, list[int]] = {}
    for node_id, array in plan.arrays.items():
        if node_id in computed:
            by_base.setdefault(id(_base(array)), []).append(node_id)
    lines = {}
    for node_id, array in plan.arrays.items():
        if node_id not in computed:
            continue
        others = [
            other
            for other in by_base[id(_base(array))]
            if other != node_id and np.shares_memory(array, plan.arrays[other])
        ]
        names = [f"#{o} {op.name}" for o in others if (op := computed[o].op) is not None]
        lines[node_id] = (
            "buffer shared by the planner with " + ", ".join(names)
            if names
            else "buffer of its own"
        )
    return lines
