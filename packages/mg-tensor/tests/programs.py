"""Random tensor programs for differential tests (compiled with and without rewrites).

A program is a list of steps over a pool of (N, N) float64 values that starts with the
inputs and the parameters; each step applies one entry of `OPS` to values of the pool
and adds the result. The table is the extension point: to cover a new op, append an
`OpCase` whose ``build`` maps (N, N) operands to an (N, N) result (reduce, then
broadcast back; keep arguments in the op's domain, as ``divide`` and ``log`` do) and
whose ``params`` lists the choices of each static argument (the first is the example).
Entries written as the naive patterns the rewrites look for (softmax by hand, a value
computed twice, constant arithmetic) make every rewrite fire somewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

from mg_tensor import Tensor, where

N = 3  # every pool value is (N, N): square, so transposes and products keep the shape
LOW, HIGH = -2.0, 2.0  # input and parameter values


@dataclass(frozen=True)
class OpCase:
    """One entry of the op table: ``build(*operands, **params)`` -> an (N, N) tensor,
    ``params`` the choices of each static argument."""

    name: str
    arity: int
    build: Callable[..., Tensor]
    params: dict[str, Sequence[Any]] = field(default_factory=dict)

    def draw_params(self) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({k: st.sampled_from(v) for k, v in self.params.items()})

    def example_params(self) -> dict[str, Any]:
        return {k: v[0] for k, v in self.params.items()}


AXIS = {"axis": (0, 1)}


def _naive_softmax(x: Tensor, axis: int) -> Tensor:
    e = x.exp()
    return e / e.sum(axis=axis, keepdims=True)


OPS: list[OpCase] = [
    # elementwise, with broadcasting inside the entry where it reduces first
    OpCase("add", 2, lambda a, b: a + b),
    OpCase("subtract", 2, lambda a, b: a - b),
    OpCase("multiply", 2, lambda a, b: a * b),
    OpCase("divide", 2, lambda a, b: a / (b * b + 1.0)),
    OpCase("maximum", 2, lambda a, b: a.maximum(b)),
    OpCase("minimum", 2, lambda a, b: a.minimum(b)),
    OpCase("where", 2, lambda a, b: where(a > b, a, b * 2.0)),
    OpCase("negative", 1, lambda x: -x),
    OpCase("exp", 1, lambda x: x.exp()),
    OpCase("log", 1, lambda x: (x.abs() + 0.5).log()),
    OpCase("sqrt", 1, lambda x: (x * x + 1.0).sqrt()),
    OpCase("tanh", 1, lambda x: x.tanh()),
    OpCase("sigmoid", 1, lambda x: x.sigmoid()),
    OpCase("relu", 1, lambda x: x.relu()),
    OpCase("power", 1, lambda x, k: x**k, {"k": (2, 3)}),
    # reductions, broadcast back
    OpCase("sum", 1, lambda x, axis: x + x.sum(axis=axis, keepdims=True), AXIS),
    OpCase("mean", 1, lambda x, axis: x - x.mean(axis=axis, keepdims=True), AXIS),
    OpCase("max", 2, lambda a, b, axis: a * b.max(axis=axis, keepdims=True), AXIS),
    # linear algebra and views
    OpCase("matmul", 2, lambda a, b: (a @ b) / float(N)),
    OpCase("transpose", 1, lambda x: x.T),
    OpCase("reshape", 1, lambda x: x.reshape(N * N).reshape(N, N)),
    # the patterns the rewrites exist for
    OpCase("softmax_by_hand", 1, _naive_softmax, AXIS),
    OpCase("log_softmax_by_hand", 1, lambda x, axis: _naive_softmax(x, axis).log(), AXIS),
    OpCase(
        "softmax_exp_twice",
        1,
        lambda x, axis: x.exp() / x.exp().sum(axis=axis, keepdims=True),
        AXIS,
    ),
    OpCase(
        "constant_arithmetic",
        1,
        lambda x, c: x * (Tensor(np.float64(c)) * Tensor(np.float64(2.0)) + 1.0),
        {"c": (0.5, -1.5, 2.0)},
    ),
    OpCase("computed_twice", 1, lambda x: x.tanh() * 2.0 + x.tanh()),
]


@dataclass(frozen=True)
class Step:
    case: OpCase
    operands: tuple[int, ...]
    params: dict[str, Any]


@dataclass(frozen=True)
class Program:
    """Inputs and parameters (arrays), the steps, and which pool values it returns."""

    inputs: list[NDArray[np.float64]]
    params: list[NDArray[np.float64]]
    steps: list[Step]
    returned: list[int]

    def run(self, inputs: Sequence[Tensor], params: Sequence[Tensor]) -> tuple[Tensor, ...]:
        """The loss (a scalar that reads every returned value), then the returned values."""
        pool = [*inputs, *params]
        for step in self.steps:
            pool.append(step.case.build(*(pool[i] for i in step.operands), **step.params))
        outputs = [pool[i] for i in self.returned]
        loss = pool[-1].sum()
        for k, value in enumerate(outputs):
            loss = loss + (value * float(k + 2)).mean()
        return (loss, *outputs)

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        names = [f"x{i}" for i in range(len(self.inputs))]
        names += [f"p{i}" for i in range(len(self.params))]
        lines = []
        for step in self.steps:
            args = ", ".join(
                [names[i] for i in step.operands] + [f"{k}={v!r}" for k, v in step.params.items()]
            )
            names.append(f"v{len(lines)}")
            lines.append(f"{names[-1]} = {step.case.name}({args})")
        lines.append(f"return {[names[i] for i in self.returned]}")
        return "\n".join(lines)


def table_program(ops: Sequence[OpCase] = OPS) -> Program:
    """One program applying every entry of ``ops`` once, with its example parameters."""
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(LOW, HIGH, (N, N)) for _ in range(4)]
    steps = [Step(case, (0, 2, 1)[: case.arity], case.example_params()) for case in ops]
    return Program(arrays[:2], arrays[2:], steps, list(range(4, 4 + len(steps))))


def _array() -> st.SearchStrategy[NDArray[np.float64]]:
    values = st.floats(LOW, HIGH, allow_nan=False, allow_infinity=False)
    return st.lists(values, min_size=N * N, max_size=N * N).map(
        lambda v: np.array(v, np.float64).reshape(N, N)
    )


@st.composite
def programs(draw: st.DrawFn, ops: Sequence[OpCase] = OPS, max_steps: int = 8) -> Program:
    """A random program of up to ``max_steps`` steps over ops drawn from ``ops``."""
    inputs = [draw(_array()) for _ in range(2)]
    params = [draw(_array()) for _ in range(2)]
    steps: list[Step] = []
    size = len(inputs) + len(params)
    for _ in range(draw(st.integers(1, max_steps))):
        case = draw(st.sampled_from(ops))
        operands = tuple(draw(st.integers(0, size - 1)) for _ in range(case.arity))
        steps.append(Step(case, operands, draw(case.draw_params())))
        size += 1
    returned = draw(st.lists(st.integers(0, size - 1), max_size=3))
    return Program(inputs, params, steps, returned)
