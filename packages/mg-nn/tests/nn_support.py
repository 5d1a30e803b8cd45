"""Shared test helpers: numpy references and the compiled-equals-eager check."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mg_tensor import Tensor, compute_graph, grad


def sigmoid(x: Any) -> Any:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow at -1000


def softmax(x: Any, axis: int = -1) -> Any:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def check_compiled(
    fn: Callable[..., Tensor],
    arrays: Sequence[Any],
    params: Sequence[Tensor] = (),
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> None:
    """``fn`` traced by ``compute_graph`` gives the eager values and parameter gradients,
    on two calls with different float data (the second one replays the frozen graph)."""
    rng = np.random.default_rng(7)
    direction = rng.standard_normal(fn(*arrays).shape)
    compiled = compute_graph(fn)
    weighted = compute_graph(lambda *xs: (fn(*xs) * direction).sum())
    for call in range(2):
        inputs = [
            a + rng.normal(0, 0.1, a.shape).astype(a.dtype)
            if call and np.asarray(a).dtype.kind == "f"
            else a
            for a in arrays
        ]
        eager = fn(*inputs)
        np.testing.assert_allclose(compiled(*inputs).data, eager.data, rtol=rtol, atol=atol)
        if not params:
            continue
        expected = [g.data for g in grad((eager * direction).sum(), list(params))]
        weighted(*inputs).backprop()
        for p, e in zip(params, expected, strict=True):
            assert p.grad is not None
            np.testing.assert_allclose(p.grad.data, e, rtol=rtol, atol=atol)
