"""The executor of a frozen graph: a compiled schedule replayed with planned buffers.

Compiling walks the nodes the user reads (the graph's outputs, forward ones first) in
topological order and turns each computed node into one step, a kernel call bound to
its input and output arrays. Leaves contribute their own arrays; view ops (reshape,
transpose...) are evaluated once, at compile time, since their base buffers never
move. A liveness planner lets nodes whose lifetimes do not overlap share memory, and
lets an elementwise op write over an input that dies with it.

Each call of a compiled function is one *computation*: `Executor.new_call` starts it,
and the steps then run at most once, as a growing prefix of the schedule. The first
read runs the whole forward part (every output of the traced function and every
effect); ``backprop()`` later runs the gradient steps after it, reusing the forward
values and random draws. If the schedule must be recompiled in the middle of a call
(the gradient subgraph was added, an output or a pinned buffer changed, a leaf was
re-bound), the values already computed are carried into the new schedule's buffers
instead of being computed again.

Values the user holds are per call: `Executor.handle` makes an output handle that
gets its own copy of the value, at the latest when the next call starts.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph.anomaly import check_finite, checking
from mg_graph.evaluate import topo_order
from mg_graph.node import CLOCK, Node, Role
from mg_graph.op import Op

if TYPE_CHECKING:
    from mg_graph.graph import Graph

Step = Callable[[], Any]
_NEVER = 1 << 62


class _ScratchBuffers:
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


def schedule_roots(outputs: Sequence[Node]) -> list[Node]:
    """The order a plan walks its outputs in: the forward part first (so it is a prefix
    of the schedule), then the gradients; within each, effects first, so the
    depth-first walk reaches each effect right after its last ancestor (an all-reduce
    starts as soon as its gradients are computed)."""
    forward = [n for n in outputs if not n.is_gradient]
    later = [n for n in outputs if n.is_gradient]
    return [*_effects_first(forward), *_effects_first(later)]


def _effects_first(nodes: list[Node]) -> list[Node]:
    effects = [n for n in nodes if n.op is not None and n.op.effect]
    return [*effects, *(n for n in nodes if n.op is None or not n.op.effect)]


def _memory(array: NDArray[Any]) -> int:
    """Identity of the memory block an array lives in (its outermost base)."""
    base: Any = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return id(base)


class Plan:
    """One compiled schedule over all outputs of a frozen graph.

    ``index[node]`` is the end (exclusive) of the prefix of ``steps`` that gives the
    node its value; ``forward_end`` that of every forward output and effect.
    """

    def __init__(self, graph: Graph, pins: dict[int, NDArray[Any]]) -> None:
        self.order = topo_order(schedule_roots(graph.outputs))
        self.arrays: dict[int, NDArray[Any]] = {}
        self.steps: list[tuple[Node, Step]] = []
        self.calls: list[Step] = []
        self.index: dict[int, int] = {}
        self.unplanned_bytes = 0
        self.output_bytes = 0
        self.scratch_bytes = 0
        self._compile(graph, pins)
        forward = [n for n in graph.outputs if not n.is_gradient]
        self.forward_end = max((self.index[n.id] for n in forward), default=0)

    def _compile(self, graph: Graph, pins: dict[int, NDArray[Any]]) -> None:
        # Nodes with memory of their own: what the user reads, and impure and effect
        # nodes, whose values must survive a recompile in the middle of a call.
        own = {n.id for n in graph.outputs} | {
            n.id for n in self.order if n.op is not None and not n.op.pure
        }
        root, end = self._lifetimes(own)
        free = _ScratchBuffers()
        owned: dict[int, NDArray[np.uint8]] = {}  # pooled owner -> its byte buffer
        for i, node in enumerate(self.order):
            op = node.op
            if op is None:
                assert node.value is not None, f"{node!r} has no value"
                self.arrays[node.id] = node.value
                self.index[node.id] = 0
                continue
            ins = [self.arrays[inp.id] for inp in node.inputs]
            if op.view and node.id not in own:
                view = op.forward(*ins)
                if np.may_share_memory(view, ins[0]):
                    self.arrays[node.id] = view
                    self.index[node.id] = max(self.index[inp.id] for inp in node.inputs)
                    continue
                root[node.id] = node.id  # the op had to copy: give it memory of its own
                end.setdefault(node.id, _NEVER)
            out = self._output(node, i, own, pins, root, end, owned, free)
            self.arrays[node.id] = out
            self.steps.append((node, _step(op.kernel(), op.uses_out, ins, out)))
            self.index[node.id] = len(self.steps)
            for r in {root[inp.id] for inp in node.inputs}:
                if end[r] == i and r in owned:
                    free.give(owned.pop(r))
            if end.get(node.id, -1) < i and node.id in owned:  # nobody reads it
                free.give(owned.pop(node.id))
        self.calls = [step for _, step in self.steps]
        self.scratch_bytes = free.allocated

    def _lifetimes(self, own: set[int]) -> tuple[dict[int, int], dict[int, int]]:
        """Each node's memory owner (views live in their base) and, per owner, the
        index of the last node reading it."""
        root: dict[int, int] = {}
        end: dict[int, int] = {}
        for i, node in enumerate(self.order):
            viewing = node.op is not None and node.op.view and node.id not in own
            root[node.id] = root[node.inputs[0].id] if viewing else node.id
            for inp in node.inputs:
                end[root[inp.id]] = i
        for node_id in own:
            end[root[node_id]] = _NEVER
        return root, end

    def _output(
        self,
        node: Node,
        i: int,
        own: set[int],
        pins: dict[int, NDArray[Any]],
        root: dict[int, int],
        end: dict[int, int],
        owned: dict[int, NDArray[np.uint8]],
        free: _ScratchBuffers,
    ) -> NDArray[Any]:
        """The array step ``i`` writes ``node`` into."""
        nbytes = node.size * node.dtype.itemsize
        self.unplanned_bytes += nbytes
        if node.id in own:
            self.output_bytes += nbytes
            pinned = pins.get(node.id)
            return pinned if pinned is not None else np.empty(node.shape, node.dtype)
        assert node.op is not None
        if node.op.elementwise:
            for inp in node.inputs:
                if (
                    inp.id in owned
                    and root[inp.id] == inp.id
                    and end[inp.id] == i
                    and inp.shape == node.shape
                    and inp.dtype == node.dtype
                ):
                    owned[node.id] = owned.pop(inp.id)  # compute in place
                    return self.arrays[inp.id]
        if root[node.id] == node.id and end.get(node.id, -1) != _NEVER:
            owned[node.id] = free.take(nbytes)
            return _shaped(owned[node.id], node)
        return np.empty(node.shape, node.dtype)

    def valid(self, done: int) -> dict[int, NDArray[Any]]:
        """The values the first ``done`` steps computed that no later step overwrote."""
        last: dict[int, int] = {}
        for node, _ in self.steps[:done]:
            last[_memory(self.arrays[node.id])] = node.id
        return {
            node.id: self.arrays[node.id]
            for node, _ in self.steps[:done]
            if last[_memory(self.arrays[node.id])] == node.id
        }

    def leaves(self) -> list[Node]:
        return [node for node in self.order if node.op is None]


def _step(
    kernel: Callable[..., Any], uses_out: bool, ins: list[NDArray[Any]], out: NDArray[Any]
) -> Step:
    if uses_out:
        return functools.partial(kernel, *ins, out=out)

    def copy_into() -> None:
        np.copyto(out, kernel(*ins))

    return copy_into


class Call:
    """One computation of a frozen graph: the handles it gave out."""

    __slots__ = ("__weakref__", "handles", "number")

    def __init__(self, number: int) -> None:
        self.number = number
        self.handles: list[weakref.ref[Node]] = []


@dataclasses.dataclass(frozen=True, eq=False)
class CallOutput(Op):
    """A handle on one output of one call of a frozen graph (never scheduled: the
    executor gives it a copy of its source's value for that call)."""

    call: Call
    name: ClassVar[str] = "output"

    def infer(self, *inputs: Node) -> tuple[tuple[int, ...], np.dtype[Any]]:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        raise RuntimeError("an output handle is filled by its executor, never run")


def source_of(node: Node) -> Node:
    """The graph node behind an output handle (``node`` itself for any other node).

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> g = Graph(); x = g.leaf(np.ones(1)); source_of(x) is x
    True
    """
    return node.inputs[0] if isinstance(node.op, CallOutput) else node


_binders: weakref.WeakKeyDictionary[Node, weakref.WeakSet[Executor]] = weakref.WeakKeyDictionary()


def leaf_moved(leaf: Node) -> None:
    """A leaf got a new array: the schedules that bind it (and only those) recompile."""
    for executor in list(_binders.get(leaf, ())):
        executor.invalidate()


class Executor:
    """Runs a frozen graph: compiles a `Plan` lazily and replays it once per call."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._plan: Plan | None = None
        self._stale = True  # the graph, its pins or a bound leaf changed since compiling
        self._pins: dict[int, NDArray[Any]] = {}
        self.call = Call(0)
        self.done = 0  # steps of the plan run in this call
        self.computed_at = 0  # clock tick when this call's forward started
        self._carry: dict[int, NDArray[Any]] = {}  # values computed before a recompile
        self._impure: list[Op] | None = None
        self._leaves: dict[int, list[Node]] = {}

    # ------------------------------------------------------------------ compiling
    def invalidate(self) -> None:
        """Compile again before the next run (the graph changed); values computed in
        this call are kept."""
        self._stale = True
        self._impure = None
        self._leaves.clear()

    @property
    def plan(self) -> Plan:
        if self._stale or self._plan is None:
            old = self._plan
            if old is not None and self.done:
                self._carry.update(old.valid(self.done))
            self._plan = Plan(self.graph, self._pins)
            self._stale = False
            self.done = 0
            for leaf in self._plan.leaves():
                _binders.setdefault(leaf, weakref.WeakSet()).add(self)
        return self._plan

    def bind_output(self, node: Node, array: NDArray[Any]) -> bool:
        """Make the schedule compute ``node`` straight into ``array`` (an optimiser's
        gradient slot, say); False, and nothing changes, where it cannot: ``node`` must be
        a computed node of this graph, not bound elsewhere, of the array's shape and dtype.

        >>> import numpy as np
        >>> from mg_graph import Graph
        >>> Graph().executor.bind_output(Graph().leaf(np.ones(1)), np.ones(1))
        False
        """
        if (
            node.op is None
            or node.graph is not self.graph
            or node.shape != array.shape
            or node.dtype != array.dtype
            or self._pins.get(node.id, array) is not array
        ):
            return False
        if self._pins.get(node.id) is None:
            self._pins[node.id] = array
            self.graph.add_outputs(node)
            self.invalidate()
        return True

    def bound(self, node: Node) -> NDArray[Any] | None:
        """The array ``node`` is bound to by `bind_output`, if any."""
        return self._pins.get(node.id)

    # ------------------------------------------------------------------ calls
    def new_call(self) -> None:
        """Start a new computation: handles of the last call keep their values, random
        ops take their next streams (in creation order) and every step may run again."""
        self._settle()
        if self._impure is None:
            nodes = self.graph._strong or []
            self._impure = [n.op for n in nodes if n.op is not None and not n.op.pure]
        for op in self._impure:
            op.renew()
        self.call = Call(self.call.number + 1)
        self.done = 0
        self._carry = {}

    def handle(self, node: Node) -> Node:
        """A handle on output ``node`` for the current call: later calls do not change it."""
        h = Node(
            self.graph,
            CallOutput(self.call),
            (node,),
            node.shape,
            node.dtype,
            Role.COMPUTED,
            node.location,
            name=node.name,
            scope=node.scope,
            is_gradient=node.is_gradient,
        )
        h.requires_grad = node.requires_grad
        self.call.handles.append(weakref.ref(h))
        return h

    def _settle(self) -> None:
        live = [h for ref in self.call.handles if (h := ref()) is not None and h.value is None]
        if live:
            self.compute(live)

    # ------------------------------------------------------------------ running
    def compute(self, targets: Sequence[Node]) -> None:
        """Give ``targets`` their values for the current call, running only the steps
        this call has not run yet."""
        handles = [t for t in targets if isinstance(t.op, CallOutput)]
        sources = [source_of(t) for t in targets]
        missing = [n for n in sources if n.op is not None and n not in self.graph.outputs]
        if missing:
            self.graph.add_outputs(*missing)  # read nodes get buffers of their own
        plan = self.plan
        need = max([plan.forward_end, *(plan.index[n.id] for n in sources if n.op is not None)])
        self._advance(plan, need)
        for node in sources:
            if node.op is not None:
                node.value = plan.arrays[node.id]
        for h in handles:
            if h.value is None:
                if h.op.call is not self.call:  # type: ignore[union-attr]
                    raise RuntimeError(f"{h!r}: its call's values are gone")
                value = plan.arrays[h.inputs[0].id].copy()
                value.flags.writeable = False
                h.value = value

    def refresh(self, targets: Sequence[Node]) -> None:
        """Compute the current call again if a leaf of the targets was written since its
        forward ran (random draws repeat: their streams are those of this call)."""
        if self.done and not any(self.stale_leaves(t, inputs=True) for t in targets):
            self.compute(targets)
            return
        self.done = 0
        self._carry = {}
        for h in targets:
            if isinstance(h.op, CallOutput) and h.op.call is self.call:
                h.value = None
        self.compute(targets)

    def _advance(self, plan: Plan, need: int) -> None:
        done = self.done
        steps = plan.steps
        while need < len(steps) and steps[need][0].op.effect:  # type: ignore[union-attr]
            need += 1  # an effect whose inputs are ready runs with them
        if need <= done:
            return
        if done == 0 and not self._carry:  # a computation starts (not a resumed one)
            self.computed_at = CLOCK.tick()
        if self._carry or checking():
            self._advance_slowly(plan, done, need)
        elif done == 0 and need == len(plan.calls):
            for step in plan.calls:
                step()
        else:
            for step in plan.calls[done:need]:
                step()
        self.done = need

    def _advance_slowly(self, plan: Plan, done: int, need: int) -> None:
        check = checking()
        for node, step in plan.steps[done:need]:
            carried = self._carry.get(node.id)
            if carried is not None:
                np.copyto(plan.arrays[node.id], carried)
            else:
                step()
                if check:
                    node.value = plan.arrays[node.id]
                    check_finite(node)

    def stale_leaves(self, node: Node, inputs: bool = False) -> list[Node]:
        """Leaves ``node`` depends on that were written after this call's forward ran
        (input buffers only if ``inputs``: gradient seeds are written after it)."""
        source = source_of(node)
        leaves = self._leaves.get(source.id)
        if leaves is None:
            leaves = self._leaves[source.id] = [n for n in topo_order([source]) if n.op is None]
        return [
            n for n in leaves if n.stamp > self.computed_at and (inputs or n.role is not Role.INPUT)
        ]

    def stats(self) -> dict[str, Any]:
        """Buffer bytes without planning (one buffer per node) and with it."""
        plan = self.plan
        return {
            "steps": len(plan.steps),
            "buffer_bytes_unplanned": plan.unplanned_bytes,
            "buffer_bytes_planned": plan.scratch_bytes + plan.output_bytes,
        }
