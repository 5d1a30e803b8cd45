"""Random programs over the whole op set (programs.py): values compiled = eager = numpy,
gradients compiled = eager = float64 central differences, and compiled with the
default passes = compiled with none (rtol 1e-5, atol 1e-6) wherever the unoptimised
result is finite (a stability rewrite may turn a NaN into a number).

Every op is drawn: the ops are dealt into `GROUPS` and each example of a group's test
holds one step of each op of the group among random others; the last test fails if
some op of the table was never drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from mgt_support import SETTINGS
from numpy.typing import NDArray
from programs import CASES, NAMES, OPS, OpCase, Program, programs, table_program

from mg_tensor import Tensor, compute_graph, grad
from mg_tensor.rewrites import DEFAULT_PASSES

Results = list[NDArray[Any] | None]
Array = NDArray[Any]

RTOL, ATOL = 1e-5, 1e-6
GROUPS: list[list[OpCase]] = [OPS[i::24] for i in range(24)]  # dealt: mixed families
DRAWN: set[str] = set()  # the ops the programs held, and the groups that ran
RAN: set[int] = set()
PROGRAM_SETTINGS = settings(
    SETTINGS,
    max_examples=max(1, SETTINGS.max_examples // 12),  # 3, times 24 groups
    derandomize=True,  # the same programs on every run: CI stays reproducible
)


def _compile_and_run(program: Program, optimize: bool) -> tuple[Results, dict[str, int]]:
    """Values and parameter gradients of two calls (the second replays the trace)."""
    params = [Tensor(p.copy(), requires_grad=True) for p in program.params]

    @compute_graph(optimize=optimize)
    def f(x0: Tensor, x1: Tensor) -> tuple[Tensor, ...]:
        return program.run([x0, x1], params)

    results: Results = []
    for inputs in _input_sets(program):
        loss, *outputs = f(*inputs)
        loss.backprop()
        results += [t.data.copy() for t in (loss, *outputs)]
        results += [None if p.grad is None else p.grad.data.copy() for p in params]
    return results, f.graph.rewrites


def _input_sets(program: Program) -> list[list[Array]]:
    return [program.inputs, [x[::-1].copy() for x in program.inputs]]


def _eager(program: Program) -> Results:
    """`_compile_and_run` without the compiler: gradients by `grad`."""
    results: Results = []
    for inputs in _input_sets(program):
        params = [Tensor(p.copy(), requires_grad=True) for p in program.params]
        loss, *outputs = program.run([Tensor(x) for x in inputs], params)
        grads = grad(loss, params, allow_unused=True)
        results += [t.data.copy() for t in (loss, *outputs)]
        results += [None if g is None else g.data.copy() for g in grads]
    return results


def _numpy(program: Program) -> Results:
    """The values of `_compile_and_run` in numpy (gradients left as None)."""
    results: Results = []
    for inputs in _input_sets(program):
        values = program.run_numpy(inputs, program.params)
        results += [np.asarray(v) for v in values]
        results += [None] * len(program.params)
    return results


def _assert_close(got: Array, want: Array, same_nonfinite: bool = True) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    finite = np.isfinite(want)
    if same_nonfinite:
        np.testing.assert_array_equal(np.isfinite(got), finite)
    np.testing.assert_allclose(got[finite], want[finite], rtol=RTOL, atol=ATOL)


def _assert_equivalent(got: Results, want: Results, same_nonfinite: bool = False) -> None:
    """Element for element; a missing gradient (None) counts as zeros."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if g is None and w is None:
            continue
        if g is None or w is None:
            known = w if g is None else g
            assert known is not None
            assert not np.any(known), "a gradient is missing on one side only"
            continue
        _assert_close(g, w, same_nonfinite)


def _values(results: Results, program: Program) -> Results:
    """Only the values (the loss and the outputs) of each call, not the gradients."""
    per_call = 1 + len(program.returned) + len(program.params)
    return [r for k, r in enumerate(results) if k % per_call < per_call - len(program.params)]


def _assert_central_differences(program: Program, eager: Results, directions: int = 3) -> None:
    """The eager gradient along a few random directions against float64 central
    differences of the numpy program, at two step sizes; where they disagree the loss
    is not smooth there (a floor, a comparison, a kink within reach) and the direction
    says nothing."""
    per_call = 1 + len(program.returned) + len(program.params)
    grads = eager[per_call - len(program.params) : per_call]
    pairs = zip(program.params, grads, strict=True)
    symbolic = [np.zeros_like(p) if g is None else g for p, g in pairs]
    if not all(np.all(np.isfinite(g)) for g in symbolic):
        return

    pool = program.numpy_pool(program.inputs, program.params)
    first = len(program.inputs) + len(program.params)
    frozen = {  # what has no gradient is a constant to the derivative too
        k: pool[first + k] for k, step in enumerate(program.steps) if not step.case.differentiable
    }

    def loss(shift: Sequence[Array], h: float) -> float:
        params = [p + h * d for p, d in zip(program.params, shift, strict=True)]
        return float(program.run_numpy(program.inputs, params, frozen)[0])

    def slope(d: Sequence[Array], h: float) -> float:
        return (loss(d, h) - loss(d, -h)) / (2 * h)

    rng = np.random.default_rng(0)
    for _ in range(directions):
        d = [rng.standard_normal(p.shape) for p in program.params]
        numeric = slope(d, 1e-6)
        finer = slope(d, 1e-7)
        value = loss(d, 0.0)
        tol = 1e-4 * (1.0 + abs(numeric)) + 1e-9 * abs(value)
        if not np.isfinite([numeric, finer, value]).all() or abs(numeric - finer) > tol:
            continue
        expected = sum(float(np.sum(g * v)) for g, v in zip(symbolic, d, strict=True))
        assert abs(expected - numeric) <= tol, (expected, numeric, finer)


def check_program(program: Program) -> None:
    with np.errstate(all="ignore"):
        reference, rewrites = _compile_and_run(program, optimize=False)
        optimized, _ = _compile_and_run(program, optimize=True)
        eager = _eager(program)
        values = _numpy(program)
        assert rewrites == {}
        _assert_equivalent(optimized, reference)
        _assert_equivalent(reference, eager, same_nonfinite=True)
        _assert_equivalent(_values(eager, program), _values(values, program), same_nonfinite=True)
        _assert_central_differences(program, eager)


@pytest.mark.parametrize("k", range(len(GROUPS)), ids=[f"group{k}" for k in range(len(GROUPS))])
@PROGRAM_SETTINGS
@given(data=st.data())
def test_random_programs_agree_everywhere(k: int, data: st.DataObject) -> None:
    program = data.draw(programs(max_steps=3, include=GROUPS[k]), label="program")
    note(repr(program))
    DRAWN.update(step.case.name for step in program.steps)
    check_program(program)
    RAN.add(k)


@SETTINGS
@given(programs(ops=CASES))
def test_rewrite_patterns_agree_everywhere(program: Program) -> None:
    """The hand-written entries alone, densely: the patterns the rewrites match meet."""
    check_program(program)


def test_the_table_fires_every_rule_and_agrees() -> None:
    """Every hand-written entry once, in one program: every rule of the default passes
    fires."""
    program = table_program()
    with np.errstate(all="ignore"):
        optimized, rewrites = _compile_and_run(program, optimize=True)
        reference, _ = _compile_and_run(program, optimize=False)
    _assert_equivalent(optimized, reference)
    rules = {rule.__name__ for stage in DEFAULT_PASSES for rule in stage.rules}
    assert rules <= set(rewrites), rules - set(rewrites)


def test_every_op_of_the_table_was_drawn() -> None:
    """Runs after the program tests (file order): each op of the groups that ran was
    part of some program, and the groups hold every op."""
    assert {case.name for group in GROUPS for case in group} == set(NAMES)
    if not RAN:
        pytest.skip("the random-program tests did not run in this session")
    expected = {case.name for k in RAN for case in GROUPS[k]}
    assert expected <= DRAWN, sorted(expected - DRAWN)
    if len(RAN) == len(GROUPS):
        assert set(NAMES) <= DRAWN, sorted(set(NAMES) - DRAWN)
