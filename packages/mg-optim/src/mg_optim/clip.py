"""Gradient clipping by global norm."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from mg_optim.optimizer import Params
from mg_tensor import Tensor, gradients


def clip_grad_norm(params: Params | Tensor, max_norm: float) -> float:
    """Scale the pending gradients of ``params`` so that their global L2 norm is at most
    ``max_norm``; return the norm before clipping (PyTorch's ``clip_grad_norm_``: the
    scale is ``max_norm / (norm + 1e-6)``, applied only when below 1).

    Only pending gradients count (set by ``backprop()`` or assignment since the last
    optimiser step): exactly those the next step applies. A clipped gradient is
    written into its optimiser's gradient slot when it has one (the step then copies
    nothing), in place into a compiled function's buffer, or else into a new array
    (values of eager graphs are fixed); either way it stays pending.

    >>> w = Tensor([0.0, 0.0], requires_grad=True)
    >>> (w * Tensor([3.0, 4.0])).sum().backprop()
    >>> clip_grad_norm([w], max_norm=1.0)
    5.0
    >>> w.grad.data.round(4)
    array([0.6, 0.8], dtype=float32)
    """
    items = [params] if isinstance(params, Tensor) else _values(params)
    found = []
    for p in items:
        rec = gradients.record(p.node)
        if rec is not None and rec.pending:
            found.append((p, rec, rec.value()))
    norm = math.sqrt(sum(float(np.vdot(v, v)) for _, _, v in found))
    coef = float(max_norm) / (norm + 1e-6)
    if coef < 1.0:
        for p, rec, value in found:
            target = gradients.reserved(p.node)
            if target is None or target.shape != value.shape:
                frozen = rec.computed is not None and rec.computed.graph.frozen
                target = value if frozen else np.empty_like(value)
            np.multiply(value, coef, out=target)
            gradients.modified(p.node, None if target is value else target)
    return norm


def _values(params: Params) -> list[Tensor]:
    return list(params.values()) if isinstance(params, Mapping) else list(params)
