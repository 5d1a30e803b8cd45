"""A small MLP over raw parameters (mg-dist's tests need no mg-nn) and its loss."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from mg_tensor import Tensor


class MLP:
    """Linear layers with ReLU between them; parameters named like mg-nn's."""

    def __init__(self, sizes: list[int], dtype: Any = np.float32, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.params: dict[str, Tensor] = {}
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            w = rng.normal(0.0, 1.0 / np.sqrt(a), (a, b)).astype(dtype)
            self.params[f"fc{i}.weight"] = Tensor(w, requires_grad=True)
            self.params[f"fc{i}.bias"] = Tensor(
                rng.normal(0.0, 0.1, b).astype(dtype), requires_grad=True
            )
        self.layers = len(sizes) - 1

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        return list(self.params.items())

    def parameters(self) -> list[Tensor]:
        return list(self.params.values())

    def __call__(self, x: Tensor) -> Tensor:
        for i in range(self.layers):
            x = x @ self.params[f"fc{i}.weight"] + self.params[f"fc{i}.bias"]
            if i + 1 < self.layers:
                x = x.relu()
        return x


def loss(model: MLP, x: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy of one-hot ``y`` over the (local) batch."""
    logits = model(x)
    return -(y * logits.log_softmax(axis=1)).sum() / x.shape[0]


def data(n: int, features: int, classes: int, dtype: Any, seed: int = 1) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(dtype)
    y = np.eye(classes, dtype=dtype)[rng.integers(0, classes, n)]
    return x, y
