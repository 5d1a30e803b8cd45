"""Gradient records: the one protocol between autodiff and whoever uses gradients
(``Tensor.grad``, optimisers, clipping, all-reduce).

`backprop` leaves a `GradRecord` on each parameter it reached: the node ``.grad``
wraps (a leaf over the gradient's array, in the parameter's own graph), the computed
gradient node behind it, and whether it is *pending*: set by ``backprop()`` or by
assignment since the owning optimiser's last step. An optimiser updates a parameter
if and only if its gradient is pending, and consumes it. Changing a gradient in place
(clipping, an all-reduce) goes through `modified`, which neither makes it pending nor
consumes it.

An optimiser may `reserve` an array for a parameter's gradient (a slot of its flat
gradient array); a frozen graph then computes that gradient straight into it.

>>> from mg_tensor import Tensor
>>> w = Tensor([1.0, 2.0], requires_grad=True)
>>> (w * w).sum().backprop()
>>> rec = record(w.node); rec.pending, rec.value()
(True, array([2., 4.], dtype=float32))
"""

from __future__ import annotations

import weakref
from typing import Any

from numpy.typing import NDArray

from mg_graph import CLOCK, Graph, Node, Role
from mg_graph.visualize import register_gradient_lookup


class GradRecord:
    """What `backprop` (or ``p.grad = t``) left on one parameter."""

    __slots__ = ("computed", "node", "pending")

    def __init__(self, node: Node, computed: Node | None) -> None:
        self.node = node  # what ``.grad`` wraps
        self.computed = computed  # the gradient node of a graph, behind a snapshot leaf
        self.pending = True

    def value(self) -> NDArray[Any]:
        """The gradient's array (computed first if ``.grad`` was assigned a lazy tensor)."""
        node = self.node
        if node.value is None:
            node.graph.compute(node)
        assert node.value is not None
        return node.value


_records: weakref.WeakKeyDictionary[Node, GradRecord] = weakref.WeakKeyDictionary()
_slots: weakref.WeakKeyDictionary[Node, NDArray[Any]] = weakref.WeakKeyDictionary()


def record(param: Node) -> GradRecord | None:
    """The gradient record of a parameter node, or None if it has no gradient."""
    return _records.get(param)


def set_gradient(param: Node, value: NDArray[Any], computed: Node | None = None) -> None:
    """Make ``value`` the parameter's gradient (pending): ``.grad`` becomes a leaf over
    it in the parameter's graph. The leaf is reused while shape and dtype stay."""
    old = _records.get(param)
    leaf = old.node if old is not None and old.computed is not None else None
    if leaf is None or leaf.shape != value.shape or leaf.dtype != value.dtype:
        name = f"{param.name or 'parameter'}.grad"
        leaf = param.graph.leaf(value, Role.CONSTANT, name, param.location, is_gradient=True)
    elif leaf.value is not value:
        Graph.rebind(leaf, value)  # schedules that read this .grad follow it
    else:
        leaf.stamp = CLOCK.tick()
    rec = GradRecord(leaf, computed)
    _records[param] = rec


def assign(param: Node, node: Node | None) -> None:
    """``param.grad = tensor`` (pending) or ``= None`` (no gradient)."""
    if node is None:
        _records.pop(param, None)
    else:
        _records[param] = GradRecord(node, None)


def modified(param: Node, value: NDArray[Any] | None = None) -> None:
    """The gradient was changed in place (or replaced by ``value``, of its shape and
    dtype): readers see the change; it stays pending, or not, as it was."""
    rec = _records.get(param)
    if rec is None:
        return
    if value is not None:
        if rec.node.op is not None or rec.computed is None:  # assigned: own leaf now
            pending = rec.pending
            set_gradient(param, value)
            _records[param].pending = pending
            return
        Graph.rebind(rec.node, value)
        return
    rec.node.stamp = CLOCK.tick()


def consume(param: Node) -> None:
    """An optimiser applied this gradient: it is no longer pending."""
    rec = _records.get(param)
    if rec is not None:
        rec.pending = False


def reserve(param: Node, array: NDArray[Any] | None) -> None:
    """Ask frozen graphs to compute this parameter's gradient into ``array`` (None
    withdraws the request)."""
    if array is None:
        _slots.pop(param, None)
    else:
        _slots[param] = array


def reserved(param: Node) -> NDArray[Any] | None:
    """The array reserved for this parameter's gradient, if any."""
    return _slots.get(param)


def computed(param: Node) -> Node | None:
    """The gradient node `backprop` computed for ``param`` (the visualiser draws an arrow
    from it back to the parameter)."""
    rec = _records.get(param)
    return rec.computed if rec is not None else None


register_gradient_lookup(computed)
