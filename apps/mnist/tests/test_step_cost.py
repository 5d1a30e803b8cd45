"""What one compiled training step of the README's MLP costs, counted rather than timed:
the kernels it runs and the memory it allocates (speed itself lives in benchmarks/)."""

from __future__ import annotations

import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from macrograd.engine import CompiledFunction
from macrograd.nn import manual_seed
from mnist_app.models import build
from mnist_app.train import Config, make_optimizer, train_step, training_forward

BATCH = 64


def _random_batch(rng: np.random.Generator) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    images = rng.random((BATCH, 784), dtype=np.float32)
    return images, np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH)]


def _training_step(
    name: str = "mlp", optimizer_name: str = "sgd"
) -> tuple[Callable[[], None], CompiledFunction[Any, Any]]:
    """The app's step (forward, backprop, optimiser) and its compiled forward."""
    manual_seed(0)
    model = build(name)
    parameters = model.parameters()
    optimizer = make_optimizer(Config(optimizer=optimizer_name), parameters)
    x, y = _random_batch(np.random.default_rng(0))
    forward = training_forward(model)

    def step() -> None:
        train_step(forward, optimizer, parameters, x, y)

    return step, forward


def test_only_the_needed_matmuls_run() -> None:
    step, forward = _training_step()
    step()
    plan = forward.graph.executor.plan
    ran = [node for node, _ in plan.steps]
    kinds = Counter(node.op.name for node in ran if node.op is not None)
    # 4 layers forward, 4 weight gradients, and input gradients for layers 2-4 only:
    # no gradient for the images, so no dX of the first layer
    assert kinds["linear"] == 4
    assert kinds["matmul"] == 4 + 3
    assert not [node.shape for node in ran if node.shape == (BATCH, 784)]


def test_the_cnn_runs_its_relus_on_pooled_arrays() -> None:
    step, forward = _training_step("cnn", "adam")
    step()
    assert forward.graph.rewrites["relu_after_max"] == 2  # both conv blocks
    ran = [node for node, _ in forward.graph.executor.plan.steps]
    relus = sorted(node.shape for node in ran if node.op is not None and node.op.name == "relu")
    assert relus == [(BATCH, 32, 14, 14), (BATCH, 64, 7, 7), (BATCH, 128)]


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
