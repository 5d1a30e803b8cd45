"""Tracing into a graph, freezing it, and letting it grow once for gradients."""

from __future__ import annotations

import numpy as np
import pytest
from mg_graph_testops import CALLS, Add, Exp, Mul, Sum

from mg_graph import (
    FrozenGraphError,
    Graph,
    GraphError,
    MixedGraphError,
    Node,
    Role,
    get_default_graph,
    graph_of,
)


def _model() -> tuple[Graph, Node, Node]:
    """A 'model' graph: a parameter and a computed node derived from it."""
    model = Graph("model")
    w = model.leaf(np.full(3, 2.0), Role.PARAMETER, "w")
    ew = model.apply(Exp(), w, name="exp_w")
    return model, w, ew


def test_trace_makes_the_graph_default_and_tracing_only_inside() -> None:
    g = Graph("traced")
    outer = get_default_graph()
    with g.trace() as entered:
        assert entered is g
        assert g.tracing and get_default_graph() is g
        assert graph_of([Graph().leaf(np.ones(1))]) is g  # the tracing graph takes every op
    assert not g.tracing and get_default_graph() is outer
    with pytest.raises(ValueError), g.trace():
        raise ValueError
    assert not g.tracing and get_default_graph() is outer


def test_trace_captures_foreign_leaves_by_reference() -> None:
    model, w, _ = _model()
    g = Graph("traced")
    with g.trace():
        x = g.leaf(np.ones(3), Role.INPUT, "x")
        y = g.apply(Mul(), x, w)
    assert y.inputs[1] is w  # the very node, not a copy
    assert w.graph is model
    assert g.nodes[0] is w  # captured leaves come first
    assert len(g) == 3 and len(model) == 2
    np.testing.assert_array_equal(g.evaluate(y), [2.0, 2.0, 2.0])
    model.write(w, np.full(3, 5.0))  # the model's update is seen by the traced graph
    g.realize(y)
    np.testing.assert_array_equal(y.value, [5.0, 5.0, 5.0])
    # after tracing, the captured leaf stays usable in this graph, other foreign ones not
    assert g.apply(Add(), y, w).graph is g
    with pytest.raises(MixedGraphError):
        g.apply(Add(), y, model.leaf(np.ones(3)))


def test_trace_rebuilds_foreign_computed_nodes_inside() -> None:
    model, w, ew = _model()
    g = Graph("traced")
    with g.trace():
        x = g.leaf(np.ones(3), Role.INPUT, "x")
        y = g.apply(Add(), x, ew)
        z = g.apply(Mul(), y, ew)
    rebuilt = y.inputs[1]
    assert rebuilt is not ew
    assert rebuilt.graph is g
    assert rebuilt.op == Exp() and rebuilt.name == "exp_w"
    assert rebuilt.inputs[0] is w  # its leaf is captured by reference
    assert z.inputs[1] is rebuilt  # rebuilt once, reused
    assert ew.graph is model and ew.value is None  # the original is untouched
    assert len(model) == 2
    e2 = np.exp(2.0)
    np.testing.assert_allclose(g.evaluate(z), [(1 + e2) * e2] * 3)
    assert CALLS == {"exp": 1, "add": 1, "mul": 1}


def test_freeze_refuses_new_operations_with_a_helpful_error() -> None:
    g = Graph("frozen_one")
    x = g.leaf(np.ones(2), Role.INPUT)
    y = g.apply(Exp(), x)
    g.freeze([y])
    assert g.frozen and "frozen" in repr(g)
    with pytest.raises(FrozenGraphError) as info:
        g.apply(Add(), y, x)
    message = str(info.value)
    assert "'frozen_one'" in message
    assert "is frozen" in message
    assert "compute_graph" in message
    assert __file__ in message
    assert isinstance(info.value, GraphError) and isinstance(info.value, RuntimeError)
    with pytest.raises(FrozenGraphError, match="frozen"):
        g.leaf(np.ones(2))
    assert len(g) == 2


def test_frozen_graph_holds_its_nodes_strongly() -> None:
    g = Graph()

    def build() -> Node:
        x = g.leaf(np.arange(3.0), Role.INPUT)
        return g.apply(Sum(), g.apply(Exp(), g.apply(Add(), x, x)))

    out = build()
    g.freeze([out], optimize=False)
    assert len(g) == 4
    np.testing.assert_allclose(g.evaluate(out), np.exp([0.0, 2.0, 4.0]).sum())
    assert g.outputs == [out]


def test_freeze_deduplicates_outputs() -> None:
    g = Graph()
    y = g.apply(Exp(), g.leaf(np.ones(2)))
    g.freeze([y, y, y], optimize=False)
    assert g.outputs == [y]


def test_gradients_lets_a_frozen_graph_grow_once_and_marks_nodes() -> None:
    g = Graph("train")
    x = g.leaf(np.arange(3.0), Role.INPUT, "x")
    y = g.apply(Mul(), x, x)
    g.freeze([y])
    forward = len(g)
    with g.gradients():
        two = g.leaf(np.full(3, 2.0))
        dy = g.apply(Mul(), two, x)
        g.add_outputs(dy)
    assert dy.is_gradient and two.is_gradient
    assert not y.is_gradient and not x.is_gradient
    assert g.stats()["gradient_nodes"] == 2
    assert len(g) == forward + 2
    with pytest.raises(FrozenGraphError):
        g.apply(Exp(), dy)  # frozen again once the gradient subgraph is built
    g.realize()
    np.testing.assert_array_equal(dy.value, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(y.value, [0.0, 1.0, 4.0])
    g.write(x, np.ones(3))
    g.realize(dy)
    np.testing.assert_array_equal(dy.value, [2.0, 2.0, 2.0])


def test_gradients_runs_the_gradient_stage_passes_once_on_exit() -> None:
    g = Graph()
    x = g.leaf(np.ones(2), Role.INPUT)
    y = g.apply(Exp(), x)
    g.freeze([y])
    after_freeze = [entry["pass"] for entry in g.stats()["passes"]]
    with g.gradients():
        with g.gradients():  # nested: passes run when the outermost one ends
            a = g.apply(Mul(), y, x)
        assert [entry["pass"] for entry in g.stats()["passes"]] == after_freeze
        g.add_outputs(a)
    added = [entry["pass"] for entry in g.stats()["passes"]][len(after_freeze) :]
    assert {"fold_constants", "cse", "dce"} <= set(added)
    assert len(added) == len(set(added))


def test_gradients_on_an_open_graph_only_marks_nodes() -> None:
    g = Graph()
    x = g.leaf(np.ones(2))
    with g.gradients():
        dx = g.apply(Exp(), x)
    plain = g.apply(Exp(), x)
    assert dx.is_gradient and not plain.is_gradient
    assert not g.frozen and g.history == []
