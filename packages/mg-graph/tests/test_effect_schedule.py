"""Effect ops: a frozen schedule computes effect outputs as early as their inputs allow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Graph, Node, Op, Role

LOG: list[str] = []


@dataclass(frozen=True)
class Step(Op):
    """Doubles its input and logs its tag when it runs."""

    name: ClassVar[str] = "step"
    tag: str = ""

    def infer(self, *inputs: Node) -> tuple[tuple[int, ...], np.dtype[Any]]:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        LOG.append(self.tag)
        return np.multiply(arrays[0], 2, out=out)


@dataclass(frozen=True)
class Start(Step):
    """An effect (say, starting a collective on its input)."""

    name: ClassVar[str] = "start"
    pure: ClassVar[bool] = False
    effect: ClassVar[bool] = True


def _graph(effect: type[Step]) -> tuple[Graph, Node]:
    g = Graph("effects")
    x = g.leaf(np.ones(3), Role.INPUT, "x")
    early = g.apply(Step(tag="early"), x)
    started = g.apply(effect(tag="effect"), early)
    late = x
    for i in range(4):  # work the effect does not depend on
        late = g.apply(Step(tag=f"late{i}"), late)
    g.freeze([late, started])  # the effect is listed last
    return g, x


def test_an_effect_runs_as_soon_as_its_inputs_exist() -> None:
    g, x = _graph(Start)
    for _ in range(2):
        LOG.clear()
        g.executor.new_call()
        g.write(x, np.ones(3))
        g.compute()
        assert LOG == ["early", "effect", "late0", "late1", "late2", "late3"]


def test_without_the_flag_the_outputs_order_rules() -> None:
    g, _ = _graph(Step)
    LOG.clear()
    g.realize()
    assert LOG == ["late0", "late1", "late2", "late3", "early", "effect"]
