"""Evaluation of an open (not frozen) graph, on demand: topological order, and compute
only what has no value or a stale one (memoised)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mg_graph.node import CLOCK, Node


def topo_order(targets: Iterable[Node]) -> list[Node]:
    """Every node ``targets`` depend on, inputs before users, without recursion.

    An explicit stack keeps 10,000-op chains clear of Python's recursion limit.

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> g = Graph(); a = g.leaf(np.ones(1))
    >>> [n is a for n in topo_order([a])]
    [True]
    """
    order: list[Node] = []
    visited: set[int] = set()
    stack: list[tuple[Node, bool]] = [(node, False) for node in reversed(list(targets))]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node.id in visited:
            continue
        visited.add(node.id)
        stack.append((node, True))
        stack.extend((i, False) for i in reversed(node.inputs) if i.id not in visited)
    return order


def is_fresh(node: Node) -> bool:
    """True when the node's cached value is known to be current without any walk."""
    return node.value is not None and node.fresh_at == CLOCK.writes


def evaluate(targets: Sequence[Node]) -> None:
    """Compute stale nodes among ``targets`` and their ancestors, in topological order.

    A computed node is recomputed only when one of its leaves was written since; a
    non-pure one (random) whenever anything was written since, and then so are the
    nodes that depend on it.
    """
    writes = CLOCK.writes
    pending = [node for node in targets if not (node.value is not None and node.fresh_at == writes)]
    if not pending:
        return
    for node in topo_order(pending):
        op = node.op
        if op is None or (node.fresh_at == writes and node.value is not None):
            node.fresh_at = writes
            continue
        stamp = max((i.stamp for i in node.inputs), default=0)
        if node.value is None or node.stamp != stamp or not op.pure:
            node.value = _as_array(op.forward(*[_value(i) for i in node.inputs]), node)
            # a non-pure op drew a new value from unchanged inputs: a stamp of its own
            # (a tick that counts no write) makes its dependents recompute too
            node.stamp = stamp if op.pure else next(CLOCK.ticks)
        node.fresh_at = writes


def _value(node: Node) -> NDArray[Any]:
    value = node.value
    if value is None:
        raise ValueError(f"{node!r} has no value: a leaf was created without data")
    return value


def _as_array(value: Any, node: Node) -> NDArray[Any]:
    # numpy reductions return scalars for 0-d results; keep arrays (and dtypes) throughout
    if isinstance(value, np.ndarray) and value.dtype == node.dtype:
        return value
    return np.asarray(value, dtype=node.dtype)
