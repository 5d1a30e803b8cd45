"""Symbolic reverse-mode differentiation: gradients are new nodes of the same graph.

Because gradient rules are written in Tensor ops, a gradient can be realized lazily,
frozen and replayed with the forward pass, optimised, drawn and differentiated again.

Gradients flow only through differentiable ops built outside `no_grad`: ``detach()``,
comparisons, integer casts and argmax cut the path. `backprop` sets ``.grad`` (a
`mg_tensor.gradients` record) of exactly the parameters it reaches.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mg_graph import (
    GradientError,
    Graph,
    Node,
    Role,
    describe,
    source_of,
    topo_order,
    user_location,
    within_scope,
)
from mg_graph.executor import CallOutput
from mg_tensor import gradients
from mg_tensor.ops.base import TensorOp, is_float
from mg_tensor.ops.shape import sum_to
from mg_tensor.tensor import Tensor

Array = NDArray[Any]


def _seed(output: Tensor, grad_output: Any) -> Tensor:
    if grad_output is None:
        if output.size != 1:
            raise GradientError(
                describe(
                    "grad",
                    f"output has shape {output.shape}; an implicit gradient needs a "
                    "scalar (one element)",
                    user_location(),
                    "reduce it first (.sum() or .mean()) or pass grad_output of its shape",
                )
            )
        return Tensor(np.ones(output.shape, output.dtype), graph=output.graph)
    seed = (
        grad_output
        if isinstance(grad_output, Tensor)
        else Tensor(np.asarray(grad_output, output.dtype), graph=output.graph)
    )
    if seed.shape != output.shape:
        raise GradientError(
            describe(
                "grad",
                f"grad_output has shape {seed.shape} but the output has {output.shape}",
                user_location(),
                "pass a grad_output of the output's shape",
            )
        )
    return seed


def grad(
    output: Tensor, inputs: Sequence[Tensor], grad_output: Any = None, allow_unused: bool = False
) -> list[Tensor | None]:
    """Gradients of ``output`` with respect to each of ``inputs``, as new graph nodes.

    Broadcast operands get gradients summed back to their own shape. An input that
    ``output`` does not depend on through differentiable ops is an error, unless
    ``allow_unused=True`` (its gradient is then None), as in PyTorch.

    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> (dx,) = grad((x ** 3).sum(), [x])
    >>> (d2x,) = grad(dx.sum(), [x])
    >>> d2x.data  # 6 x
    array([ 6., 12.], dtype=float32)
    """
    output = _wrapped(output)
    graph = output.graph
    with graph.gradients():
        grads = _grad(output, list(inputs), _seed(output, grad_output))
        if graph.frozen:  # the caller holds them: give them buffers of their own
            graph.add_outputs(*(g.node for g in grads if g is not None))
    if not allow_unused:
        for k, (t, g) in enumerate(zip(inputs, grads, strict=True)):
            if g is None:
                raise GradientError(_unused_message(output, t, k))
    return grads


def _wrapped(output: Tensor) -> Tensor:
    """The graph node behind an output handle of a compiled function."""
    return Tensor.wrap(source_of(output.node))


def _unused_message(output: Tensor, t: Tensor, k: int) -> str:
    what = f"input {k} ({t.name or 'unnamed'} {t.shape})"
    rec = gradients.record(t.node)
    if rec is not None and any(n is rec.node for n in topo_order([output.node])):
        return describe(
            "grad",
            f"{what} is reached only through its .grad, which is a snapshot of a value "
            "with no path back to it",
            user_location(),
            "differentiate the gradient node itself: grad(grad(y, [x])[0].sum(), [x])",
        )
    return describe(
        "grad",
        f"the output does not depend on {what} through differentiable ops",
        user_location(),
        "pass allow_unused=True to get None for it, or check the path (detach(), "
        "comparisons, integer casts and argmax cut gradients)",
    )


def _reach(order: list[Node], inputs: list[Tensor]) -> set[int]:
    """The nodes of ``order`` through which some input reaches the output."""
    wanted = {t.node.id for t in inputs}
    reach: set[int] = set()
    for node in order:
        if not is_float(node.dtype):
            continue
        if node.id in wanted or (any(i.id in reach for i in node.inputs) and _differentiable(node)):
            reach.add(node.id)
    return reach


def _grad(output: Tensor, inputs: list[Tensor], seed: Tensor) -> list[Tensor | None]:
    order = topo_order([output.node])
    reach = _reach(order, inputs)
    grads: dict[int, Tensor] = {}
    if output.node.id in reach:
        grads[output.node.id] = seed
    for node in reversed(order):
        g = grads.get(node.id)
        if g is None or node.op is None:
            continue
        needed = tuple(i.id in reach for i in node.inputs)
        if not any(needed):
            continue
        op = node.op
        assert isinstance(op, TensorOp)
        with within_scope(node.scope):  # drawn beside the layer it differentiates
            parts = op.vjp(
                g, Tensor.wrap(node), *(Tensor.wrap(i) for i in node.inputs), needed=needed
            )
            for inp, part, need in zip(node.inputs, parts, needed, strict=True):
                if not need or part is None:
                    continue
                part = sum_to(part, inp.shape)
                if part.dtype != inp.dtype:
                    part = part.astype(inp.dtype)
                previous = grads.get(inp.id)
                grads[inp.id] = part if previous is None else previous + part
    return [grads.get(t.node.id) for t in inputs]


def _differentiable(node: Node) -> bool:
    return not node.no_grad and isinstance(node.op, TensorOp) and node.op.differentiable


# --------------------------------------------------------------------------- backprop
class _Plan:
    """What `backprop` built once for one output: the leaves it reaches (parameters,
    and input buffers of compiled-function arguments that need a gradient), their
    gradient nodes, the leaves whose writes would make the output stale, and the input
    buffer of an explicit ``grad_output``."""

    __slots__ = ("epoch", "grads", "leaves", "params", "seed")

    def __init__(self, output: Node, seeded: bool, epoch: int) -> None:
        graph = output.graph
        order = topo_order([output])
        candidates = [n for n in order if n.op is None and n.requires_grad]
        self.leaves = [n for n in order if _writable(n)]
        self.epoch = epoch
        self.seed: Tensor | None = None
        if seeded:
            with graph.gradients():
                zeros = np.zeros(output.shape, output.dtype)
                self.seed = Tensor.input(zeros, graph=graph, name="grad_output")
        found = grad(Tensor.wrap(output), [Tensor.wrap(c) for c in candidates], self.seed, True)
        reached = [(c, g.node) for c, g in zip(candidates, found, strict=True) if g is not None]
        self.params = [c for c, _ in reached]
        self.grads = [g for _, g in reached]
        if graph.frozen:
            for param, g in reached:
                slot = gradients.reserved(param)
                if slot is not None:
                    graph.executor.bind_output(g, slot)


_plans: weakref.WeakKeyDictionary[Node, dict[bool, _Plan]] = weakref.WeakKeyDictionary()
# compiled-function arguments that need a gradient, per graph: (call, [(input, tensor)])
_arguments: weakref.WeakKeyDictionary[Graph, tuple[object, list[tuple[Node, Tensor]]]] = (
    weakref.WeakKeyDictionary()
)


def set_arguments(graph: Graph, call: object, pairs: list[tuple[Node, Tensor]]) -> None:
    """Record, for the current call of a compiled function, which input buffers stand
    for Tensor arguments that need a gradient: `backprop` continues into their graphs."""
    if pairs:
        _arguments[graph] = (call, pairs)
    else:
        _arguments.pop(graph, None)


def _plan(output: Node, seeded: bool) -> _Plan:
    from mg_tensor.function import guard_epoch

    epoch = guard_epoch()  # requires_grad flags changed: candidates differ
    plans = _plans.setdefault(output, {})
    plan = plans.get(seeded)
    if plan is None or plan.epoch != epoch:
        plan = plans[seeded] = _Plan(output, seeded, epoch)
    return plan


def backprop(output: Tensor, grad_output: Any = None, accumulate: bool = False) -> None:
    """Compute and set ``.grad`` of every parameter ``output`` reaches.

    The gradient subgraph is built on the first call (for this output) and reused:
    later calls only realize it, so a frozen graph's node count stays constant. In a
    frozen graph the forward values already computed in this call (a loss read first)
    are reused, random draws included. Gradients overwrite (``accumulate=True`` adds
    to the existing ones). A ``grad_output`` array is fed through an input buffer, so
    new values of it do not add nodes either.

    An output whose value was computed before one of its leaves was written (a GAN
    loop stepping D between computing and differentiating G's loss) is an error: its
    gradient would mix old values with new weights. ``realize()`` it first.
    """
    from mg_tensor.eager import program

    seeded = grad_output is not None
    compiled = program(output.node, seeded)  # an eager step seen before: its schedule
    old: dict[Node, Array] = {}
    if accumulate:  # before the replay: it may write into the arrays .grad shows
        params = compiled[0].params if compiled else _plan(source_of(output.node), seeded).params
        old = _current(params)
    if compiled is not None:
        schedule, order = compiled
        _check_current(output.node, output.node, [n for n in order if _writable(n)])
        values = schedule.run(order, grad_output)
    else:
        values = _gradient_values(output, grad_output)
    if accumulate:
        old.update(_current([p for p in values if p not in old]))
    frozen = output.graph.frozen or compiled is not None  # values live in schedule buffers
    for param, (value, computed) in values.items():
        previous = old.get(param)
        if previous is not None:
            if frozen and computed is not None:
                np.add(value, previous, out=value)  # keeps a pinned optimiser slot
            else:
                value = value + previous
        gradients.set_gradient(param, value, computed)


def _current(params: Sequence[Node]) -> dict[Node, Array]:
    """Copies of the gradients these parameters have now."""
    found = {p: gradients.record(p) for p in params}
    return {p: rec.value().copy() for p, rec in found.items() if rec is not None}


def _gradient_values(output: Tensor, grad_output: Any) -> dict[Node, tuple[Array, Node | None]]:
    """Gradient arrays (and the nodes computing them) of every parameter ``output``
    reaches, through compiled-function arguments too."""
    node = output.node
    graph = node.graph
    source = source_of(node)
    if graph.frozen and isinstance(node.op, CallOutput) and node.op.call is not graph.executor.call:
        raise GradientError(
            describe(
                "backprop",
                f"this output of {graph.name} comes from an earlier call: the function was "
                "called again since, so the values its gradient needs are gone",
                user_location(),
                "call backprop() on the output of the latest call, before calling again",
            )
        )
    plan = _plan(source, grad_output is not None)
    _check_current(node, source, plan.leaves)
    if plan.seed is not None:
        plan.seed.assign(grad_output)
    targets = [node, *plan.grads]
    if graph.frozen:
        graph.compute(*targets)
    else:
        graph.realize(*targets)
    values: dict[Node, tuple[Array, Node | None]] = {}
    for param, g in zip(plan.params, plan.grads, strict=True):
        assert g.value is not None
        values[param] = (g.value, g)
    for inp, tensor in _argument_pairs(graph):
        found = values.pop(inp, None)
        if found is None:
            continue
        for param, (value, computed) in _gradient_values(tensor, found[0].copy()).items():
            mine = values.get(param)
            values[param] = (value, computed) if mine is None else (mine[0] + value, None)
    return values


def _argument_pairs(graph: Graph) -> list[tuple[Node, Tensor]]:
    entry = _arguments.get(graph)
    if entry is None or entry[0] is not graph.executor.call:
        return []
    return entry[1]


def _writable(node: Node) -> bool:
    """A leaf whose writes make values computed from it stale (not an input buffer)."""
    return node.op is None and node.role is not Role.INPUT


def _check_current(node: Node, source: Node, leaves: list[Node]) -> None:
    graph = node.graph
    if graph.frozen:
        executor = graph.executor
        computed = executor.done > 0
        stale = executor.stale_leaves(source) if computed else []
    else:
        stale = [n for n in leaves if node.value is not None and n.stamp > node.stamp]
    if stale:
        leaf = stale[0]
        raise GradientError(
            describe(
                "backprop",
                f"{leaf.name or 'a leaf'} {leaf.shape} was written after this output was "
                "computed: its gradient would mix the old value with the new weights",
                user_location(),
                "differentiate before stepping the optimiser, or call output.realize() "
                "after the write to compute it again with the new values",
            )
        )
