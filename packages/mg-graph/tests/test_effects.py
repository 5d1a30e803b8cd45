"""Effect nodes, values kept through internal events, per-thread state and anomaly
detection in the runtime (issue 11)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pytest
from mg_graph_testops import CALLS, Add, Exp, Mul, Noise, Scale, Sum, calls

from mg_graph import (
    AnomalyError,
    Graph,
    Node,
    Op,
    Role,
    detect_anomaly,
    get_default_graph,
    named_scope,
)


@dataclass(frozen=True, eq=False)
class Tally(Op):
    """An effect: adds its input's sum to a counter leaf, in place."""

    counter: Any = field(repr=False)
    name: ClassVar[str] = "tally"
    pure: ClassVar[bool] = False
    effect: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> tuple[tuple[int, ...], np.dtype[Any]]:
        return (), inputs[0].dtype

    def forward(self, *arrays: Any, out: Any = None) -> Any:
        CALLS[self.name] += 1
        self.counter[...] += arrays[0].sum()
        result = np.asarray(self.counter.copy())
        if out is not None:
            out[...] = result
            return out
        return result


def test_an_effect_runs_once_with_the_computation_that_feeds_it_eagerly() -> None:
    g = Graph()
    counter = np.zeros(())
    x = g.leaf(np.ones(3), Role.INPUT)
    h = g.apply(Exp(), x)
    g.apply(Tally(counter), h)  # nobody reads it
    out = g.apply(Sum(), h)
    g.evaluate(out)
    g.evaluate(out)
    assert CALLS["tally"] == 1 and float(counter) == pytest.approx(3 * np.e)


def test_an_effect_runs_exactly_once_per_call_of_a_frozen_graph() -> None:
    g = Graph()
    counter = np.zeros(())
    with g.trace():
        x = g.leaf(np.ones(3), Role.INPUT)
        h = g.apply(Exp(), x)
        g.apply(Tally(counter), h)
        dead = g.apply(Scale(2.0), h)  # an ordinary dead node is removed
        out = g.apply(Sum(), h)
    g.freeze([out])
    assert "tally" in [n.op.name for n in g.nodes if n.op is not None]
    assert dead not in g.nodes
    for call in range(3):
        g.executor.new_call()
        g.write(x, np.full(3, float(call)))
        g.evaluate(out)
        g.evaluate(out)
    assert CALLS["tally"] == 3
    assert float(counter) == pytest.approx(3 * (1 + np.e + np.e**2))


def test_effects_are_never_merged_or_folded() -> None:
    g = Graph()
    counter = np.zeros(())
    c = g.leaf(np.ones(2))  # a constant input: fold would compute a pure node once
    first = g.apply(Tally(counter), c)
    second = g.apply(Tally(counter), c)
    out = g.apply(Add(), first, second)
    g.freeze([out])
    assert [n.op.name for n in g.nodes if n.op is not None].count("tally") == 2
    g.executor.new_call()
    g.evaluate(out)
    assert CALLS["tally"] == 2 and float(counter) == 4.0


def test_impure_ops_are_renewed_at_creation_and_at_every_call() -> None:
    renewed: list[int] = []

    class Counted(Noise):
        def renew(self) -> None:
            renewed.append(1)

    g = Graph()
    x = g.leaf(np.ones(2))
    g.apply(Counted(), x)
    assert len(renewed) == 1  # eager: when created
    frozen = Graph()
    with frozen.trace():
        out = frozen.apply(Counted(), frozen.leaf(np.ones(2), Role.INPUT))
    frozen.freeze([out])
    assert len(renewed) == 1  # not while tracing
    frozen.executor.new_call()
    frozen.executor.new_call()
    assert len(renewed) == 3


def test_no_internal_event_discards_a_computed_value() -> None:
    g = Graph()
    w = g.leaf(np.full(3, 2.0), Role.PARAMETER, "w")
    with g.trace():
        x = g.leaf(np.ones(3), Role.INPUT)
        noisy = g.apply(Noise(), x)
        mid = g.apply(Mul(), noisy, w)
        out = g.apply(Sum(), mid)
    g.freeze([out])
    g.executor.new_call()
    first = g.evaluate(out).copy()
    assert calls() == 3
    g.evaluate(mid)  # a new output: recompiled, values carried, nothing recomputed
    with g.gradients():
        dmid = g.apply(Scale(3.0), mid)
        g.add_outputs(dmid)  # the gradient subgraph: recompiled again
    g.evaluate(dmid)
    assert g.executor.bind_output(dmid, np.zeros(3))  # an optimiser pins a buffer
    Graph.rebind(w, np.full(3, 2.0))  # an optimiser takes over the parameter
    g.evaluate(out)
    np.testing.assert_array_equal(out.value, first)
    assert CALLS == {"noise": 1, "mul": 1, "sum": 1, "scale": 1}  # one draw, one forward
    np.testing.assert_allclose(g.evaluate(dmid), 3 * g.evaluate(mid))


def test_a_rebind_recompiles_exactly_the_schedules_that_bind_the_leaf() -> None:
    shared = Graph("model").leaf(np.ones(2), Role.PARAMETER, "shared")
    other = Graph("other").leaf(np.ones(2), Role.PARAMETER, "other")
    graphs = []
    for name, leaf in (("a", shared), ("b", shared), ("c", other)):
        g = Graph(name)
        with g.trace():
            out = g.apply(Exp(), leaf)
        g.freeze([out])
        g.evaluate(out)
        graphs.append((g, g.executor.plan))
    Graph.rebind(shared, np.zeros(2))
    replanned = [g.executor.plan is not plan for g, plan in graphs]
    assert replanned == [True, True, False]
    for g, _ in graphs[:2]:
        g.executor.new_call()
        np.testing.assert_array_equal(g.evaluate(g.outputs[0]), [1.0, 1.0])  # exp(0)


def test_default_graph_and_scopes_are_per_thread() -> None:
    mine = Graph("mine")
    seen: dict[str, Any] = {}

    def other() -> None:
        seen["graph"] = get_default_graph()
        with named_scope("theirs"):
            seen["scope"] = Graph().leaf(np.ones(1)).scope

    with mine.as_default(), named_scope("outer"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert get_default_graph() is mine
    assert seen["graph"] is not mine and seen["graph"].name == "default"
    assert seen["scope"] == ("theirs",)


def test_detect_anomaly_names_the_first_non_finite_node_eager_and_frozen() -> None:
    g = Graph()
    x = g.leaf(np.array([1.0, 800.0]), Role.INPUT)
    big = g.apply(Exp(), x)  # overflows: the first non-finite value
    out = g.apply(Scale(0.0), big)
    with np.errstate(all="ignore"):
        g.evaluate(out)  # off by default: no error
    frozen = Graph()
    with frozen.trace():
        fx = frozen.leaf(np.array([1.0, 800.0]), Role.INPUT)
        fout = frozen.apply(Scale(0.0), frozen.apply(Exp(), fx))
    frozen.freeze([fout])
    for graph, target in ((Graph(), None), (frozen, fout)):
        with detect_anomaly(), np.errstate(over="ignore"):
            if target is None:
                y = graph.apply(Exp(), graph.leaf(np.array([1.0, 800.0])))
                target = graph.apply(Scale(0.0), y)
            else:
                graph.executor.new_call()
            with pytest.raises(AnomalyError, match=r"exp: produced infinity") as info:
                graph.evaluate(target)
        assert "(2,)" in str(info.value) and __file__ in str(info.value)
