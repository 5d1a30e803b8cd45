"""`Graph`: the container of nodes, the default-graph stack and named scopes."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mg_graph.errors import FrozenGraphError, MixedGraphError, RewriteError, describe
from mg_graph.evaluate import compute, refresh, topo_order
from mg_graph.node import CLOCK, Node, Role
from mg_graph.op import Op
from mg_graph.source import user_location

if TYPE_CHECKING:
    import graphviz  # type: ignore[import-untyped]

    from mg_graph.executor import Executor
    from mg_graph.rewrite import Passes


class _ThreadState(threading.local):
    """What each thread has of its own: the default-graph stack and the scope stack, so a
    trace or ``as_default()`` in one thread never captures another thread's tensors."""

    def __init__(self) -> None:
        self.stack: list[Graph] = []
        self.scopes: list[str] = []


_local = _ThreadState()


class Graph:
    """A computational graph: nodes are added by tensor operations, nothing is computed
    until `realize` (or a tensor's ``.data``) asks for it.

    An ordinary graph holds its nodes weakly: nodes that nothing refers to any more
    are freed, so an eager loop that builds fresh tensors every step stays bounded.
    A *frozen* graph (see ``compute_graph``) holds them strongly, runs graph passes and
    replays a compiled schedule with preallocated buffers.

    >>> import numpy as np
    >>> g = Graph("demo")
    >>> x = g.leaf(np.arange(3.0))
    >>> len(g)
    1
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"graph{id(self) & 0xFFFF:04x}"
        self._nodes: weakref.WeakValueDictionary[int, Node] = weakref.WeakValueDictionary()
        self._strong: list[Node] | None = None  # every node, once frozen
        self._captures: dict[int, Node] = {}  # leaves of other graphs used while tracing
        self._imported: dict[int, Node] = {}  # clones of other graphs' computed nodes
        self.outputs: list[Node] = []  # frozen: nodes the user can read (own buffers)
        self.frozen = False
        self.tracing = False
        self._growth_allowed = 0  # > 0 while a frozen graph may take new nodes
        self._gradient_mode = 0
        self._executor: Executor | None = None
        self._effects: list[Node] = []  # open graph: effect nodes that have not run yet
        self.history: list[tuple[str, int, int]] = []  # (pass, nodes before, nodes after)
        self.passes: Passes = ()  # the rewrite stages freeze chose, run again for gradients
        self.rewrites: dict[str, int] = {}  # rule -> nodes it rewrote
        self.memo: dict[str, Any] = {}  # what other packages cache per graph

    # ----------------------------------------------------------------- building
    def leaf(
        self,
        value: NDArray[Any],
        role: Role = Role.CONSTANT,
        name: str | None = None,
        location: str | None = None,
        *,
        is_gradient: bool = False,
    ) -> Node:
        """Add a leaf node that owns ``value`` (not copied).

        >>> import numpy as np
        >>> Graph().leaf(np.ones((2, 3)), Role.PARAMETER, "w").role
        <Role.PARAMETER: 'parameter'>
        """
        self.check_open("leaf", location)
        node = Node(
            self,
            None,
            (),
            tuple(value.shape),
            value.dtype,
            role,
            location or user_location(2),
            name=name,
            value=value,
            scope=tuple(_local.scopes),
            is_gradient=is_gradient or self._gradient_mode > 0,
        )
        self._add(node)
        return node

    def apply(self, op: Op, *inputs: Node, name: str | None = None) -> Node:
        """Add a node computing ``op(*inputs)``; shape and dtype are inferred now.

        Inputs of another graph are an error, except while tracing, where leaves of
        other graphs (model parameters) are captured by reference and their computed
        nodes are re-built inside this graph.
        """
        location = user_location(2)
        self.check_open(op.name, location)
        if self.capturing:
            inputs = tuple(self._import(node) for node in inputs)
        else:
            for node in inputs:
                if node.graph is not self and node.id not in self._captures:
                    raise MixedGraphError(_mixed_message(op.name, self, inputs, location))
        shape, dtype = op.infer(*inputs)
        node = Node(
            self,
            op,
            inputs,
            tuple(shape),
            np.dtype(dtype),
            Role.COMPUTED,
            location,
            name=name,
            scope=tuple(_local.scopes),
            is_gradient=self._gradient_mode > 0,
        )
        self._add(node)
        if not op.pure and not self.frozen and not self.tracing:
            op.renew()  # a frozen graph renews at every call instead
        if op.effect:  # held here: nothing may depend on it, and nodes are held weakly
            if self.frozen:
                self.add_outputs(node)  # grown in (collectives of a gradient subgraph)
            else:
                self._effects.append(node)
        return node

    def run_effects(self) -> None:
        """Run the open graph's pending effect nodes whose inputs all have values (each
        exactly once: an effect runs with the computation that gave its inputs)."""
        if not self._effects or self.tracing:
            return
        ready = [n for n in self._effects if all(i.value is not None for i in n.inputs)]
        if ready:
            self._effects = [n for n in self._effects if n.value is None and n not in ready]
            compute(ready)

    def _add(self, node: Node) -> None:
        self._nodes[node.id] = node
        if self._strong is not None:
            self._strong.append(node)
            if self._executor is not None:
                self._executor.invalidate()

    def check_open(self, what: str, location: str | None = None) -> None:
        """Raise `FrozenGraphError` (naming ``what``) if the graph takes no new nodes."""
        if self.frozen and self._growth_allowed == 0:
            raise FrozenGraphError(
                describe(
                    what,
                    f"graph {self.name!r} is frozen: compute_graph traced it once and now "
                    "only replays it, so it takes no new operations",
                    location or user_location(3),
                    "do this computation inside the @compute_graph function (it is traced "
                    "again for new input shapes), or on tensors of another graph",
                )
            )

    def _import(self, node: Node) -> Node:
        """Make ``node`` usable in this (tracing) graph."""
        if node.graph is self or node.id in self._captures:
            return node
        if node.id in self._imported:
            return self._imported[node.id]
        if node.is_leaf:
            self._captures[node.id] = node
            return node
        for old in topo_order([node]):  # re-build the foreign computation here
            if old.graph is self or old.id in self._captures or old.id in self._imported:
                continue
            if old.is_leaf:
                self._captures[old.id] = old
                continue
            assert old.op is not None
            new = self.apply(old.op, *(self._import(i) for i in old.inputs), name=old.name)
            self._imported[old.id] = new
        return self._imported[node.id]

    @property
    def capturing(self) -> bool:
        """True while tracing or building gradients: new ops land here, and leaves of
        other graphs used by them are captured by reference."""
        return self.tracing or self._gradient_mode > 0

    # ----------------------------------------------------------------- inspecting
    @property
    def nodes(self) -> list[Node]:
        """Live nodes of this graph in creation order, captured leaves first."""
        own = self._strong if self._strong is not None else list(self._nodes.values())
        return [*self._captures.values(), *own]

    def __bool__(self) -> bool:  # a graph is a graph even when empty (`graph or default`)
        return True

    def __len__(self) -> int:
        return len(self._captures) + (
            len(self._strong) if self._strong is not None else len(self._nodes)
        )

    def __repr__(self) -> str:
        state = "frozen" if self.frozen else "tracing" if self.tracing else "open"
        return f"<Graph {self.name!r} {state}, {len(self)} nodes>"

    def stats(self) -> dict[str, Any]:
        """Node counts by role and op, pass history, rewrites per rule and (frozen)
        buffer bytes.

        >>> Graph().stats()["nodes"]
        0
        """
        nodes = self.nodes
        by_role: dict[str, int] = {}
        by_op: dict[str, int] = {}
        for node in nodes:
            by_role[node.role.value] = by_role.get(node.role.value, 0) + 1
            if node.op is not None:
                by_op[node.op.name] = by_op.get(node.op.name, 0) + 1
        stats: dict[str, Any] = {
            "nodes": len(nodes),
            "gradient_nodes": sum(node.is_gradient for node in nodes),
            "by_role": by_role,
            "by_op": dict(sorted(by_op.items())),
            "passes": [
                {"pass": name, "before": before, "after": after}
                for name, before, after in self.history
            ],
            "rewrites": dict(self.rewrites),
        }
        if self._executor is not None:
            stats.update(self._executor.stats())
        return stats

    # ----------------------------------------------------------------- computing
    def compute(self, *targets: Node) -> None:
        """Give ``targets`` values (what reading does): only nodes without a value are
        computed, from their inputs' existing values. A value is fixed when it is first
        computed: it reflects the leaves at that moment, not at the line that built it.

        >>> import numpy as np
        >>> g = Graph(); x = g.leaf(np.ones(2), Role.INPUT)
        >>> from mg_graph.op import Alias
        >>> y = g.apply(Alias(), x); g.compute(y); g.write(x, np.zeros(2)); g.compute(y)
        >>> y.value
        array([1., 1.])
        """
        if self.frozen:
            self.executor.compute(list(targets) or self.outputs)
        else:
            compute(list(targets) if targets else self.nodes)

    def realize(self, *targets: Node) -> None:
        """Bring ``targets`` up to date with their leaves, recomputing what a leaf write
        made stale; with no targets, compute every node that has no value (for a frozen
        graph, its outputs) and leave other values alone.

        >>> import numpy as np
        >>> g = Graph()
        >>> g.realize()
        """
        if not targets:
            self.compute()
        elif self.frozen:
            self.executor.refresh(list(targets))
        else:
            refresh(list(targets))

    def evaluate(self, node: Node) -> NDArray[Any]:
        """Compute ``node`` if it has no value and return the value (the runtime's own
        array: do not modify)."""
        self.compute(node)
        assert node.value is not None
        return node.value

    @property
    def executor(self) -> Executor:
        """The compiled executor of a frozen graph."""
        if self._executor is None:
            from mg_graph.executor import Executor

            self._executor = Executor(self)
        return self._executor

    # ----------------------------------------------------------------- leaves
    def write(self, node: Node, value: NDArray[Any] | float) -> None:
        """Overwrite a leaf's value in place and make everything that depends on it stale.

        >>> import numpy as np
        >>> g = Graph(); x = g.leaf(np.zeros(2), Role.INPUT)
        >>> g.write(x, np.ones(2)); x.value
        array([1., 1.])
        """
        if node.value is None or node.op is not None:
            raise ValueError(f"write: {node!r} is not a leaf with a value")
        np.copyto(node.value, value, casting="same_kind")
        node.stamp = CLOCK.tick()

    @staticmethod
    def rebind(node: Node, array: NDArray[Any]) -> None:
        """Give a leaf a new array of the same shape and dtype (e.g. a view into one flat
        parameter vector); exactly the compiled schedules that bind this leaf re-bind,
        keeping the values they computed. Moving equal values is not a write.

        >>> import numpy as np
        >>> g = Graph(); w = g.leaf(np.zeros(2), Role.PARAMETER)
        >>> Graph.rebind(w, np.ones(2)); w.value
        array([1., 1.])
        """
        if node.op is not None or array.shape != node.shape or array.dtype != node.dtype:
            raise ValueError(f"rebind: {node!r} needs a leaf and an array of its shape/dtype")
        if node.value is None or not np.array_equal(node.value, array):
            node.stamp = CLOCK.tick()  # a new value: what was computed from it is stale
        node.value = array
        from mg_graph.executor import leaf_moved

        leaf_moved(node)

    @staticmethod
    def touch(*nodes: Node) -> None:
        """Record that leaves were changed in place (by an optimiser, say)."""
        for node in nodes:
            node.stamp = CLOCK.tick()

    # ----------------------------------------------------------------- freezing
    def freeze(
        self, outputs: Sequence[Node], optimize: bool = True, passes: Passes | None = None
    ) -> None:
        """Freeze the graph: keep every node, run the rewrite ``passes`` (default: constant
        folding, common subexpressions, dead code), and replay from now on.

        ``outputs`` are the nodes the user reads; everything else may share buffers.
        ``optimize=False`` runs no passes, now or when gradients are added.
        """
        from mg_graph.passes import GENERIC_PASSES
        from mg_graph.rewrite import FREEZE, rewrite

        self._strong = list(self._nodes.values())
        self.outputs = _unique([*outputs, *self._effects])
        self._effects = []
        self.tracing = False
        self.frozen = True
        self.passes = tuple(GENERIC_PASSES if passes is None else passes) if optimize else ()
        rewrite(self, self.passes, FREEZE)
        self.executor.invalidate()

    @contextlib.contextmanager
    def growing(self) -> Iterator[None]:
        """Let a frozen graph take new nodes inside this block (gradients, rewrites)."""
        self._growth_allowed += 1
        try:
            yield
        finally:
            self._growth_allowed -= 1

    @contextlib.contextmanager
    def gradients(self, optimize: bool = True) -> Iterator[None]:
        """Let a frozen graph grow once, for the gradient subgraph; mark nodes as gradients."""
        self._gradient_mode += 1
        try:
            with self.growing(), self.as_default():
                yield
        finally:
            self._gradient_mode -= 1
        if self.frozen and self._growth_allowed == 0:
            if optimize:
                from mg_graph.rewrite import GRADIENTS, rewrite

                rewrite(self, self.passes, GRADIENTS)
            self.executor.invalidate()

    def replace(
        self,
        node: Node,
        op: Op | None,
        inputs: Sequence[Node] = (),
        *,
        value: NDArray[Any] | None = None,
        rule: str = "replace",
    ) -> None:
        """The one way to rewrite a node: compute ``node`` as ``op(*inputs)`` from now on,
        or (``op=None``) make it a constant leaf holding ``value``. The node keeps its
        identity (tensors point at it); shape inference runs again, and a change of shape
        or dtype is a `RewriteError` naming ``rule``. Cached values are reset.

        >>> import numpy as np
        >>> from mg_graph.op import Alias
        >>> g = Graph(); x = g.leaf(np.ones(2)); y = g.apply(Alias(), x)
        >>> g.replace(y, None, value=np.zeros(2)); y.role, y.value
        (<Role.CONSTANT: 'constant'>, array([0., 0.]))
        """
        inputs = tuple(inputs)
        if op is None:
            if value is None or inputs:
                raise ValueError(f"replace: a constant needs a value and no inputs ({rule})")
            shape, dtype = tuple(value.shape), value.dtype
        else:
            shape, dtype = op.infer(*inputs)
            shape, dtype = tuple(shape), np.dtype(dtype)
        problem = _unreplaceable(node, op)
        if problem is None and (shape, dtype) != (node.shape, node.dtype):
            problem = f"it would change {node!r} to shape {shape} dtype {dtype}"
        if problem is not None:
            raise RewriteError(
                describe(
                    rule,
                    f"cannot rewrite a node: {problem}",
                    node.location,
                    "a rewrite must compute the same value: same shape and dtype, and "
                    "parameters, inputs and effect nodes keep their op",
                )
            )
        node.op, node.inputs, node.value = op, inputs, value
        node.role = Role.CONSTANT if op is None else Role.COMPUTED
        node.stamp = CLOCK.tick() if value is not None else 0
        if self._executor is not None:
            self._executor.invalidate()

    def prune(self, keep: Sequence[Node]) -> int:
        """Forget every node not in ``keep`` (dead-code elimination); return how many went."""
        live = {node.id for node in keep}
        before = len(self)
        if self._strong is not None:
            self._strong = [node for node in self._strong if node.id in live]
        for node_id in [i for i in self._nodes if i not in live]:
            del self._nodes[node_id]
        self._captures = {i: node for i, node in self._captures.items() if i in live}
        return before - len(self)

    def add_outputs(self, *nodes: Node) -> None:
        """Make nodes readable after a replay (they get buffers of their own)."""
        new = [node for node in nodes if all(node is not out for out in self.outputs)]
        if new:
            self.outputs.extend(new)
            if self._executor is not None:
                self._executor.invalidate()

    # ----------------------------------------------------------------- context
    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        """Make this graph the one new tensors go to.

        >>> g = Graph()
        >>> with g.as_default():
        ...     assert get_default_graph() is g
        """
        _local.stack.append(self)
        try:
            yield self
        finally:
            _local.stack.pop()

    @contextlib.contextmanager
    def trace(self) -> Iterator[Graph]:
        """Default graph while tracing: every new op lands here, foreign leaves are captured."""
        self.tracing = True
        try:
            with self.as_default():
                yield self
        finally:
            self.tracing = False

    def visualize(
        self,
        path: str | None = None,
        *,
        clusters: bool = True,
        gradients: bool = True,
        depth: int | None = None,
    ) -> graphviz.Digraph:
        """Draw the graph with graphviz; with ``path`` (.svg, .png, .pdf, .dot) render it
        too. ``depth=1`` draws each layer as one box (see `mg_graph.visualize`).

        >>> Graph().visualize().source.startswith("digraph")
        True
        """
        from mg_graph.visualize import visualize

        return visualize(self, path, clusters=clusters, gradients=gradients, depth=depth)


def _unreplaceable(node: Node, op: Op | None) -> str | None:
    """Why ``node`` may not become ``op`` (None if it may)."""
    if node.op is None and node.role is not Role.CONSTANT:
        return f"{node!r} is a {node.role.value}: the user writes it"
    if node.op is not None and (node.op.effect or not node.op.pure) and op is not node.op:
        return f"{node!r} runs on its own every time (an effect or non-pure op)"
    return None


def _unique(nodes: Sequence[Node]) -> list[Node]:
    seen: dict[int, Node] = {}
    for node in nodes:
        seen.setdefault(node.id, node)
    return list(seen.values())


def _mixed_message(op: str, graph: Graph, inputs: Sequence[Node], location: str) -> str:
    parts = ", ".join(f"{n.shape} in graph {n.graph.name!r}" for n in inputs)
    return describe(
        op,
        f"operands belong to different graphs ({parts})",
        location,
        "create every tensor of one computation in the same graph: pass graph=... "
        "to Tensor(...) or build them inside `with graph.as_default():`",
    )


_DEFAULT = Graph("default")  # shared by every thread, under its own stack


def get_default_graph() -> Graph:
    """The graph new tensors go to when no ``graph=`` is given (in this thread).

    >>> get_default_graph().name
    'default'
    """
    stack = _local.stack
    return stack[-1] if stack else _DEFAULT


def graph_of(nodes: Sequence[Node]) -> Graph:
    """The graph an op on ``nodes`` belongs to: the tracing graph if one is active,
    else the first input's graph (`Graph.apply` rejects mixed inputs).

    >>> graph_of([]) is get_default_graph()
    True
    """
    default = get_default_graph()
    if default.capturing or not nodes:
        return default
    first = nodes[0].graph
    if all(n.graph is first for n in nodes):
        return first
    graphs = list({id(n.graph): n.graph for n in nodes}.values())
    for graph in graphs:  # a graph holding every input (captured leaves count)
        if all(n.graph is graph or n.id in graph._captures for n in nodes):
            return graph
    return graphs[0]


class named_scope:  # a function to its users: ``with named_scope(name):``
    """Group the nodes built inside into a named cluster (layers use it); ``kind`` (a
    layer's class name) is recorded in `SCOPE_KINDS` for the visualiser's layer boxes.
    A plain class, not a generator: every layer call of an eager step enters one.

    >>> with named_scope("encoder", kind="Encoder"):
    ...     SCOPE_KINDS[("encoder",)]
    'Encoder'
    """

    __slots__ = ("kind", "name")

    def __init__(self, name: str, kind: str | None = None) -> None:
        self.name = name
        self.kind = kind

    def __enter__(self) -> None:
        scopes = _local.scopes
        scopes.append(self.name)
        if self.kind is not None:
            SCOPE_KINDS[tuple(scopes)] = self.kind
        else:  # the latest scope of that path says what it is
            SCOPE_KINDS.pop(tuple(scopes), None)

    def __exit__(self, *exc: object) -> None:
        _local.scopes.pop()


SCOPE_KINDS: dict[tuple[str, ...], str] = {}  # scope path -> kind its latest entry gave


@contextlib.contextmanager
def within_scope(path: tuple[str, ...]) -> Iterator[None]:
    """Build nodes in scope ``path`` whatever the current scope is (a gradient node
    takes the scope of the forward node it differentiates).

    >>> with named_scope("outer"), within_scope(("model", "layer")):
    ...     tuple(_local.scopes)
    ('model', 'layer')
    """
    scopes = _local.scopes
    saved = scopes[:]
    scopes[:] = path
    try:
        yield
    finally:
        scopes[:] = saved
