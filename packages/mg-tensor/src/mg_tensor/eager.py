"""Compiled schedules for repeated eager backprops.

An eager training loop builds the same forward graph at every step, and ``backprop()``
on an open graph would build the same gradient subgraph again each time: finding the
parameters, calling every op's gradient rule, inferring shapes, then walking and
computing the whole lot node by node. Most of an eager step went there (benchmarks/
README.md). So when ``backprop()`` meets a forward graph of the same *structure* as
the previous ``backprop()`` of its graph in this thread, it builds once a private frozen graph that
mirrors it, with its gradient subgraph (parameters captured by reference, as a trace
captures them; no rewrite passes, so exactly the ops the user wrote), compiles it like
any frozen graph, and from then on replays it.

The contract of open graphs is kept: a node that already has a value is not computed
again (its value is copied in, random draws included), a node without one gets the
value the replay computed (a copy: it is fixed from now on), views of leaves stay
value-less as `mg_graph.evaluate` leaves them, effects run, and ``.grad`` is set on
exactly the parameters reached. Random nodes without a value are computed eagerly
first (their draw belongs to their node). The structure is the topological order of
the output's ancestors with, per node: its op (equal ops compute the same function),
where its inputs are in the order, shape, dtype, flags, whether it has a value, and
for parameters their identity; leaves without ``requires_grad`` are inputs of the
schedule, refilled each step. A graph whose structure changes at every step pays only
the comparison: the schedule is built the second time a structure is seen in a row.
"""

from __future__ import annotations

import threading
from typing import Any

from numpy.typing import NDArray

from mg_graph import Graph, Node, Role, topo_order

_MEMO = "eager_backprop"  # Graph.memo key of a _Last


class _Last(threading.local):
    """Per graph and thread (a replay uses the schedule's buffers): the structure of the
    last backprop and its Program, if built."""

    structure: tuple[Any, ...] | None = None
    program: Program | None = None


def scheduled(graph: Graph) -> Program | None:
    """The schedule this thread's last ``backprop()`` in ``graph`` replayed, if any.

    >>> scheduled(Graph()) is None
    True
    """
    last: _Last | None = graph.memo.get(_MEMO)
    return None if last is None else last.program


class Program:
    """The frozen mirror of one eager forward graph, with its gradients."""

    __slots__ = ("fresh", "given", "grads", "graph", "inputs", "output", "params", "seed")

    def __init__(self, order: list[Node], output: Node, seeded: bool) -> None:
        from mg_tensor.autodiff import _Plan

        graph = Graph("eager backprop")
        mirror: dict[int, Node] = {}
        self.inputs: list[tuple[int, Node]] = []  # (position in order, input leaf)
        self.given: list[tuple[int, Node]] = []  # computed nodes that come with values
        self.fresh: list[tuple[int, Node]] = []  # computed here; copied to the eager node
        aliasing: set[int] = set()
        with graph.trace():
            for k, node in enumerate(order):
                op = node.op
                if op is None:
                    aliasing.add(node.id)
                    if node.requires_grad:  # a parameter: captured by reference
                        mirror[node.id] = node
                        continue
                    assert node.value is not None
                    # its current value, not an empty array: ops may check values (indices)
                    leaf = graph.leaf(node.value.copy(), Role.INPUT, node.name)
                    mirror[node.id] = leaf
                    self.inputs.append((k, leaf))
                    continue
                new = graph.apply(op, *(mirror[i.id] for i in node.inputs), name=node.name)
                new.requires_grad, new.no_grad = node.requires_grad, node.no_grad
                new.location = node.location
                mirror[node.id] = new
                if node.value is not None:
                    self.given.append((k, new))
                elif op.view and node.inputs[0].id in aliasing:
                    aliasing.add(node.id)  # a view of a leaf: evaluate drops it too
                else:
                    self.fresh.append((k, new))
        self.output = mirror[output.id]
        graph.freeze([self.output, *(n for _, n in self.fresh)], optimize=False)
        plan = _Plan(self.output, seeded, 0)
        self.graph = graph
        self.params = plan.params
        self.grads = plan.grads
        self.seed = plan.seed

    def run(
        self, order: list[Node], grad_output: Any
    ) -> dict[Node, tuple[NDArray[Any], Node | None]]:
        """Replay for the eager graph ``order``: give its value-less nodes their values
        and return each reached parameter's gradient array (and gradient node)."""
        graph = self.graph
        for k, leaf in self.inputs:
            graph.write(leaf, order[k].value)  # type: ignore[arg-type]
        if self.seed is not None:
            self.seed.assign(grad_output)
        given: dict[int, NDArray[Any]] = {n.id: order[k].value for k, n in self.given}  # type: ignore[misc]
        arrays = graph.executor.run(given).arrays
        for k, node in self.fresh:
            target = order[k]
            target.value = arrays[node.id].copy()
            target.stamp = max((i.stamp for i in target.inputs), default=0)
        order[-1].graph.run_effects()
        return {p: (arrays[g.id], g) for p, g in zip(self.params, self.grads, strict=True)}


def _structure(order: list[Node], seeded: bool) -> tuple[Any, ...] | None:
    """What a `Program` depends on, or None where none applies (nodes of other graphs)."""
    graph = order[-1].graph
    position = {node.id: k for k, node in enumerate(order)}
    parts: list[Any] = [seeded]
    for node in order:
        if node.graph is not graph:
            return None
        op = node.op
        if op is None:
            identity = node.id if node.requires_grad else node.role
            parts.append((identity, node.shape, node.dtype))
            continue
        valued = node.value is not None
        parts.append(
            (
                op.key() if op.pure or not valued else type(op),
                tuple(position[i.id] for i in node.inputs),
                node.shape,
                node.dtype,
                node.requires_grad,
                node.no_grad,
                valued,
            )
        )
    return tuple(parts)


def program(output: Node, seeded: bool) -> tuple[Program, list[Node]] | None:
    """The compiled schedule for ``backprop()`` of an open graph's ``output`` and the
    eager nodes it runs for, when the previous backprop of this graph had the same
    structure (built now if it was only seen once); None otherwise."""
    graph = output.graph
    if graph.frozen or graph.capturing:
        return None
    order = topo_order([output])
    draws = [n for n in order if n.op is not None and not n.op.pure and n.value is None]
    if draws:
        graph.compute(*draws)  # random values belong to their own node
    structure = _structure(order, seeded)
    if structure is None:
        return None
    last: _Last | None = graph.memo.get(_MEMO)
    if last is None:
        last = graph.memo[_MEMO] = _Last()
    if last.structure != structure:
        last.structure, last.program = structure, None
        return None
    if last.program is None:
        last.program = Program(order, output, seeded)
    return last.program, order
