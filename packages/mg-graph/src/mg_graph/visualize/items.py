"""What is drawn: one item per node, or, with ``depth``, one box per layer.

Items come in program order (a topological order that follows creation order), which
the layout turns into rows. Parameters carry no scope of their own (they are made
before any call); each takes the scope of its owner module, found from its dotted name
and the scope of the forward node that first uses it.
"""

from __future__ import annotations

import dataclasses
import heapq
import re
from collections.abc import Iterable

from mg_graph.node import Node, Role


@dataclasses.dataclass(eq=False)
class Item:
    """One drawn node: a graph node (``kind="node"``), a collapsed layer (``"layer"``) or
    a collapsed run of ops sharing a scope (``"ops"``)."""

    key: str
    nodes: list[Node]
    scope: tuple[str, ...]  # the cluster it is drawn in
    backward: bool
    kind: str = "node"
    title: str = ""
    position: int = 0  # program order

    @property
    def computed(self) -> bool:
        """True unless the item is a single leaf."""
        return self.kind != "node" or self.nodes[0].op is not None


@dataclasses.dataclass
class Drawing:
    """Items in program order and the edges between them (each once)."""

    items: list[Item]
    edges: list[tuple[Item, Item]]
    item_of: dict[int, Item]
    readers: dict[int, list[int]]  # node id -> ids of the drawn nodes reading it


def program_order(nodes: list[Node]) -> list[Node]:
    """Inputs before users; among ready nodes, the one created first.

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> g = Graph(); a = g.leaf(np.ones(1)); b = g.leaf(np.ones(1))
    >>> program_order([b, a]) == [b, a]
    True
    """
    index = {n.id: i for i, n in enumerate(nodes)}
    waiting = {n.id: len({i.id for i in n.inputs if i.id in index}) for n in nodes}
    users = consumers(nodes)
    ready = [(index[n.id], n.id) for n in nodes if waiting[n.id] == 0]
    heapq.heapify(ready)
    by_id = {n.id: n for n in nodes}
    order = []
    while ready:
        _, node_id = heapq.heappop(ready)
        order.append(by_id[node_id])
        for user in users[node_id]:
            waiting[user.id] -= 1
            if waiting[user.id] == 0:
                heapq.heappush(ready, (index[user.id], user.id))
    return order


def consumers(nodes: Iterable[Node]) -> dict[int, list[Node]]:
    """Node id -> the nodes among ``nodes`` that read it (each once)."""
    nodes = list(nodes)
    users: dict[int, list[Node]] = {n.id: [] for n in nodes}
    for node in nodes:
        for inp in dict.fromkeys(i.id for i in node.inputs):
            if inp in users:
                users[inp].append(node)
    return users


def owner_scope(param: Node, users: list[Node]) -> tuple[str, ...]:
    """The scope of the module owning ``param``: the first forward user's scope, cut
    after the module path its dotted name gives (``hidden_1.weight`` -> ``hidden_1``).

    >>> import numpy as np
    >>> from mg_graph import Graph, Role, named_scope
    >>> g = Graph(); w = g.leaf(np.ones(2), Role.PARAMETER, "hidden_1.weight")
    >>> with named_scope("Net"), named_scope("hidden_1"), named_scope("inner"):
    ...     y = g.leaf(np.ones(2))
    >>> owner_scope(w, [y])
    ('Net', 'hidden_1')
    """
    if param.scope:
        return param.scope
    scope = next((u.scope for u in users if u.scope and not u.is_gradient), ())
    if not scope or param.name is None:
        return scope
    owner = tuple(param.name.split(".")[:-1])
    for end in range(len(owner) + 1, len(scope) + 1):
        if scope[end - len(owner) : end] == owner:
            return scope[:end]
    return scope


def build(nodes: list[Node], depth: int | None) -> Drawing:
    """Items and edges for ``nodes``: every node, or layers collapsed below ``depth``."""
    order = program_order(nodes)
    users = consumers(order)
    scope = {
        n.id: owner_scope(n, users[n.id]) if n.role is Role.PARAMETER else n.scope for n in order
    }
    groups = _singletons(order, scope) if depth is None else _collapse(order, scope, depth)
    rank = {n.id: i for i, n in enumerate(order)}

    def first_op(group: _Group) -> int:  # a box is where its first op is, in program order
        ranks = [rank[n.id] for n in group[0]]
        return min((rank[n.id] for n in group[0] if n.op is not None), default=min(ranks))

    groups.sort(key=first_op)
    items: list[Item] = []
    item_of: dict[int, Item] = {}
    for members, item_scope, backward, kind, title in groups:
        if len(members) == 1 and kind == "ops":
            kind = "node"
        key = str(members[0].id) if kind == "node" else f"box{len(items)}"
        item = Item(key, members, item_scope, backward, kind, title, len(items))
        items.append(item)
        item_of.update((n.id, item) for n in members)
    readers = {k: [u.id for u in v if u.id in item_of] for k, v in users.items()}
    edges = _copy_shared_constants(items, _edges(order, item_of))
    return Drawing(items, edges, item_of, readers)


def _copy_shared_constants(
    items: list[Item], edges: list[tuple[Item, Item]]
) -> list[tuple[Item, Item]]:
    """Draw a constant read by several items once beside each reader: one shared zero
    would otherwise send edges across the whole picture, which is what makes dot slow
    (every rank an edge crosses costs a virtual node)."""
    copies: dict[Item, int] = {}
    result = []
    for tail, head in edges:
        if tail.kind == "node" and tail.nodes[0].role is Role.CONSTANT:
            copies[tail] = count = copies.get(tail, 0) + 1
            if count > 1:
                tail = dataclasses.replace(
                    tail, key=f"copy{count}_{tail.key}", scope=head.scope, backward=head.backward
                )
                items.append(tail)
        result.append((tail, head))
    return result


_Group = tuple[list[Node], tuple[str, ...], bool, str, str]


def _singletons(order: list[Node], scope: dict[int, tuple[str, ...]]) -> list[_Group]:
    return [([n], scope[n.id], n.is_gradient, "node", "") for n in order]


# what a collapsed node joins: ("layer", box scope, backward, 0), ("ops", (), False,
# run id) or ("leaf", (), False, node id)
_Unit = tuple[str, tuple[str, ...], bool, int]


def _collapse(order: list[Node], scope: dict[int, tuple[str, ...]], depth: int) -> list[_Group]:
    """Scopes more than ``depth`` levels below the outermost one become one box each
    (forward and backward apart); other ops sharing a scope form runs (the loss, the
    backward of an activation), each one box unless that would draw a cycle;
    constants are left out."""
    unit, runs = _units(order, scope, depth)
    key = _split_cycles(order, unit, runs)
    groups: dict[_Unit, list[Node]] = {}
    for node in order:
        if node.id in key:
            groups.setdefault(key[node.id], []).append(node)
    result: list[_Group] = []
    for (kind, box, backward, _), members in groups.items():
        first = next((n for n in members if n.op is not None), members[0])
        if kind == "layer":
            result.append((members, box[:-1], backward, "layer", box[-1]))
        else:
            names = [n.op.name for n in members if n.op is not None]
            title = " > ".join(names if len(names) <= 3 else [*names[:2], f"... {len(names)} ops"])
            result.append((members, scope[first.id], first.is_gradient, "ops", title))
    return result


def _units(
    order: list[Node], scope: dict[int, tuple[str, ...]], depth: int
) -> tuple[dict[int, _Unit], _UnionFind]:
    """Node id -> the unit it joins (constants: none), and the runs of ops, grown
    greedily in program order wherever joining cannot draw a cycle."""
    unit: dict[int, _Unit] = {}
    index = {n.id: i for i, n in enumerate(order)}
    runs = _UnionFind()
    for node in order:
        s = scope[node.id]
        if node.op is None and node.role is Role.CONSTANT:
            continue
        if len(s) > depth and (node.op is not None or node.role is Role.PARAMETER):
            unit[node.id] = ("layer", s[: depth + 1], node.is_gradient, 0)
        elif node.op is None:
            unit[node.id] = ("leaf", (), False, node.id)
        else:
            unit[node.id] = ("ops", (), False, runs.add(node.id))
            for inp in node.inputs:
                joins = unit.get(inp.id, ("",))[0] == "ops" and scope[inp.id] == s
                if joins and inp.is_gradient == node.is_gradient:
                    run = set(runs.members[runs.find(inp.id)])
                    others = [i for i in node.inputs if i.id not in run]
                    if not any(_reaches(other, run, index) for other in others):
                        runs.union(inp.id, node.id)
    return unit, runs


def _split_cycles(order: list[Node], unit: dict[int, _Unit], runs: _UnionFind) -> dict[int, _Unit]:
    """Node id -> its unit with runs merged, after splitting every run on a cycle
    through several runs (which the test in `_units` cannot see) back into its ops."""
    while True:
        key = {
            i: ("ops", (), False, runs.find(u[3])) if u[0] == "ops" else u for i, u in unit.items()
        }
        split = {k[3] for k in _on_cycles(order, key) if k[0] == "ops" and runs.size(k[3]) > 1}
        if not split:
            return key
        for root in split:
            runs.isolate(root)


def _reaches(node: Node, run: set[int], index: dict[int, int]) -> bool:
    """True if ``node`` depends on a member of ``run`` (joining both would draw a
    cycle). Nodes older than the run's oldest member cannot, and are not walked."""
    oldest = min(index[i] for i in run)
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if current.id in run:
            return True
        for inp in current.inputs:
            if inp.id not in seen and index.get(inp.id, -1) >= oldest:
                seen.add(inp.id)
                stack.append(inp)
    return False


def _on_cycles(order: list[Node], key: dict[int, _Unit]) -> set[_Unit]:
    """Units left over by Kahn's algorithm on the contracted graph (on or after a cycle)."""
    edges: dict[_Unit, set[_Unit]] = {k: set() for k in key.values()}
    waiting = dict.fromkeys(edges, 0)
    for node in order:
        head = key.get(node.id)
        for inp in node.inputs:
            tail = key.get(inp.id)
            if head is None or tail is None or tail == head or head in edges[tail]:
                continue
            edges[tail].add(head)
            waiting[head] += 1
    ready = [k for k, n in waiting.items() if n == 0]
    while ready:
        k = ready.pop()
        del waiting[k]
        for head in edges[k]:
            waiting[head] -= 1
            if waiting[head] == 0:
                ready.append(head)
    return set(waiting)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}

    def add(self, x: int) -> int:
        self.parent[x] = x
        self.members[x] = [x]
        return x

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = x = self.parent[self.parent[x]]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if len(self.members[ra]) < len(self.members[rb]):
                ra, rb = rb, ra
            self.parent[rb] = ra
            self.members[ra].extend(self.members.pop(rb))

    def size(self, x: int) -> int:
        return len(self.members[self.find(x)])

    def isolate(self, x: int) -> None:
        for member in self.members.pop(self.find(x)):
            self.add(member)


def _edges(order: list[Node], item_of: dict[int, Item]) -> list[tuple[Item, Item]]:
    edges: dict[tuple[int, int], tuple[Item, Item]] = {}
    for node in order:
        head = item_of.get(node.id)
        for inp in node.inputs:
            tail = item_of.get(inp.id)
            if head is not None and tail is not None and tail is not head:
                edges.setdefault((id(tail), id(head)), (tail, head))
    return list(edges.values())


def cluster_name(scope: tuple[str, ...], backward: bool) -> str:
    """DOT name of a scope's cluster (``cluster_`` makes graphviz draw a frame).

    >>> cluster_name(("encoder", "block.2"), False), cluster_name(("fc",), True)
    ('cluster_encoder_block_2', 'cluster_fc__backward')
    """
    name = "cluster_" + re.sub(r"\W", "_", "_".join(scope))
    return name + "__backward" if backward else name
