"""An eager training loop whose backprop replays a compiled schedule (mg_tensor.eager)
trains exactly as one that builds its gradient graph at every step, with gradients
written straight into the optimiser's flat gradient array."""

from __future__ import annotations

import numpy as np
import pytest

from mg_graph import Graph
from mg_optim import SGD, Adam, clip_grad_norm
from mg_tensor import Tensor, eager


def _train(make: str, late_optimizer: bool) -> tuple[list[np.ndarray], Graph]:
    graph = Graph("eager loop")
    with graph.as_default():
        rng = np.random.default_rng(0)
        w1 = Tensor(rng.standard_normal((6, 16)).astype(np.float32) * 0.3, requires_grad=True)
        b1 = Tensor(np.zeros(16, np.float32), requires_grad=True)
        w2 = Tensor(rng.standard_normal((16, 4)).astype(np.float32) * 0.3, requires_grad=True)
        params = [w1, b1, w2]

        def loss_of() -> Tensor:
            x = rng.standard_normal((8, 6)).astype(np.float32)
            y = rng.standard_normal((8, 4)).astype(np.float32)
            return ((((Tensor(x) @ w1) + b1).relu() @ w2 - Tensor(y)) ** 2).mean()

        def optimizer() -> SGD | Adam:
            return SGD(params, 0.05, momentum=0.9) if make == "sgd" else Adam(params, 0.01)

        opt = None if late_optimizer else optimizer()
        for step in range(8):
            loss = loss_of()
            if opt is not None:
                opt.zero_grad()
            loss.backprop()
            if opt is None:  # created after the first backprops: it pins them itself
                if step < 2:
                    continue
                opt = optimizer()
            clip_grad_norm(params, 1.0)
            opt.step()
        return [p.data for p in params], graph


@pytest.mark.parametrize("late_optimizer", [False, True])
@pytest.mark.parametrize("make", ["sgd", "adam"])
def test_scheduled_eager_training_matches_the_plain_one(
    monkeypatch: pytest.MonkeyPatch, make: str, late_optimizer: bool
) -> None:
    scheduled, graph = _train(make, late_optimizer)
    program = eager.scheduled(graph)
    assert program is not None
    pinned = [program.graph.executor.bound(g) is not None for g in program.grads]
    # gradients go straight into the optimiser's slots (reserved before the schedule
    # was built; a late optimiser's slots are filled by clipping, which copies anyway)
    assert all(pinned) != late_optimizer
    monkeypatch.setattr(eager, "program", lambda output, seeded: None)
    plain, _ = _train(make, late_optimizer)
    for a, b in zip(scheduled, plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
