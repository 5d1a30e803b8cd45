"""Testing helpers: `gradcheck` compares symbolic and numerical gradients in float64."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mg_graph import Graph
from mg_tensor.autodiff import grad
from mg_tensor.tensor import Tensor


class GradcheckError(AssertionError):
    """Symbolic and numerical gradients disagree; the message names the worst element."""


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    seed: int = 0,
) -> bool:
    """Check ``fn``'s gradients against central differences, in float64.

    Non-scalar outputs are projected on a fixed random direction, so every output
    element is checked. Raises `GradcheckError` naming the input, the index of the
    worst element and both values; returns True when all agree.

    >>> gradcheck(lambda x: (x * x).sum(), np.array([1.0, -2.0]))
    True
    """
    arrays = [np.array(x, dtype=np.float64, order="C") for x in inputs]  # reshape(-1) views
    graph = Graph("gradcheck")
    leaves = [Tensor(a, graph=graph, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    direction = np.random.default_rng(seed).standard_normal(out.shape)
    loss = (out * direction).sum() if out.shape else out
    found = grad(loss, leaves, allow_unused=True)
    symbolic = [
        np.zeros_like(a) if g is None else g.data for g, a in zip(found, arrays, strict=True)
    ]

    def value() -> float:  # realize(): recompute with the perturbed leaf
        return float(np.asarray(loss.realize().data, dtype=np.float64))

    for k, (leaf, array, sym) in enumerate(zip(leaves, arrays, symbolic, strict=True)):
        numeric = np.zeros_like(array)
        flat = array.reshape(-1)
        for i in range(flat.size):  # one perturbation per element: a test utility
            original = flat[i]
            flat[i] = original + eps
            leaf.assign(array)
            plus = value()
            flat[i] = original - eps
            leaf.assign(array)
            minus = value()
            flat[i] = original
            numeric.reshape(-1)[i] = (plus - minus) / (2 * eps)
        leaf.assign(array)
        _compare(k, sym, numeric, atol, rtol)
    return True


def _compare(
    k: int, symbolic: NDArray[Any], numeric: NDArray[Any], atol: float, rtol: float
) -> None:
    if symbolic.shape != numeric.shape:
        raise GradcheckError(
            f"input {k}: gradient shape {symbolic.shape}, expected {numeric.shape}"
        )
    error = np.abs(symbolic - numeric) - (atol + rtol * np.abs(numeric))
    if error.size and (not np.all(np.isfinite(symbolic)) or error.max() > 0):
        bad = np.where(np.isfinite(symbolic), error, np.inf)
        worst = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise GradcheckError(
            f"input {k}: gradients differ at index {tuple(int(i) for i in worst)}: "
            f"symbolic {symbolic[worst]!r}, numerical {numeric[worst]!r} "
            f"(atol {atol}, rtol {rtol})"
        )
