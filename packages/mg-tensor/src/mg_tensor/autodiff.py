"""Symbolic reverse-mode differentiation: gradients are new nodes of the same graph.

Because gradient rules are written in Tensor ops, a gradient can be realized lazily,
frozen and replayed with the forward pass, optimised, drawn and differentiated again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mg_graph import CLOCK, GradientError, Node, Role, describe, topo_order, user_location
from mg_tensor.inplace import pinnable
from mg_tensor.ops.base import TensorOp, is_float
from mg_tensor.ops.shape import sum_to
from mg_tensor.tensor import Tensor


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


def grad(output: Tensor, inputs: Sequence[Tensor], grad_output: Any = None) -> list[Tensor]:
    """Gradients of ``output`` with respect to each of ``inputs``, as new graph nodes.

    Broadcast operands get gradients summed back to their own shape. An input that
    ``output`` does not depend on (or only through integer/boolean paths, which carry
    no gradient) gets a zero gradient of its shape.

    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> (dx,) = grad((x ** 3).sum(), [x])
    >>> (d2x,) = grad(dx.sum(), [x])
    >>> d2x.data  # 6 x
    array([ 6., 12.], dtype=float32)
    """
    graph = output.graph
    with graph.gradients():
        grads = _grad(output, list(inputs), _seed(output, grad_output))
        if graph.frozen:  # the caller holds them: give them buffers of their own
            graph.add_outputs(*(g.node for g in grads))
    return grads


def _grad(output: Tensor, inputs: list[Tensor], seed: Tensor) -> list[Tensor]:
    order = topo_order([output.node])
    wanted = {t.node.id for t in inputs}
    reach: set[int] = set()  # nodes through which some input reaches the output
    for node in order:
        if not is_float(node.dtype):
            continue
        if node.id in wanted or (any(i.id in reach for i in node.inputs) and _differentiable(node)):
            reach.add(node.id)
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
        parts = op.vjp(g, Tensor.wrap(node), *(Tensor.wrap(i) for i in node.inputs), needed=needed)
        for inp, part, need in zip(node.inputs, parts, needed, strict=True):
            if not need or part is None:
                continue
            part = sum_to(part, inp.shape)
            if part.dtype != inp.dtype:
                part = part.astype(inp.dtype)
            previous = grads.get(inp.id)
            grads[inp.id] = part if previous is None else previous + part
    found = [grads.get(t.node.id) for t in inputs]
    return [_zeros(t) if g is None else g for g, t in zip(found, inputs, strict=True)]


def _differentiable(node: Node) -> bool:
    return isinstance(node.op, TensorOp) and node.op.differentiable


def _zeros(t: Tensor) -> Tensor:
    return Tensor(np.zeros(t.shape, t.dtype), graph=t.graph)


def backprop(output: Tensor, grad_output: Any = None) -> None:
    """Compute and set ``.grad`` of every parameter ``output`` depends on.

    The gradient subgraph is built on the first call (for this output) and reused:
    later calls only realize it, so a frozen graph's node count stays constant. In a
    frozen graph the other outputs of the traced function are realized in the same
    replay.
    Gradients overwrite (they do not accumulate), which fits a loop that never zeroes
    them. A ``grad_output`` array is fed through an input buffer, so new values of it
    do not add nodes either.
    """
    node = output.node
    key = "backprop" if grad_output is None else "backprop_seeded"
    cached = node.meta.get(key)
    if cached is None:
        params = [n for n in topo_order([node]) if n.op is None and n.role is Role.PARAMETER]
        seed = None
        if grad_output is not None:
            with output.graph.gradients():
                seed = Tensor.input(np.asarray(grad_output, output.dtype), graph=output.graph)
        grads = grad(output, [Tensor.wrap(p) for p in params], seed)
        for param, g in zip(params, grads, strict=True):
            _pin(param, g.node)
        cached = node.meta[key] = (params, [g.node for g in grads], seed)
    params, grad_nodes, seed = cached
    if seed is not None:
        seed.assign(grad_output)
    graph = output.graph
    # A frozen graph replays everything the traced function returned (predictions, say)
    # in the same pass: reading them afterwards costs nothing.
    graph.realize(node, *grad_nodes, *(graph.outputs if graph.frozen else ()))
    for param, grad_node in zip(params, grad_nodes, strict=True):
        _snapshot(param, grad_node)


def _snapshot(param: Node, grad_node: Node) -> None:
    """Set ``param.grad`` to the gradient's value *now*: a leaf over the array the
    gradient node just computed (no copy). Later writes to parameters do not make it
    stale (a loop may update parameters one by one, as in PyTorch); the next backprop
    moves it to the new value. ``meta["grad_node"]`` keeps the computed node."""
    value = grad_node.value
    assert value is not None
    leaf: Node | None = param.meta.get("grad_leaf")
    if leaf is None or leaf.shape != value.shape or leaf.dtype != value.dtype:
        leaf = Node(
            param.graph,
            None,
            (),
            grad_node.shape,
            grad_node.dtype,
            Role.CONSTANT,
            grad_node.location,
            name=f"{param.name or 'parameter'}.grad",
            value=value,
            is_gradient=True,
        )
        param.meta["grad_leaf"] = leaf
    else:
        if leaf.value is not value and leaf.meta.get("bound"):
            CLOCK.layout += 1  # a compiled schedule holds the old array: re-bind
        leaf.value = value
        leaf.stamp = CLOCK.tick()
    param.meta["grad"] = leaf
    param.meta["grad_node"] = grad_node


def _pin(param: Node, grad_node: Node) -> None:
    """Let a frozen graph write this gradient straight into the buffer an optimiser
    reserved for it (``param.meta["grad_buffer"]``, a view of one flat gradient array)."""
    reserved = param.meta.get("grad_buffer")
    if reserved is not None and pinnable(grad_node, reserved):
        grad_node.meta["buffer"] = reserved
