"""Differential test of the rewrites: random programs compiled with the default passes
and with none give the same values and gradients (rtol 1e-5, atol 1e-6) wherever the
unoptimised result is finite (a stability rewrite may turn a NaN into a number)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from mgt_support import SETTINGS
from numpy.typing import NDArray
from programs import Program, programs, table_program

from mg_tensor import Tensor, compute_graph
from mg_tensor.rewrites import DEFAULT_PASSES

Results = list[NDArray[Any] | None]


def _compile_and_run(program: Program, optimize: bool) -> tuple[Results, dict[str, int]]:
    """Values and parameter gradients of two calls (the second replays the trace)."""
    params = [Tensor(p.copy(), requires_grad=True) for p in program.params]

    @compute_graph(optimize=optimize)
    def f(x0: Tensor, x1: Tensor) -> tuple[Tensor, ...]:
        return program.run([x0, x1], params)

    results: Results = []
    for inputs in (program.inputs, [x[::-1].copy() for x in program.inputs]):
        loss, *outputs = f(*inputs)
        loss.backprop()
        results += [t.data.copy() for t in (loss, *outputs)]
        results += [None if p.grad is None else p.grad.data.copy() for p in params]
    return results, f.graph.rewrites


def _assert_equivalent(optimized: Results, reference: Results) -> None:
    assert len(optimized) == len(reference)
    for got, want in zip(optimized, reference, strict=True):
        assert (got is None) == (want is None)
        if got is None or want is None:
            continue
        assert got.shape == want.shape and got.dtype == want.dtype
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-5, atol=1e-6)


@SETTINGS
@given(programs())
def test_rewrites_keep_values_and_gradients(program: Program) -> None:
    with np.errstate(all="ignore"):
        optimized, _ = _compile_and_run(program, optimize=True)
        reference, rewrites = _compile_and_run(program, optimize=False)
    assert rewrites == {}
    _assert_equivalent(optimized, reference)


def test_the_table_fires_every_rule_and_agrees() -> None:
    """Every entry once, in one program: every rule of the default passes fires."""
    program = table_program()
    with np.errstate(all="ignore"):
        optimized, rewrites = _compile_and_run(program, optimize=True)
        reference, _ = _compile_and_run(program, optimize=False)
    _assert_equivalent(optimized, reference)
    rules = {rule.__name__ for stage in DEFAULT_PASSES for rule in stage.rules}
    assert rules <= set(rewrites), rules - set(rewrites)
