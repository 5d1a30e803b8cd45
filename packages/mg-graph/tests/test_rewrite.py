"""The rewrite mechanism: Graph.replace, rules, stages, the driver and its records."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
from mg_graph_testops import CALLS, Add, Exp, Mul, Noise, Reshape, Scale, Sum
from numpy.typing import NDArray

from mg_graph import (
    GENERIC_PASSES,
    Alias,
    Constant,
    Graph,
    Node,
    Op,
    Rewrite,
    RewriteError,
    Role,
    Stage,
    Sweep,
    rewrite,
)
from mg_graph.passes import CSE, DCE, FOLD
from mg_graph.rewrite import FREEZE


@dataclass(frozen=True)
class Record(Op):
    """An effect op (a stand-in for a state update): passes its input through."""

    name: ClassVar[str] = "record"
    effect: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> tuple[tuple[int, ...], np.dtype[Any]]:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        if out is None:
            return arrays[0].copy()
        np.copyto(out, arrays[0])
        return out


def exp_to_scale(node: Node, sweep: Sweep) -> Rewrite | None:
    """A wrong rule: exp(x) -> 2 x (same shape and dtype), to watch the driver work."""
    return Rewrite(Scale(2.0), node.inputs) if isinstance(node.op, Exp) else None


def _frozen(outputs: int = 1) -> tuple[Graph, Node, list[Node]]:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    outs = [g.apply(Exp(), x) for _ in range(outputs)]
    return g, x, outs


# ------------------------------------------------------------------ Graph.replace
def test_replace_reruns_inference_and_resets_the_value() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    y = g.apply(Exp(), x)
    np.testing.assert_allclose(g.evaluate(y), np.exp(np.arange(3.0)))
    g.replace(y, Scale(2.0), (x,))
    assert y.op == Scale(2.0) and y.value is None
    np.testing.assert_array_equal(g.evaluate(y), [0.0, 2.0, 4.0])


def test_replace_by_a_constant() -> None:
    g, x, (y,) = _frozen()
    z = g.apply(Add(), y, x)
    g.freeze([z], optimize=False)
    g.replace(y, None, value=np.ones(3))
    assert y.op is None and y.inputs == () and y.role is Role.CONSTANT
    np.testing.assert_array_equal(g.evaluate(z), [1.0, 2.0, 3.0])
    assert "exp" not in CALLS


@pytest.mark.parametrize(
    ("op", "problem"),
    [(Sum(), "shape ()"), (Reshape((3, 1)), "shape (3, 1)")],
)
def test_replace_refuses_a_change_of_shape_naming_the_rule(op: Op, problem: str) -> None:
    g, x, (y,) = _frozen()
    with pytest.raises(RewriteError, match=rf"^my_rule: .*{re.escape(problem)}"):
        g.replace(y, op, (x,), rule="my_rule")
    assert y.op == Exp() and y.inputs == (x,)  # untouched


def test_replace_refuses_a_change_of_dtype() -> None:
    g, _, (y,) = _frozen()
    with pytest.raises(RewriteError, match="dtype float32"):
        g.replace(y, None, value=np.ones(3, np.float32), rule="cast")


def test_replace_refuses_parameters_inputs_and_effect_nodes() -> None:
    g = Graph()
    x = g.leaf(np.ones(3), Role.INPUT)
    w = g.leaf(np.ones(3), Role.PARAMETER)
    noisy, logged = g.apply(Noise(), x), g.apply(Record(), x)
    for node in (x, w):
        with pytest.raises(RewriteError, match="the user writes it"):
            g.replace(node, None, value=np.ones(3), rule="r")
    for node in (noisy, logged):
        with pytest.raises(RewriteError, match="runs on its own"):
            g.replace(node, Alias(), (x,), rule="r")
    assert noisy.op is not None
    g.replace(noisy, noisy.op, (w,))  # the same op on other inputs is allowed
    assert noisy.inputs == (w,)


# ------------------------------------------------------------------ the driver
def test_passes_are_chosen_per_freeze_and_run_in_their_order() -> None:
    g, x, (y,) = _frozen()
    out = g.apply(Add(), y, x)
    mine = Stage("mine", (exp_to_scale,), at=frozenset({FREEZE}))
    g.freeze([out], passes=[mine, DCE])
    assert [entry[0] for entry in g.history] == ["mine", "dce"]
    assert y.op == Scale(2.0)
    assert g.stats()["rewrites"] == {"exp_to_scale": 1}
    with g.gradients():
        g.add_outputs(g.apply(Exp(), out))
    assert [entry[0] for entry in g.history] == ["mine", "dce", "dce"]  # mine: freeze only
    # nothing global: another graph frozen with the defaults never sees the rule
    other, _, (z,) = _frozen()
    other.freeze([z])
    assert z.op == Exp() and [e[0] for e in other.history] == [s.name for s in GENERIC_PASSES]


def test_optimize_false_runs_no_passes_even_for_gradients() -> None:
    g, _, (y, z) = _frozen(2)
    g.freeze([y, z], optimize=False)
    with g.gradients():
        g.add_outputs(g.apply(Exp(), y), g.apply(Exp(), y))
    assert z.op == Exp()
    assert g.history == [] and g.rewrites == {}


def test_rules_never_see_effect_or_non_pure_nodes() -> None:
    g = Graph()
    x = g.leaf(np.zeros(3), Role.INPUT)
    seen: list[str] = []

    def anything(node: Node, sweep: Sweep) -> None:
        seen.append(node.op.name if node.op is not None else node.role.value)

    noisy = g.apply(Noise(), x)
    out = g.apply(Exp(), g.apply(Record(), noisy))
    g.freeze([out], passes=[Stage("look", (anything,))])
    assert seen == ["exp"]  # not the input, not noise, not the effect


def test_dce_keeps_effect_and_non_pure_nodes_nobody_reads() -> None:
    g = Graph()
    x = g.leaf(np.ones(3), Role.INPUT)
    logged = g.apply(Record(), g.apply(Exp(), x))
    noisy = g.apply(Noise(), x)
    dead = g.apply(Mul(), x, x)
    out = g.apply(Scale(3.0), x)
    g.freeze([out])
    nodes = g.nodes
    assert logged in nodes and noisy in nodes and logged.inputs[0] in nodes
    assert dead not in nodes
    assert g.rewrites == {"dce": 1}


def test_effect_nodes_are_never_merged_or_folded() -> None:
    g = Graph()
    c = g.leaf(np.ones(3))
    a, b = g.apply(Record(), c), g.apply(Record(), c)  # constant input, equal ops
    out = g.apply(Add(), a, b)
    g.freeze([out])
    assert a.op == Record() and b.op == Record() and out.inputs == (a, b)


def test_a_rule_may_build_nodes_and_the_use_index_follows() -> None:
    g = Graph()
    x = g.leaf(np.arange(6.0), Role.INPUT)
    y = g.apply(Exp(), x)
    out = g.apply(Add(), y, y)
    counted: dict[str, int] = {}

    def exp_through_reshape(node: Node, sweep: Sweep) -> Rewrite | None:
        if not isinstance(node.op, Exp) or all(
            isinstance(user.op, Reshape) for user in sweep.consumers(node)
        ):
            return None
        flat = sweep.graph.apply(Reshape((6,)), sweep.graph.apply(Exp(), node.inputs[0]))
        return Rewrite(Alias(), (flat,))

    def count(node: Node, sweep: Sweep) -> None:
        if isinstance(node.op, Exp):
            counted["exp"], counted["y"] = sweep.uses(node), sweep.uses(y)
            assert [n.op for n in sweep.consumers(node)] == [Reshape((6,))]

    g.freeze([out], passes=[Stage("r", (exp_through_reshape,)), Stage("count", (count,))])
    assert counted == {"exp": 1, "y": 2}  # the new exp; y (an alias now) is read twice
    assert isinstance(y.op, Alias)
    np.testing.assert_allclose(g.evaluate(out), 2 * np.exp(np.arange(6.0)))


def test_rules_that_never_settle_are_an_error() -> None:
    g, _, (y,) = _frozen()

    def flip(node: Node, sweep: Sweep) -> Rewrite | None:
        if isinstance(node.op, Scale):
            return Rewrite(Exp(), node.inputs)
        return exp_to_scale(node, sweep)

    with pytest.raises(RewriteError, match=r"^cycle: the rules \['flip'\] still rewrite"):
        g.freeze([y], passes=[Stage("cycle", (flip,))])


def test_a_rule_returning_a_node_of_another_shape_is_an_error() -> None:
    g, x, (y,) = _frozen()
    total = g.apply(Sum(), x)

    def wrong(node: Node, sweep: Sweep) -> Node | None:
        return total if node is y else None

    with pytest.raises(RewriteError, match=r"^wrong: rule returned"):
        g.freeze([y, total], passes=[Stage("s", (wrong,))])


def test_a_constant_replacement_from_a_rule() -> None:
    g, x, (y,) = _frozen()
    out = g.apply(Add(), g.apply(Scale(0.0), y), x)

    def zero_times(node: Node, sweep: Sweep) -> Constant | None:
        if node.op == Scale(0.0):
            return Constant(np.zeros(node.shape, node.dtype))
        return None

    g.freeze([out], passes=[Stage("zero", (zero_times,)), *GENERIC_PASSES])
    assert g.stats()["by_op"] == {"add": 1}
    assert g.rewrites == {"zero_times": 1, "dce": 1}  # y
    np.testing.assert_array_equal(g.evaluate(out), [0.0, 1.0, 2.0])


def test_rewrite_counts_add_up_over_freeze_and_gradients() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    c = g.leaf(np.full(3, 2.0))
    out = g.apply(Mul(), g.apply(Exp(), x), g.apply(Exp(), c))  # exp(c) folds
    g.freeze([out])
    assert g.rewrites == {"fold_constant": 1, "dce": 1}
    with g.gradients():
        g.add_outputs(g.apply(Add(), g.apply(Exp(), x), g.apply(Exp(), x)))
    assert g.rewrites == {"fold_constant": 1, "merge_duplicate": 2, "dce": 3}
    assert g.stats()["rewrites"] == g.rewrites


def test_rewrite_by_hand_on_a_frozen_graph() -> None:
    g, _, (y,) = _frozen()
    g.freeze([y], optimize=False)
    rewrite(g, [Stage("s", (exp_to_scale,)), FOLD, CSE])
    assert y.op == Scale(2.0)
    np.testing.assert_array_equal(g.evaluate(y), [0.0, 2.0, 4.0])
