"""An eager training loop with an effect (BatchNorm's running statistics) and random
draws (Dropout) replays its compiled backprop schedule (mg_tensor.eager) and trains
exactly as when the gradient graph is built at every step."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mg_nn import BatchNorm1d, Dropout, F, Linear, ReLU, Sequential, manual_seed
from mg_tensor import eager


def _train() -> tuple[list[float], list[Any]]:
    manual_seed(0)
    model = Sequential(
        Linear(4, 8, generator=0), BatchNorm1d(8), ReLU(), Dropout(0.3), Linear(8, 3, generator=1)
    )
    params = model.parameters()
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(6):
        x = rng.standard_normal((5, 4)).astype(np.float32)
        loss = F.cross_entropy(model(x), rng.integers(0, 3, 5))
        loss.backprop()
        losses.append(float(loss))
        for p in params:  # mg-nn does not depend on mg-optim: SGD by hand
            p -= 0.1 * p.grad
    state = [p.data for p in params] + [b.data for b in model.buffers()]
    return losses, state


def test_batch_norm_and_dropout_train_as_without_the_schedule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = eager.program
    used = []

    def spy(output: Any, seeded: bool) -> Any:
        result = found(output, seeded)
        used.append(result is not None)
        return result

    monkeypatch.setattr(eager, "program", spy)
    scheduled = _train()
    assert used == [False, *[True] * 5]
    monkeypatch.setattr(eager, "program", lambda output, seeded: None)
    plain = _train()
    np.testing.assert_allclose(scheduled[0], plain[0], rtol=1e-6)
    for a, b in zip(scheduled[1], plain[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
