"""Random tensor programs over the whole op set, for differential tests.

A program is a list of steps over a pool of (N, N) float64 values that starts with the
inputs and the parameters; each step applies one entry of `OPS` to values of the pool
and adds the result. Every entry has two readings: ``build`` on Tensors and
``reference`` on numpy arrays, so one program runs compiled, eager and as plain numpy.

`OPS` is the hand-written `CASES` (the naive patterns the rewrites look for: softmax
by hand, a value computed twice, constant arithmetic) followed by one entry per spec of
the op table (`op_table.OPS`), adapted by `from_spec`: the (N, N) operands are folded
into the spec's shapes and into its domain (``values`` and ``ranges``), the spec's
call is applied, and its result is folded back into (N, N). To cover a new op, add it
to the op table; to make a new rewrite fire, add a `CASES` entry written as the pattern
it matches (``params`` lists the choices of each static argument, the first is the
example).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray
from op_table import OPS as SPECS
from op_table import OpSpec

import mg_tensor as mt
from mg_tensor import Tensor, where

N = 3  # every pool value is (N, N): square, so transposes and products keep the shape
LOW, HIGH = -2.0, 2.0  # input and parameter values
Array = NDArray[Any]


@dataclass(frozen=True)
class OpCase:
    """One entry of the op table: ``build(*operands, **params)`` -> an (N, N) tensor,
    ``reference(*arrays, **params)`` the same in numpy, ``params`` the choices of each
    static argument. ``differentiable=False``: ``build`` detaches its operands (the op
    has no gradient), so central differences must hold its value fixed too."""

    name: str
    arity: int
    build: Callable[..., Tensor]
    reference: Callable[..., Array]
    params: dict[str, Sequence[Any]] = field(default_factory=dict)
    differentiable: bool = True

    def draw_params(self) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({k: st.sampled_from(v) for k, v in self.params.items()})

    def example_params(self) -> dict[str, Any]:
        return {k: v[0] for k, v in self.params.items()}


AXIS: dict[str, Sequence[Any]] = {"axis": (0, 1)}


def _naive_softmax(x: Tensor, axis: int) -> Tensor:
    e = x.exp()
    return e / e.sum(axis=axis, keepdims=True)


def _np_softmax(x: Array, axis: int) -> Array:
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)  # type: ignore[no-any-return]


CASES: list[OpCase] = [
    # elementwise, with broadcasting inside the entry where it reduces first
    OpCase("add", 2, lambda a, b: a + b, np.add),
    OpCase("subtract", 2, lambda a, b: a - b, np.subtract),
    OpCase("multiply", 2, lambda a, b: a * b, np.multiply),
    OpCase("divide", 2, lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0)),
    OpCase("maximum", 2, lambda a, b: a.maximum(b), np.maximum),
    OpCase("minimum", 2, lambda a, b: a.minimum(b), np.minimum),
    OpCase(
        "where_greater",
        2,
        lambda a, b: where(a > b, a, b * 2.0),
        lambda a, b: np.where(a > b, a, b * 2.0),
    ),
    OpCase("negative", 1, lambda x: -x, np.negative),
    OpCase("exp", 1, lambda x: x.exp(), np.exp),
    OpCase("log", 1, lambda x: (x.abs() + 0.5).log(), lambda x: np.log(np.abs(x) + 0.5)),
    OpCase("sqrt", 1, lambda x: (x * x + 1.0).sqrt(), lambda x: np.sqrt(x * x + 1.0)),
    OpCase("tanh", 1, lambda x: x.tanh(), np.tanh),
    OpCase("sigmoid", 1, lambda x: x.sigmoid(), lambda x: 1.0 / (1.0 + np.exp(-x))),
    OpCase("relu", 1, lambda x: x.relu(), lambda x: np.maximum(x, 0.0)),
    OpCase("power", 1, lambda x, k: x**k, lambda x, k: x**k, {"k": (2, 3)}),
    # reductions, broadcast back
    OpCase(
        "sum",
        1,
        lambda x, axis: x + x.sum(axis=axis, keepdims=True),
        lambda x, axis: x + x.sum(axis=axis, keepdims=True),
        AXIS,
    ),
    OpCase(
        "mean",
        1,
        lambda x, axis: x - x.mean(axis=axis, keepdims=True),
        lambda x, axis: x - x.mean(axis=axis, keepdims=True),
        AXIS,
    ),
    OpCase(
        "max",
        2,
        lambda a, b, axis: a * b.max(axis=axis, keepdims=True),
        lambda a, b, axis: a * b.max(axis=axis, keepdims=True),
        AXIS,
    ),
    # linear algebra and views
    OpCase("matmul", 2, lambda a, b: (a @ b) / float(N), lambda a, b: (a @ b) / float(N)),
    OpCase("transpose", 1, lambda x: x.T, np.transpose),
    OpCase("reshape", 1, lambda x: x.reshape(N * N).reshape(N, N), lambda x: x.copy()),
    # the patterns the rewrites exist for
    OpCase("softmax_by_hand", 1, _naive_softmax, _np_softmax, AXIS),
    OpCase(
        "log_softmax_by_hand",
        1,
        lambda x, axis: _naive_softmax(x, axis).log(),
        lambda x, axis: np.log(_np_softmax(x, axis)),
        AXIS,
    ),
    OpCase(
        "softmax_exp_twice",
        1,
        lambda x, axis: x.exp() / x.exp().sum(axis=axis, keepdims=True),
        _np_softmax,
        AXIS,
    ),
    OpCase(
        "relu_then_max",
        1,
        # shifted: a relu of its own, which no other entry's relu is merged with
        lambda x, axis: (x - 0.25).relu().max(axis=axis, keepdims=True).expand((N, N)),
        lambda x, axis: np.broadcast_to(
            np.maximum(x - 0.25, 0).max(axis, keepdims=True), (N, N)
        ).copy(),
        AXIS,
    ),
    OpCase(
        "constant_arithmetic",
        1,
        lambda x, c: x * (Tensor(np.float64(c)) * Tensor(np.float64(2.0)) + 1.0),
        lambda x, c: x * (c * 2.0 + 1.0),
        {"c": (0.5, -1.5, 2.0)},
    ),
    OpCase(
        "computed_twice",
        1,
        lambda x: x.tanh() * 2.0 + x.tanh(),
        lambda x: np.tanh(x) * 2.0 + np.tanh(x),
    ),
]


# ---------------------------------------------------------------- op table entries
# Folding a pool value into a spec's operand and its result back, written once for
# ``xp`` = mg_tensor and numpy alike, so the two readings compute the same numbers.
def _distinct_grid(name: str, size: int) -> Array:
    """Values 0.25 apart and at least 0.1 from 0; a 0.05 wiggle keeps them tie-free."""
    order = np.random.default_rng(zlib.crc32(name.encode())).permutation(size)
    return (order - size / 2) * 0.25 + 0.1


def _fit(xp: Any, flat: Any, size: int) -> Any:
    """The first ``size`` values of ``flat`` repeated cyclically."""
    copies = math.ceil(size / flat.shape[0])
    return (xp.concatenate([flat] * copies, 0) if copies > 1 else flat)[:size]


def _operand(xp: Any, spec: OpSpec, i: int, x: Any) -> Any:
    """Pool value ``x`` as operand ``i`` of ``spec``: its shape, dtype and domain."""
    shape = spec.shapes[i]
    v = _fit(xp, x.reshape(-1), math.prod(shape)).reshape(shape)
    if spec.values == "bool":
        return v > 0.0
    sigmoid = 1.0 / (1.0 + xp.exp(-v))
    if spec.values == "int":  # 0..7
        return xp.minimum(xp.floor(sigmoid * 8.0), 7.0).astype(np.int64)
    if spec.values == "distinct":
        return xp.tanh(v) * 0.05 + _distinct_grid(spec.name, math.prod(shape)).reshape(shape)
    low, high = spec.range_of(i)
    return sigmoid * (high - low) + low


def _back(xp: Any, y: Any) -> Any:
    """Any result as (N, N) float64: repeated if smaller, summed in blocks if larger."""
    flat = y.astype(np.float64).reshape(-1)
    if flat.shape[0] <= N * N:
        return _fit(xp, flat, N * N).reshape(N, N)
    blocks = math.ceil(flat.shape[0] / (N * N))
    padded = xp.concatenate([flat, np.zeros(blocks * N * N - flat.shape[0])], 0)
    return padded.reshape(blocks, N * N).sum(axis=0).reshape(N, N)


def _call(spec: OpSpec, fn: Callable[..., Any], operands: Sequence[Any]) -> Any:
    if spec.kind == "reduction":
        axis, keepdims = spec.args
        return fn(*operands, axis=axis, keepdims=keepdims)
    return fn(*operands, *spec.args)


def from_spec(spec: OpSpec) -> OpCase:
    """The op table's ``spec`` as a program step on (N, N) values. Ops without a
    gradient see detached operands (the program's gradients are checked)."""

    def build(*xs: Tensor) -> Tensor:
        operands = [_operand(mt, spec, i, x if spec.grad else x.detach()) for i, x in enumerate(xs)]
        return _back(mt, _call(spec, spec.ours, operands))  # type: ignore[no-any-return]

    def reference(*xs: Array) -> Array:
        operands = [_operand(np, spec, i, x) for i, x in enumerate(xs)]
        return _back(np, np.asarray(_call(spec, spec.reference, operands)))  # type: ignore[no-any-return]

    return OpCase(spec.name, len(spec.shapes), build, reference, differentiable=spec.grad)


OPS: list[OpCase] = CASES + [from_spec(spec) for spec in SPECS]
NAMES = [case.name for case in OPS]
assert len(set(NAMES)) == len(NAMES), "op case names must be unique"


@dataclass(frozen=True)
class Step:
    case: OpCase
    operands: tuple[int, ...]
    params: dict[str, Any]


def _loss(values: Sequence[Any]) -> Any:
    """A scalar that reads every value, each with its own weight: every step's
    gradient reaches the parameters."""
    loss = values[0].mean()
    for k, value in enumerate(values[1:]):
        loss = loss + (value * float(k + 2)).mean()
    return loss


@dataclass(frozen=True)
class Program:
    """Inputs and parameters (arrays), the steps, and which pool values it returns."""

    inputs: list[NDArray[np.float64]]
    params: list[NDArray[np.float64]]
    steps: list[Step]
    returned: list[int]

    def run(self, inputs: Sequence[Tensor], params: Sequence[Tensor]) -> tuple[Tensor, ...]:
        """The loss (a scalar that reads every step's value), then the returned values."""
        pool = [*inputs, *params]
        for step in self.steps:
            pool.append(step.case.build(*(pool[i] for i in step.operands), **step.params))
        outputs = [pool[i] for i in self.returned]
        return (_loss([*pool[len(inputs) + len(params) :], *outputs]), *outputs)

    def run_numpy(
        self,
        inputs: Sequence[Array],
        params: Sequence[Array],
        frozen: Mapping[int, Array] | None = None,
    ) -> tuple[Array, ...]:
        """`run` read in numpy: the reference of every step; ``frozen`` gives the values
        of some steps (by index) instead."""
        pool = self.numpy_pool(inputs, params, frozen)
        outputs = [pool[i] for i in self.returned]
        return (np.asarray(_loss([*pool[len(inputs) + len(params) :], *outputs])), *outputs)

    def numpy_pool(
        self,
        inputs: Sequence[Array],
        params: Sequence[Array],
        frozen: Mapping[int, Array] | None = None,
    ) -> list[Array]:
        """Every value of the program in numpy: inputs, parameters, then each step's."""
        pool = [*inputs, *params]
        for k, step in enumerate(self.steps):
            if frozen is not None and k in frozen:
                pool.append(frozen[k])
            else:
                pool.append(step.case.reference(*(pool[i] for i in step.operands), **step.params))
        return pool

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        names = [f"x{i}" for i in range(len(self.inputs))]
        names += [f"p{i}" for i in range(len(self.params))]
        lines: list[str] = []
        for step in self.steps:
            args = ", ".join(
                [names[i] for i in step.operands] + [f"{k}={v!r}" for k, v in step.params.items()]
            )
            names.append(f"v{len(lines)}")
            lines.append(f"{names[-1]} = {step.case.name}({args})")
        lines.append(f"return {[names[i] for i in self.returned]}")
        return "\n".join(lines)


def table_program(ops: Sequence[OpCase] = CASES) -> Program:
    """One program applying every entry of ``ops`` once, with its example parameters."""
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(LOW, HIGH, (N, N)) for _ in range(4)]
    steps = [Step(case, (0, 2, 1)[: case.arity], case.example_params()) for case in ops]
    return Program(arrays[:2], arrays[2:], steps, list(range(4, 4 + len(steps))))


def _array() -> st.SearchStrategy[NDArray[np.float64]]:
    """Generic values from a drawn seed: hypothesis's favourite floats (0, 1, 0.5...)
    sit on the steps of floor, round and sign, where central differences are void."""
    return st.integers(0, 2**32 - 1).map(
        lambda seed: np.random.default_rng(seed).uniform(LOW, HIGH, (N, N))
    )


@st.composite
def programs(
    draw: st.DrawFn,
    ops: Sequence[OpCase] = OPS,
    max_steps: int = 8,
    include: Sequence[OpCase] = (),
) -> Program:
    """A random program of up to ``max_steps`` steps over ops drawn from ``ops``, plus
    one step of each op of ``include``, in a drawn order."""
    inputs = [draw(_array()) for _ in range(2)]
    params = [draw(_array()) for _ in range(2)]
    cases = [draw(st.sampled_from(ops)) for _ in range(draw(st.integers(1, max_steps)))]
    cases = draw(st.permutations([*include, *cases]))
    steps: list[Step] = []
    size = len(inputs) + len(params)
    for case in cases:
        low = len(inputs) if case in include else 0  # an op under test sees the parameters
        operands = tuple(draw(st.integers(low, size - 1)) for _ in range(case.arity))
        steps.append(Step(case, operands, draw(case.draw_params())))
        size += 1
    returned = draw(st.lists(st.integers(0, size - 1), max_size=3))
    return Program(inputs, params, steps, returned)
