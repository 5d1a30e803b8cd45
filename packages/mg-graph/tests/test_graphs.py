"""The default graph, custom graphs, mixing graphs, named scopes, source locations."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from mg_graph_testops import Add, Exp, Mul

from mg_graph import (
    Graph,
    GraphError,
    MixedGraphError,
    Role,
    get_default_graph,
    graph_of,
    named_scope,
    user_location,
)


def _line() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def test_default_graph_is_a_named_singleton() -> None:
    default = get_default_graph()
    assert isinstance(default, Graph)
    assert default.name == "default"
    assert get_default_graph() is default
    assert not default.frozen and not default.tracing


def test_new_graphs_are_separate_and_named() -> None:
    a, b = Graph(), Graph("mine")
    assert a is not b and a is not get_default_graph()
    assert b.name == "mine"
    assert a.name.startswith("graph") and a.name != b.name
    assert len(a) == 0 and a.nodes == []
    assert repr(b) == "<Graph 'mine' open, 0 nodes>"
    x = b.leaf(np.ones(1))
    assert x.graph is b and len(b) == 1 and len(a) == 0


def test_as_default_switches_and_restores_even_on_error() -> None:
    outer = get_default_graph()
    g, h = Graph("g"), Graph("h")
    with g.as_default() as entered:
        assert entered is g
        assert get_default_graph() is g
        with h.as_default():
            assert get_default_graph() is h
        assert get_default_graph() is g
    assert get_default_graph() is outer
    with pytest.raises(KeyError), g.as_default():
        raise KeyError("boom")
    assert get_default_graph() is outer


def test_graph_of_picks_the_inputs_graph() -> None:
    g, h = Graph("g"), Graph("h")
    x = g.leaf(np.ones(1))
    assert graph_of([x]) is g
    assert graph_of([]) is get_default_graph()
    with h.as_default():
        assert graph_of([x]) is g  # inputs win over the default outside tracing
        assert graph_of([]) is h


def test_mixing_graphs_raises_with_both_names_shapes_and_location() -> None:
    g, h = Graph("left_graph"), Graph("right_graph")
    a = g.leaf(np.ones((2, 3)))
    b = h.leaf(np.ones((4,)))
    with pytest.raises(MixedGraphError) as info:
        line = _line() + 1
        g.apply(Add(), a, b)
    message = str(info.value)
    assert "'left_graph'" in message and "'right_graph'" in message
    assert "(2, 3)" in message and "(4,)" in message
    assert f"{__file__}:{line}" in message
    assert "add" in message
    assert "fix:" in message
    assert isinstance(info.value, GraphError) and isinstance(info.value, ValueError)
    assert len(g) == 1 and len(h) == 1  # nothing was added


def test_mixing_graphs_is_an_error_whichever_graph_applies() -> None:
    g, h = Graph("g"), Graph("h")
    a = g.leaf(np.ones(2))
    b = h.leaf(np.ones(2))
    with pytest.raises(MixedGraphError):
        h.apply(Mul(), a, b)
    with pytest.raises(MixedGraphError):
        h.apply(Exp(), a)  # every input of another graph, not just a mix


def test_leaf_and_apply_record_the_callers_location() -> None:
    g = Graph()
    line = _line() + 1
    x = g.leaf(np.ones(2))
    y = g.apply(Exp(), x)
    assert x.location == f"{__file__}:{line}"
    assert y.location == f"{__file__}:{line + 1}"
    assert g.leaf(np.ones(1), location="elsewhere.py:7").location == "elsewhere.py:7"
    assert user_location().startswith(__file__ + ":")


def test_named_scope_records_nested_scopes() -> None:
    g = Graph()
    outside = g.leaf(np.ones(2), Role.INPUT, "x")
    with named_scope("encoder"):
        w = g.leaf(np.ones(2), Role.PARAMETER, "encoder.weight")
        with named_scope("hidden_1"):
            h = g.apply(Mul(), outside, w)
        after = g.apply(Exp(), h)
    last = g.apply(Add(), after, outside)
    assert outside.scope == ()
    assert w.scope == ("encoder",)
    assert h.scope == ("encoder", "hidden_1")
    assert after.scope == ("encoder",)
    assert last.scope == ()


def test_named_scope_is_popped_on_error() -> None:
    g = Graph()
    with pytest.raises(RuntimeError), named_scope("broken"):
        raise RuntimeError
    assert g.leaf(np.ones(1)).scope == ()


def test_names_roles_and_stats() -> None:
    g = Graph()
    w = g.leaf(np.ones(2), Role.PARAMETER, "hidden_1.weight")
    x = g.leaf(np.ones(2), Role.INPUT, "x")
    c = g.leaf(np.ones(2))
    y = g.apply(Add(), g.apply(Mul(), x, w), c, name="pre_activation")
    assert (w.name, x.name, c.name, y.name) == ("hidden_1.weight", "x", None, "pre_activation")
    assert c.role is Role.CONSTANT and y.role is Role.COMPUTED
    assert y.label == "pre_activation (2,) float64"
    stats = g.stats()
    assert stats["nodes"] == 5
    assert stats["by_role"] == {"parameter": 1, "input": 1, "constant": 1, "computed": 2}
    assert stats["by_op"] == {"add": 1, "mul": 1}
    assert stats["gradient_nodes"] == 0
    assert stats["passes"] == []
    assert "buffer_bytes_planned" not in stats  # only frozen graphs have an executor
