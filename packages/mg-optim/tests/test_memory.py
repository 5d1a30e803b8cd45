"""A step allocates no large arrays after warm-up (tracemalloc sees numpy's buffers)."""

from __future__ import annotations

import itertools
import tracemalloc
from typing import Any

import numpy as np
import pytest

from mg_optim import SGD, Adam, AdamW, RMSprop, SGD_Momentum, clip_grad_norm
from mg_tensor import Tensor, compute_graph

SIZES = (64, 256, 256, 10)  # ~85k parameters: one float32 copy is ~340 KB


def _mlp() -> tuple[list[Tensor], Any]:
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in itertools.pairwise(SIZES):
        w = rng.uniform(-1, 1, (fan_in, fan_out)) / np.sqrt(fan_in)
        params.append(Tensor(w, np.float32, requires_grad=True))
        params.append(Tensor(np.zeros(fan_out), np.float32, requires_grad=True))

    def loss_of(x: Tensor, y: Tensor) -> Tensor:
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = h.relu()
        return ((h - y) ** 2).mean()

    return params, loss_of


MAKERS = {
    "sgd": lambda ps: SGD(ps, lr=0.01),
    "sgd-momentum": lambda ps: SGD_Momentum(ps, 0.01, alpha=0.8),
    "sgd-everything": lambda ps: SGD(ps, lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "adam": lambda ps: Adam(ps, lr=1e-3, weight_decay=1e-4),
    "adamw": lambda ps: AdamW(ps, lr=1e-3),
    "rmsprop": lambda ps: RMSprop(ps, lr=1e-3, momentum=0.9, weight_decay=1e-4),
}


@pytest.mark.parametrize("mode", ["compiled", "eager"])
@pytest.mark.parametrize("name", list(MAKERS))
def test_step_allocates_almost_nothing(name: str, mode: str) -> None:
    params, loss_of = _mlp()
    opt = MAKERS[name](params)
    step_fn = compute_graph(loss_of) if mode == "compiled" else loss_of
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, SIZES[0])).astype(np.float32)
    y = rng.standard_normal((8, SIZES[-1])).astype(np.float32)

    def backprop() -> None:
        if mode == "compiled":
            step_fn(x, y).backprop()
        else:  # fresh eager gradients: each step copies them into the flat array
            step_fn(Tensor(x), Tensor(y)).backprop()

    for _ in range(3):  # warm-up: traces, compiles, allocates state and scratch
        backprop()
        clip_grad_norm(params, 1e9)
        opt.step(params)
    tracemalloc.start()
    try:
        for _ in range(5):
            backprop()
            for action in (lambda: opt.step(params), lambda: clip_grad_norm(params, 1e-3)):
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                action()
                peak = tracemalloc.get_traced_memory()[1] - base
                # a few KB of Python objects: handing the update's ranges to the threads
                assert peak < 16 * 1024, f"{name} ({mode}) allocated {peak} bytes"
    finally:
        tracemalloc.stop()
