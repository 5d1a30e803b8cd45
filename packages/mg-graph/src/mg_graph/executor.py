"""The executor of a frozen graph: a compiled schedule replayed with planned buffers.

Compiling walks the nodes the user reads (the graph's outputs) in topological order
and turns each computed node into one step, a kernel call bound to its input and
output arrays. Leaves contribute their own arrays; view ops (reshape, transpose...)
are evaluated once, at compile time, since their base buffers never move. A
liveness planner lets nodes whose lifetimes do not overlap share memory, and lets an
elementwise op write over an input that dies with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mg_graph.evaluate import topo_order
from mg_graph.node import CLOCK, Node

if TYPE_CHECKING:
    from mg_graph.graph import Graph

Step = Callable[[], Any]
_NEVER = 1 << 62


class _Pool:
    """Free byte buffers, handed out best-fit; counts what it had to allocate."""

    def __init__(self) -> None:
        self.free: list[NDArray[np.uint8]] = []
        self.allocated = 0

    def take(self, nbytes: int) -> NDArray[np.uint8]:
        fits = [i for i, b in enumerate(self.free) if b.nbytes >= nbytes]
        if fits:
            return self.free.pop(min(fits, key=lambda i: self.free[i].nbytes))
        self.allocated += nbytes
        return np.empty(max(nbytes, 1), np.uint8)

    def give(self, buffer: NDArray[np.uint8]) -> None:
        self.free.append(buffer)


def _shaped(buffer: NDArray[np.uint8], node: Node) -> NDArray[Any]:
    nbytes = node.size * node.dtype.itemsize
    return buffer[:nbytes].view(node.dtype).reshape(node.shape)


class Plan:
    """One compiled schedule over all outputs of a frozen graph."""

    def __init__(self, graph: Graph) -> None:
        self.order = topo_order(effects_first(graph.outputs))
        self.arrays: dict[int, NDArray[Any]] = {}
        self.steps: list[tuple[int, Step]] = []
        self.unplanned_bytes = 0
        self.output_bytes = 0
        self._compile({node.id for node in graph.outputs})

    def _compile(self, outputs: set[int]) -> None:
        root: dict[int, int] = {}  # node -> node owning the memory it lives in
        end: dict[int, int] = {}  # owner -> index of the last step reading it
        for i, node in enumerate(self.order):
            viewing = node.op is not None and node.op.view and node.id not in outputs
            root[node.id] = root[node.inputs[0].id] if viewing else node.id
            for inp in node.inputs:
                end[root[inp.id]] = i
        for node_id in outputs:
            end[root[node_id]] = _NEVER

        pool = _Pool()
        owned: dict[int, NDArray[np.uint8]] = {}  # pooled owner -> its byte buffer
        for i, node in enumerate(self.order):
            op = node.op
            if op is None:
                assert node.value is not None, f"{node!r} has no value"
                self.arrays[node.id] = node.value
                node.meta["bound"] = True  # swapping its array must trigger a recompile
                continue
            ins = [self.arrays[inp.id] for inp in node.inputs]
            if op.view and node.id not in outputs:
                view = op.forward(*ins)
                if np.may_share_memory(view, ins[0]):
                    self.arrays[node.id] = view
                    continue
                root[node.id] = node.id  # the op had to copy: give it memory of its own
                end.setdefault(node.id, _NEVER)
            nbytes = node.size * node.dtype.itemsize
            self.unplanned_bytes += nbytes
            out = None
            if node.id in outputs:
                pinned = node.meta.get("buffer")
                out = pinned if pinned is not None else np.empty(node.shape, node.dtype)
                self.output_bytes += nbytes
            elif op.elementwise:
                for inp in node.inputs:
                    if (
                        inp.id in owned
                        and root[inp.id] == inp.id
                        and end[inp.id] == i
                        and inp.shape == node.shape
                        and inp.dtype == node.dtype
                    ):
                        owned[node.id] = owned.pop(inp.id)  # compute in place
                        out = self.arrays[inp.id]
                        break
            if out is None:
                if root[node.id] == node.id and end.get(node.id, -1) != _NEVER:
                    owned[node.id] = pool.take(nbytes)
                    out = _shaped(owned[node.id], node)
                else:
                    out = np.empty(node.shape, node.dtype)
            self.arrays[node.id] = out
            self.steps.append((node.id, _step(op.kernel(), op.uses_out, ins, out)))
            for r in {root[inp.id] for inp in node.inputs}:
                if end[r] == i and r in owned:
                    pool.give(owned.pop(r))
            if end.get(node.id, -1) < i and node.id in owned:  # nobody reads it
                pool.give(owned.pop(node.id))
        self.pooled_bytes = pool.allocated

    def subrun(self, targets: Sequence[Node], outputs: Sequence[Node]) -> Run:
        needed = {node.id for node in topo_order(targets)}
        steps = [step for node_id, step in self.steps if node_id in needed]
        done = [node for node in outputs if node.id in needed]
        return Run(steps, [(node, self.arrays[node.id], _leaves(node)) for node in done])


def effects_first(outputs: Sequence[Node]) -> list[Node]:
    """``outputs`` with its effect nodes moved to the front, in their order.

    The schedule is a depth-first walk from these roots, so each effect node comes
    right after the last of its ancestors, before work it does not depend on: in a
    training graph whose effect nodes start gradient all-reduces, the walk from the
    first one computes the last layer's gradients and starts their reduction, and the
    rest of the backward pass runs while it is under way.
    """
    effects = [node for node in outputs if node.op is not None and node.op.effect]
    return [*effects, *outputs] if effects else list(outputs)


def _step(
    kernel: Callable[..., Any], uses_out: bool, ins: list[NDArray[Any]], out: NDArray[Any]
) -> Step:
    if uses_out:
        return functools.partial(kernel, *ins, out=out)

    def copy_into() -> None:
        np.copyto(out, kernel(*ins))

    return copy_into


def _leaves(node: Node) -> list[Node]:
    return [n for n in topo_order([node]) if n.op is None]


class Run:
    """The steps one set of targets needs, and the outputs they leave fresh (each with
    its array in the plan and the leaves its stamp comes from)."""

    __slots__ = ("outputs", "steps")

    def __init__(
        self, steps: list[Step], outputs: list[tuple[Node, NDArray[Any], list[Node]]]
    ) -> None:
        self.steps = steps
        self.outputs = outputs


class Executor:
    """Runs a frozen graph: compiles a `Plan` lazily, caches one `Run` per target set."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._plan: Plan | None = None
        self._runs: dict[frozenset[int], Run] = {}
        self._leaves: dict[int, list[Node]] = {}
        self._layout = CLOCK.layout

    def invalidate(self) -> None:
        """Forget the compiled schedule (the graph changed)."""
        self._plan = None
        self._runs.clear()
        self._leaves.clear()
        for node in self.graph.outputs:
            if node.op is not None:
                node.value = None

    @property
    def plan(self) -> Plan:
        if self._layout != CLOCK.layout:
            self._layout = CLOCK.layout
            self.invalidate()
        if self._plan is None:
            self._plan = Plan(self.graph)
        return self._plan

    def fresh(self, node: Node, writes: int) -> bool:
        if node.value is None:
            return False
        if node.checked == writes or node.op is None:
            return True
        leaves = self._leaves.get(node.id)
        if leaves is None:
            leaves = self._leaves[node.id] = _leaves(node)
        return node.stamp == max((leaf.stamp for leaf in leaves), default=0)

    def run(self, targets: Sequence[Node]) -> None:
        """Bring ``targets`` up to date by replaying the steps they need."""
        writes = CLOCK.writes
        stale = [node for node in targets if not self.fresh(node, writes)]
        if not stale:
            return
        key = frozenset([node.id for node in stale])
        run = self._runs.get(key) if self._layout == CLOCK.layout else None
        if run is None:
            run = self._compile_run(targets, stale, writes)
        for step in run.steps:
            step()
        for node, array, leaves in run.outputs:
            node.value = array
            node.stamp = max([leaf.stamp for leaf in leaves], default=0)
            node.checked = writes

    def _compile_run(self, targets: Sequence[Node], stale: list[Node], writes: int) -> Run:
        self.graph.add_outputs(*stale)  # read nodes get buffers of their own
        plan = self.plan  # (re)compiles; after a rebind too
        # compiling forgot every output's value: targets that were fresh may be stale now
        stale = [node for node in targets if not self.fresh(node, writes)]
        run = self._runs[frozenset([node.id for node in stale])] = plan.subrun(
            stale, self.graph.outputs
        )
        return run

    def stats(self) -> dict[str, Any]:
        """Buffer bytes without planning (one buffer per node) and with it."""
        plan = self.plan
        return {
            "steps": len(plan.steps),
            "buffer_bytes_unplanned": plan.unplanned_bytes,
            "buffer_bytes_planned": plan.pooled_bytes + plan.output_bytes,
        }
