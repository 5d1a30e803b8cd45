"""Graph rewrites: rules that look at one node, and the one driver that applies them.

A *rule* is a function ``rule(node, sweep)`` returning what ``node`` should become,
or None to leave it alone:

* ``Rewrite(op, inputs)``: compute the node as ``op(*inputs)`` (it stays the same
  node: tensors the user holds point at it);
* ``Constant(value)``: make it a constant leaf holding ``value``;
* another ``Node``: it computes the same value, so every user of the node reads that
  one instead (an output becomes an alias of it).

A *stage* names a group of rules; the driver (`rewrite`) offers every live node to
them, in topological order, again and again until a sweep changes nothing (a fixed
point), then moves to the next stage. The stages a compile runs, in order, are its
*passes* (``compute_graph(passes=...)``, `Graph.freeze`). Every change goes through
`Graph.replace`, which re-runs shape inference and refuses a change of shape or
dtype. Nodes of non-pure or effect ops are never offered to rules, so they are never
removed, merged or folded; `rewrite` counts what each rule did in ``graph.rewrites``.

>>> import numpy as np
>>> from mg_graph import Alias, Graph
>>> def drop_alias(node, sweep):  # alias(x) -> x: users read x directly
...     return node.inputs[0] if isinstance(node.op, Alias) else None
>>> g = Graph(); x = g.leaf(np.ones(2)); y = g.apply(Alias(), g.apply(Alias(), x))
>>> g.freeze([y], passes=[Stage("aliases", (drop_alias,))])
>>> y.inputs[0] is x, g.rewrites
(True, {'drop_alias': 1})
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from numpy.typing import NDArray

from mg_graph.errors import RewriteError, describe
from mg_graph.evaluate import topo_order
from mg_graph.node import Node, Role
from mg_graph.op import Alias, Op

if TYPE_CHECKING:
    from mg_graph.graph import Graph

FREEZE = "freeze"  # when compute_graph freezes a traced graph
GRADIENTS = "gradients"  # when backprop() has added the gradient subgraph
_MAX_SWEEPS = 64  # a stage still changing nodes after this many sweeps has rules that cycle


@dataclass(frozen=True)
class Rewrite:
    """Compute the node as ``op(*inputs)``."""

    op: Op
    inputs: tuple[Node, ...]


@dataclass(frozen=True, eq=False)
class Constant:
    """Make the node a constant leaf holding ``value``."""

    value: NDArray[Any]


Replacement = Rewrite | Constant | Node
Rule = Callable[[Node, "Sweep"], Replacement | None]


@dataclass(frozen=True)
class Stage:
    """Named rules run together to a fixed point, at the moments in ``at``; with
    ``prune`` the stage then drops every node no output needs (dead-code elimination).
    """

    name: str
    rules: tuple[Rule, ...] = ()
    at: frozenset[str] = frozenset({FREEZE, GRADIENTS})
    prune: bool = False


Passes = Sequence[Stage]


def is_fixed(node: Node) -> bool:
    """True for nodes no rule may change: parameters and inputs (the user writes them)
    and nodes of non-pure or effect ops (each runs, and draws, on its own)."""
    if node.op is None:
        return node.role is not Role.CONSTANT
    return node.op.effect or not node.op.pure


class Sweep:
    """One walk of the driver over the live nodes, and the questions a rule may ask
    about them: who uses a node, and which node came first under a key (to merge
    duplicates). The use index stays exact across the rewrites of the sweep.
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        roots = [*graph.outputs, *(n for n in graph.nodes if n.op is not None and is_fixed(n))]
        self.order = topo_order(roots)
        self._outputs = {node.id for node in graph.outputs}
        self._consumers: dict[int, list[Node]] = {}
        self._first: dict[Hashable, Node] = {}
        for node in self.order:  # inputs come first: their lists exist when users arrive
            self._consumers[node.id] = []
            for inp in node.inputs:
                self._consumers[inp.id].append(node)

    def consumers(self, node: Node) -> list[Node]:
        """The live nodes that read ``node`` (once per input slot)."""
        return list(self._consumers.get(node.id, ()))

    def uses(self, node: Node) -> int:
        """How many times ``node`` is read: by live nodes, and once more if the user reads it."""
        return len(self._consumers.get(node.id, ())) + (node.id in self._outputs)

    def first(self, key: Hashable, node: Node) -> Node:
        """The first node of this sweep registered under ``key`` (``node`` if none was)."""
        return self._first.setdefault(key, node)

    def apply(self, node: Node, replacement: Replacement, rule: str) -> bool:
        """Carry out a rule's replacement through `Graph.replace`, keeping the index
        exact; False if it changed nothing (an output already aliasing the node)."""
        if isinstance(replacement, Rewrite):
            self._replace(node, replacement.op, replacement.inputs, rule)
        elif isinstance(replacement, Constant):
            self._replace(node, None, (), rule, replacement.value)
        else:
            return self._redirect(node, replacement, rule)
        return True

    def _replace(
        self,
        node: Node,
        op: Op | None,
        inputs: tuple[Node, ...],
        rule: str,
        value: NDArray[Any] | None = None,
    ) -> None:
        old = node.inputs
        self.graph.replace(node, op, inputs, value=value, rule=rule)
        for inp in old:
            self._consumers[inp.id].remove(node)
        for inp in inputs:
            if inp.id not in self._consumers:  # built by the rule: index it and its new inputs
                for new in topo_order([inp]):
                    if new.id not in self._consumers:
                        self._consumers[new.id] = []
                        for i in new.inputs:
                            self._consumers[i.id].append(new)
            self._consumers[inp.id].append(node)

    def _redirect(self, node: Node, target: Node, rule: str) -> bool:
        if target is node or (target.shape, target.dtype) != (node.shape, node.dtype):
            raise RewriteError(
                describe(
                    rule,
                    f"rule returned {target!r} for {node!r}: not another node of the same "
                    "shape and dtype",
                    node.location,
                    "return None to leave a node alone, Rewrite(op, inputs) to change it",
                )
            )
        users = self.consumers(node)
        for user in users:
            if node in user.inputs:  # a user reading it twice was rewired at its first slot
                inputs = tuple(target if i is node else i for i in user.inputs)
                assert user.op is not None
                self._replace(user, user.op, inputs, rule)
        aliased = isinstance(node.op, Alias) and node.inputs == (target,)
        if node.id in self._outputs and not aliased:  # the user reads it: own buffer
            self._replace(node, Alias(), (target,), rule)
            return True
        return bool(users)


def rewrite(graph: Graph, passes: Passes, when: str = FREEZE) -> None:
    """Run the stages of ``passes`` meant for ``when`` on a frozen ``graph``, in order.

    Each stage records ``(name, nodes before, nodes after)`` in ``graph.history``;
    each rule's count of rewrites adds up in ``graph.rewrites`` (see ``graph.stats()``).
    Rules may build new nodes (a view, say), even in a frozen graph.
    """
    with graph.growing():
        for stage in passes:
            if when in stage.at:
                before = len(graph)
                _run(graph, stage)
                graph.history.append((stage.name, before, len(graph)))


def _run(graph: Graph, stage: Stage) -> None:
    for _ in range(_MAX_SWEEPS):
        sweep = Sweep(graph)
        changed = False
        for node in sweep.order:
            if is_fixed(node):
                continue
            for rule in stage.rules:
                replacement = rule(node, sweep)
                if replacement is not None and sweep.apply(node, replacement, rule.__name__):
                    graph.rewrites[rule.__name__] = graph.rewrites.get(rule.__name__, 0) + 1
                    changed = True
                    break
        if not changed:
            break
    else:
        raise RewriteError(
            describe(
                stage.name,
                f"the rules {[rule.__name__ for rule in stage.rules]} still rewrite nodes "
                f"after {_MAX_SWEEPS} sweeps over graph {graph.name!r}",
                "graph passes",
                "make sure no rule undoes another's rewrite",
            )
        )
    if stage.prune:
        dropped = graph.prune(sweep.order)
        if dropped:
            graph.rewrites[stage.name] = graph.rewrites.get(stage.name, 0) + dropped
