"""Shared test problem: a small linear regression trained by mg_tensor ops, eagerly or
inside ``@compute_graph``, with its gradients also written out in numpy (float64)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mg_tensor import Tensor, compute_graph

Array = NDArray[Any]


class Regression:
    """``loss = mean((x @ W + b - y) ** 2)`` over a fresh batch at every step."""

    def __init__(self, seed: int = 0, steps: int = 20, n: int = 16, i: int = 5, o: int = 3):
        rng = np.random.default_rng(seed)
        self.W0 = (rng.standard_normal((i, o)) * 0.5).astype(np.float32)
        self.b0 = (rng.standard_normal(o) * 0.1).astype(np.float32)
        true_w = rng.standard_normal((i, o))
        self.batches: list[tuple[Array, Array]] = []
        for _ in range(steps):
            x = rng.standard_normal((n, i)).astype(np.float32)
            y = (x @ true_w + 0.3 + 0.1 * rng.standard_normal((n, o))).astype(np.float32)
            self.batches.append((x, y))

    def params(self) -> list[Tensor]:
        return [Tensor(self.W0, requires_grad=True), Tensor(self.b0, requires_grad=True)]

    def numpy_grads(self, params: list[Array], step: int) -> list[Array]:
        """d loss / d (W, b) in float64 at ``params`` for batch ``step``."""
        w, b = params
        x, y = (a.astype(np.float64) for a in self.batches[step])
        r = x @ w + b - y
        scale = 2.0 / r.size
        return [scale * x.T @ r, scale * r.sum(axis=0)]

    def backprop(self, params: list[Tensor], mode: str) -> Callable[[int], float]:
        """A function running forward + ``backprop()`` for batch ``step``."""
        w, b = params

        def loss_of(x: Tensor, y: Tensor) -> Tensor:
            return ((x @ w + b - y) ** 2).mean()

        if mode == "eager":

            def run(step: int) -> float:
                x, y = self.batches[step]
                loss = loss_of(Tensor(x), Tensor(y))
                loss.backprop()
                return float(loss.item())

            return run
        assert mode == "compiled"
        compiled = compute_graph(loss_of)

        def run_compiled(step: int) -> float:
            x, y = self.batches[step]
            loss = compiled(x, y)
            loss.backprop()
            return float(loss.item())

        return run_compiled


@pytest.fixture
def regression() -> Regression:
    return Regression()
