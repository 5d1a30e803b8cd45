"""Gradient clipping by global norm."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mg_graph import Graph, Node, Role
from mg_optim.optimizer import _GRADIENTS, SLOT_KEY, Params, _Group, pin
from mg_tensor import Tensor


def clip_grad_norm(params: Params | Tensor, max_norm: float) -> float:
    """Scale the gradients of ``params`` so that their global L2 norm is at most
    ``max_norm``; return the norm before clipping (PyTorch's ``clip_grad_norm_``: the
    scale is ``max_norm / (norm + 1e-6)``, applied only when below 1).

    Gradients of parameters owned by an optimiser are (copied if needed into, and)
    scaled in place in its flat gradient array: the norm is one ``vdot`` over each
    contiguous run of them, and the optimiser's next step copies nothing. Parameters
    without a gradient are ignored.

    >>> from mg_tensor import Tensor
    >>> w = Tensor([0.0, 0.0], requires_grad=True)
    >>> (w * Tensor([3.0, 4.0])).sum().backprop()
    >>> clip_grad_norm([w], max_norm=1.0)
    5.0
    >>> w.grad.data.round(4)
    array([0.6, 0.8], dtype=float32)
    """
    items = [params] if isinstance(params, Tensor) else list(_values(params))
    managed: dict[int, tuple[_Group, list[int]]] = {}
    loose: list[tuple[Tensor, NDArray[Any]]] = []
    pins: list[tuple[Node, NDArray[Any]]] = []
    for p in items:
        node = p.node
        gnode: Node | None = node.meta.get("grad")
        if gnode is None:
            continue
        slot: tuple[_Group, int] | None = node.meta.get(SLOT_KEY)
        if slot is not None and slot[0].owns(slot[1]):
            group, i = slot
            group.fetch(i, pins)
            if gnode.value is not group.gviews[i]:  # copied: the slot is the gradient now
                p.grad = group.grad_leaf(i)
            managed.setdefault(id(group), (group, []))[1].append(i)
        else:
            gnode.graph.realize(gnode)
            assert gnode.value is not None
            loose.append((p, gnode.value))
    if pins:
        pin(pins)
    runs: list[NDArray[Any]] = []
    for group, indices in managed.values():
        for lo, hi in _runs(sorted(set(indices))):
            runs.append(group.grad[group.bounds[lo] : group.bounds[hi]])
    total = sum(float(np.vdot(a, a)) for a in runs)
    total += sum(float(np.vdot(v, v)) for _, v in loose)
    norm = math.sqrt(total)
    coef = float(max_norm) / (norm + 1e-6)
    if coef < 1.0:
        for a in runs:
            np.multiply(a, coef, out=a)
        leaves = [
            leaf.node
            for group, indices in managed.values()
            for i in indices
            if (leaf := group.leaves[i]) is not None
        ]
        Graph.touch(*leaves)
        for p, value in loose:
            p.grad = Tensor.wrap(_GRADIENTS.leaf(value * coef, Role.CONSTANT, p.name))
    return norm


def _values(params: Params) -> list[Tensor]:
    return list(params.values()) if isinstance(params, Mapping) else list(params)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Maximal ranges [lo, hi) of consecutive indices."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs
