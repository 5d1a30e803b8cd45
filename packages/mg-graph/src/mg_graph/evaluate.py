"""Computing the nodes of an open (not frozen) graph, and the walk they share.

Two ways to ask for values:

* `compute` (what reading a value does): a value is fixed when it is first computed,
  so only nodes that have no value yet are computed, from their inputs' existing
  values; nothing that has a value is recomputed.
* `refresh` (what ``Tensor.realize`` does): bring the targets up to date with their
  leaves, recomputing every node one of whose leaves was written since it was
  computed.

A view op's result that aliases a leaf's memory (``w[0]``, ``w.T``) would change when
the leaf is written: it is copied when it is a target (read or kept as a value), and
dropped after the computation otherwise, so it stays free inside one computation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mg_graph.anomaly import check_finite, checking
from mg_graph.node import Node


def topo_order(targets: Iterable[Node]) -> list[Node]:
    """Every node ``targets`` depend on, inputs before users, without recursion.

    An explicit stack keeps 10,000-op chains clear of Python's recursion limit.

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> g = Graph(); a = g.leaf(np.ones(1))
    >>> [n is a for n in topo_order([a])]
    [True]
    """
    return _walk(targets, None)


def _walk(targets: Iterable[Node], prune: Any) -> list[Node]:
    """`topo_order`, not descending into (nor listing) nodes for which ``prune`` holds."""
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
        if prune is not None and prune(node):
            continue
        stack.append((node, True))
        stack.extend((i, False) for i in reversed(node.inputs) if i.id not in visited)
    return order


def _has_value(node: Node) -> bool:
    return node.value is not None


def compute(targets: Sequence[Node]) -> None:
    """Compute the targets that have no value, and the value-less nodes they need.

    >>> import numpy as np
    >>> from mg_graph import Graph, Role
    >>> from mg_graph.op import Alias
    >>> g = Graph(); x = g.leaf(np.zeros(2), Role.INPUT); y = g.apply(Alias(), x)
    >>> compute([y]); g.write(x, np.ones(2)); compute([y]); y.value
    array([0., 0.])
    """
    if all(node.value is not None for node in targets):
        return
    _run(_walk(targets, _has_value), targets, only_stale=False)


def refresh(targets: Sequence[Node]) -> None:
    """Recompute every node among the targets and their ancestors whose value is
    missing or older than one of its leaves.

    >>> import numpy as np
    >>> from mg_graph import Graph, Role
    >>> from mg_graph.op import Alias
    >>> g = Graph(); x = g.leaf(np.zeros(2), Role.INPUT); y = g.apply(Alias(), x)
    >>> compute([y]); g.write(x, np.ones(2)); refresh([y]); y.value
    array([1., 1.])
    """
    _run(topo_order(targets), targets, only_stale=True)


def _run(order: list[Node], targets: Sequence[Node], only_stale: bool) -> None:
    """Compute the computed nodes of ``order``: all of them, or (``only_stale``) those
    whose value is missing or older than their inputs."""
    wanted = {node.id for node in targets}
    aliasing: set[int] = set()  # nodes whose value is (a view of) a leaf's memory
    dropped: list[Node] = []
    check = checking()
    for node in order:
        op = node.op
        if op is None:
            continue
        aliases = op.view and (node.inputs[0].op is None or node.inputs[0].id in aliasing)
        stamp = max((i.stamp for i in node.inputs), default=0)
        if not (only_stale and node.value is not None and node.stamp == stamp):
            _compute(node, stamp, check)
            if aliases and not np.may_share_memory(node.value, _value(node.inputs[0])):
                aliases = False  # the op had to copy
            elif aliases and node.id in wanted:
                node.value = _value(node).copy()  # kept as a value: it must not follow the leaf
            elif aliases:
                dropped.append(node)
        if aliases and node.id not in wanted:
            aliasing.add(node.id)
    for node in dropped:  # free inside this computation only
        node.value = None
    for graph in {id(n.graph): n.graph for n in order}.values():
        graph.run_effects()


def _compute(node: Node, stamp: int, check: bool) -> None:
    assert node.op is not None
    node.value = _as_array(node.op.forward(*[_value(i) for i in node.inputs]), node)
    node.stamp = stamp
    if check:
        check_finite(node)


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
