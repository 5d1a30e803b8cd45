"""Time one optimiser step on the README MLP (784-1024-1024-1024-10, float32, ~2.9M
parameters) against hand-written numpy updates over flat arrays of the same size.

    uv run python packages/mg-optim/benchmarks/step_time.py

Gradients come from a frozen graph (``compute_graph``), so they already sit in the
optimiser's flat gradient array; the "eager gradients" rows add the copy-in of
gradients that live elsewhere. "tiny" rows use the same 8 parameters at a tiny size:
the fixed Python overhead of a step.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import numpy as np

from mg_optim import SGD, Adam, Optimizer, SGD_Momentum
from mg_tensor import Tensor, compute_graph

SIZES = (784, 1024, 1024, 1024, 10)
TINY = (8, 8, 8, 8, 2)  # the same 8 parameters, ~250 floats


def measure(
    candidates: dict[str, Callable[[], object]], repeat: int = 15, number: int = 20
) -> dict[str, float]:
    """Best milliseconds per call of each candidate; candidates are interleaved so that
    load from other processes hits them alike."""
    for fn in candidates.values():
        for _ in range(5):
            fn()
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(repeat):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / number * 1e3)
    return best


def make_params(sizes: tuple[int, ...]) -> list[Tensor]:
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        shape = (fan_in, fan_out)
        params.append(Tensor(rng.uniform(-0.05, 0.05, shape), np.float32, requires_grad=True))
        params.append(Tensor(np.zeros(fan_out), np.float32, requires_grad=True))
    return params


def frozen_gradients(params: list[Tensor]) -> None:
    """Run forward + backward once in a frozen graph (gradients land in the slots)."""

    @compute_graph
    def loss_of(x: Tensor) -> Tensor:
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = h.relu()
        return (h * h).mean()

    x = np.random.default_rng(1).standard_normal((16, params[0].shape[0])).astype(np.float32)
    loss_of(x).backprop()


def numpy_rows(n: int) -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32) * 1e-3
    m = np.zeros(n, np.float32)
    v = np.zeros(n, np.float32)
    s = np.empty(n, np.float32)
    lr, alpha = 1e-3, 0.8

    def three_ufunc() -> None:  # m = alpha m + g; p -= lr m (lr * m is a temporary)
        m.__imul__(alpha)
        m.__iadd__(g)
        p.__isub__(lr * m)

    def four_ufunc() -> None:  # the same, allocation-free
        np.multiply(m, alpha, out=m)
        np.add(m, g, out=m)
        np.multiply(m, lr, out=s)
        np.subtract(p, s, out=p)

    def adam() -> None:  # a minimal hand-written Adam over flat arrays (t fixed)
        np.multiply(m, 0.9, out=m)
        np.multiply(g, 0.1, out=s)
        np.add(m, s, out=m)
        np.multiply(v, 0.999, out=v)
        np.multiply(g, g, out=s)
        np.multiply(s, 0.001, out=s)
        np.add(v, s, out=v)
        np.sqrt(v, out=s)
        np.add(s, 1e-8, out=s)
        np.divide(m, s, out=s)
        np.multiply(s, lr, out=s)
        np.subtract(p, s, out=p)

    return {
        "numpy SGD-momentum, 3 ufunc statements (1 temporary)": three_ufunc,
        "numpy SGD-momentum, 4 ufuncs with out= (no allocation)": four_ufunc,
        "numpy Adam, 12 ufuncs with out=": adam,
    }


def optimizer_row(
    make: Callable[[list[Tensor]], Optimizer], sizes: tuple[int, ...] = SIZES
) -> Callable[[], object]:
    params = make_params(sizes)
    opt = make(params)
    frozen_gradients(params)
    return lambda: opt.step(params)


def eager_row(make: Callable[[list[Tensor]], Optimizer]) -> Callable[[], object]:
    params = make_params(SIZES)
    opt = make(params)
    rng = np.random.default_rng(2)
    for p in params:  # gradients that live outside the flat array: copied in every step
        p.grad = Tensor(rng.standard_normal(p.shape).astype(np.float32))
    return lambda: opt.step()


def main() -> None:
    n = sum(a * b + b for a, b in itertools.pairwise(SIZES))
    print(f"README MLP {'-'.join(map(str, SIZES))}: {n:,} float32 parameters\n")
    rows = numpy_rows(n)
    rows["mg_optim SGD_Momentum(alpha=0.8).step(params)"] = optimizer_row(
        lambda ps: SGD_Momentum(ps, 1e-3, alpha=0.8)
    )
    rows["mg_optim SGD(lr) (no momentum)"] = optimizer_row(lambda ps: SGD(ps, lr=1e-3))
    rows["mg_optim Adam"] = optimizer_row(lambda ps: Adam(ps, lr=1e-3))
    rows["mg_optim SGD_Momentum, eager gradients (copy-in)"] = eager_row(
        lambda ps: SGD_Momentum(ps, 1e-3, alpha=0.8)
    )
    rows["mg_optim Adam, eager gradients (copy-in)"] = eager_row(lambda ps: Adam(ps, lr=1e-3))
    rows["mg_optim SGD_Momentum, tiny (Python overhead)"] = optimizer_row(
        lambda ps: SGD_Momentum(ps, 1e-3, alpha=0.8), TINY
    )
    rows["mg_optim Adam, tiny (Python overhead)"] = optimizer_row(
        lambda ps: Adam(ps, lr=1e-3), TINY
    )
    best = measure(rows)
    width = max(map(len, rows))
    for name, ms in best.items():
        print(f"{name:<{width}}  {ms:8.3f} ms")


if __name__ == "__main__":
    main()
