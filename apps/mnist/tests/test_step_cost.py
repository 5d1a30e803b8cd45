"""What one compiled training step of the README's MLP costs, counted rather than timed:
the kernels it runs and the memory it allocates (speed itself lives in benchmarks/)."""

from __future__ import annotations

import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from macrograd import Tensor
from macrograd.engine import CompiledFunction, compute_graph
from macrograd.nn import manual_seed
from macrograd.optim import SGD_Momentum
from mnist_app.models import MNIST_model, cross_entropy

BATCH = 64


def _training_step() -> tuple[Callable[[], None], CompiledFunction[Any, Any]]:
    """The app's step (forward, backprop, optimiser) and its compiled forward."""
    manual_seed(0)
    model = MNIST_model(784, 10)
    parameters = model.parameters()
    optimizer = SGD_Momentum(parameters, 0.01, alpha=0.9)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH)]

    @compute_graph
    def forward(x_batch: Tensor, y_batch: Tensor) -> tuple[Tensor, Tensor]:
        y_pred = model(x_batch)
        return cross_entropy(y_batch, y_pred), y_pred

    def step() -> None:
        loss, _ = forward(x, y)
        loss.backprop()
        float(loss.data)
        optimizer.step(parameters)

    return step, forward


def test_only_the_needed_matmuls_run() -> None:
    step, forward = _training_step()
    step()
    plan = forward.graph.executor.plan
    nodes = {node.id: node for node in plan.order}
    ran = [nodes[node_id] for node_id, _ in plan.steps]
    kinds = Counter(node.op.name for node in ran if node.op is not None)
    # 4 layers forward, 4 weight gradients, and input gradients for layers 2-4 only:
    # no gradient for the images, so no dX of the first layer
    assert kinds["linear"] == 4
    assert kinds["matmul"] == 4 + 3
    assert not [node.shape for node in ran if node.shape == (BATCH, 784)]


def test_a_step_allocates_no_large_arrays_after_warm_up() -> None:
    step, _ = _training_step()
    for _ in range(3):  # traces, compiles, allocates buffers and optimiser state
        step()
    activation_bytes = BATCH * 1024 * 4
    tracemalloc.start()
    try:
        for _ in range(3):
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            step()
            current, peak = tracemalloc.get_traced_memory()
            assert peak - base < activation_bytes // 4, f"a step allocated {peak - base} bytes"
            assert current - base < 4096, f"a step kept {current - base} bytes"
    finally:
        tracemalloc.stop()
