"""Graph passes: dead code, common subexpressions, constant folding."""

from __future__ import annotations

from typing import Any

import numpy as np
from mg_graph_testops import CALLS, Add, Exp, Mul, Noise, Reshape, Scale, Sum, calls

from mg_graph import Alias, Graph, Node, Role, rewrite
from mg_graph.passes import CSE, DCE, FOLD


def _history(g: Graph, name: str) -> dict[str, Any]:
    (entry,) = [e for e in g.stats()["passes"] if e["pass"] == name]
    return entry


def _computed(g: Graph) -> int:
    # counted by hand: stats() of a frozen graph compiles its schedule, and a pass run by
    # hand afterwards would leave that schedule stale (freeze and gradients recompile)
    return sum(node.op is not None for node in g.nodes)


# ------------------------------------------------------------------ dead code
def test_dce_drops_nodes_no_output_needs() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    unused_constant = g.leaf(np.ones(3))
    out = g.apply(Exp(), x)
    dead = g.apply(Mul(), x, unused_constant)
    dead_too = g.apply(Sum(), dead)
    g.freeze([out], optimize=False)
    assert len(g) == 5
    rewrite(g, [DCE])
    assert len(g) == 2
    assert {n.id for n in g.nodes} == {x.id, out.id}
    np.testing.assert_allclose(g.evaluate(out), np.exp(np.arange(3.0)))
    assert CALLS == {"exp": 1}  # dead nodes never run
    assert dead_too.value is None


def test_dce_history_via_freeze() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    for _ in range(4):
        g.apply(Exp(), x)  # dropped at once: never reach the graph at freeze time
    kept_dead = [g.apply(Mul(), x, x) for _ in range(3)]
    out = g.apply(Add(), x, x)
    g.freeze([out])
    entry = _history(g, "dce")
    assert entry["before"] - entry["after"] == 3
    assert len(g) == entry["after"] == 2
    assert all(node not in g.nodes for node in kept_dead)
    np.testing.assert_array_equal(g.evaluate(out), [0.0, 2.0, 4.0])


def test_dce_drops_unused_captured_leaves() -> None:
    model = Graph("model")
    used = model.leaf(np.ones(2), Role.PARAMETER, "used")
    unused = model.leaf(np.ones(2), Role.PARAMETER, "unused")
    g = Graph()
    with g.trace():
        x = g.leaf(np.ones(2), Role.INPUT)
        out = g.apply(Mul(), x, used)
        g.apply(Mul(), x, unused)
    g.freeze([out], optimize=False)
    assert unused in g.nodes
    rewrite(g, [DCE])
    assert used in g.nodes and unused not in g.nodes


# ------------------------------------------------------------------ common subexpressions
def test_cse_merges_identical_nodes_and_keeps_values() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    a1 = g.apply(Exp(), x)
    a2 = g.apply(Exp(), x)  # the same computation
    b1 = g.apply(Scale(2.0), a1)
    b2 = g.apply(Scale(2.0), a2)  # the same once a2 is a1
    b3 = g.apply(Scale(3.0), a2)  # a different op parameter: kept
    out = g.apply(Add(), g.apply(Add(), b1, b2), b3)
    g.freeze([out], optimize=False)
    before = _computed(g)
    rewrite(g, [CSE])
    assert b3.inputs[0] is a1
    assert out.inputs[0].inputs == (b1, b1)
    rewrite(g, [DCE])
    assert _computed(g) == before - 2  # a2 and b2 are gone
    g.write(x, np.ones(3))
    np.testing.assert_allclose(g.evaluate(out), 7 * np.exp(np.ones(3)))
    assert CALLS == {"exp": 1, "scale": 2, "add": 2}


def test_cse_history_via_freeze() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    parts = [g.apply(Exp(), x) for _ in range(5)]
    out = parts[0]
    for part in parts[1:]:
        out = g.apply(Mul(), out, part)
    g.freeze([out])
    assert _history(g, "cse")["before"] == 10
    assert _history(g, "dce") == {"pass": "dce", "before": 10, "after": 6}
    assert g.stats()["by_op"] == {"exp": 1, "mul": 4}
    np.testing.assert_allclose(g.evaluate(out), np.exp(5 * np.arange(3.0)))


def test_cse_turns_duplicate_outputs_into_aliases_with_their_own_buffers() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    first = g.apply(Exp(), x)
    second = g.apply(Exp(), x)
    g.freeze([first, second])
    assert isinstance(second.op, Alias) and second.inputs == (first,)
    assert first.op == Exp()
    g.realize()
    assert CALLS == {"exp": 1}
    np.testing.assert_allclose(second.value, np.exp(np.arange(3.0)))
    assert first.value is not None and second.value is not None
    assert not np.shares_memory(first.value, second.value)
    g.write(x, np.zeros(3))
    g.realize(second)
    np.testing.assert_array_equal(second.value, np.ones(3))


def test_cse_merges_small_equal_constants_by_value_only() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    c1 = g.leaf(np.full(3, 2.0))
    c2 = g.leaf(np.full(3, 2.0))  # equal value: merged
    c3 = g.leaf(np.full(3, 3.0))  # another value: kept
    c4 = g.leaf(np.full(3, 2.0, np.float32))  # another dtype: kept
    big1, big2 = g.leaf(np.ones(100)), g.leaf(np.ones(100))  # too big to compare: kept
    w1 = g.leaf(np.full(3, 2.0), Role.PARAMETER)  # parameters are never merged
    a = g.apply(Mul(), x, c1)
    b = g.apply(Mul(), x, c2)
    c = g.apply(Mul(), x, c3)
    d = g.apply(Mul(), x, c4)
    e = g.apply(Mul(), x, w1)
    big = g.apply(Add(), big1, big2)
    g.freeze([a, b, c, d, e, big], optimize=False)
    rewrite(g, [CSE])
    assert isinstance(b.op, Alias) and b.inputs == (a,)  # same op on merged inputs
    assert c.inputs[1] is c3 and d.inputs[1] is c4 and e.inputs[1] is w1
    assert big.inputs == (big1, big2)
    g.write(x, np.ones(3))
    for node, expected in ((a, 2.0), (b, 2.0), (c, 3.0), (d, 2.0), (e, 2.0)):
        np.testing.assert_array_equal(g.evaluate(node), np.full(3, expected))


def test_cse_never_merges_non_pure_ops() -> None:
    g = Graph()
    x = g.leaf(np.zeros(1_000), Role.INPUT)
    noise = Noise()  # one op instance used twice: still two independent draws
    n1 = g.apply(noise, x)
    n2 = g.apply(noise, x)
    n3 = g.apply(Noise(), x)
    out = g.apply(Add(), g.apply(Add(), n1, n2), n3)
    g.freeze([out])
    assert g.stats()["by_op"]["noise"] == 3
    assert out.inputs[0].inputs == (n1, n2) and out.inputs[1] is n3
    g.write(x, np.zeros(1_000))
    g.realize(out)
    assert CALLS["noise"] == 3
    assert out.value is not None and np.std(out.value) > 0.3  # three draws, not one tripled


def test_cse_merges_users_of_one_non_pure_node() -> None:
    g = Graph()
    x = g.leaf(np.zeros(4), Role.INPUT)
    n = g.apply(Noise(), x)
    a = g.apply(Exp(), n)
    b = g.apply(Exp(), n)  # the same draw, the same function of it
    out = g.apply(Add(), a, b)
    g.freeze([out])
    assert out.inputs == (a, a)
    g.realize(out, n)  # n becomes an output too, so its draw can be read
    assert CALLS["noise"] == 1
    np.testing.assert_allclose(out.value, 2 * np.exp(n.value))  # type: ignore[arg-type]


# ------------------------------------------------------------------ constant folding
def test_fold_replaces_constant_subexpressions_by_constants() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    c = g.leaf(np.full(3, 2.0))
    folded = g.apply(Scale(0.5), g.apply(Exp(), c))  # a constant chain
    out = g.apply(Mul(), x, folded)
    g.freeze([out], optimize=False)
    CALLS.clear()
    rewrite(g, [FOLD])
    assert folded.op is None and folded.role is Role.CONSTANT
    assert folded.inputs == ()
    assert CALLS == {"exp": 1, "scale": 1}  # computed once, at fold time
    np.testing.assert_allclose(folded.value, 0.5 * np.exp([2.0, 2.0, 2.0]))
    assert out.op == Mul()  # depends on an input: not folded
    rewrite(g, [DCE])
    assert g.stats()["by_role"] == {"input": 1, "constant": 1, "computed": 1}
    CALLS.clear()
    for value in (1.0, 2.0):
        g.write(x, np.full(3, value))
        g.realize(out)
        np.testing.assert_allclose(out.value, value * 0.5 * np.exp([2.0] * 3))
    assert CALLS == {"mul": 2}


def test_fold_history_via_freeze() -> None:
    g = Graph()
    x = g.leaf(np.ones(2), Role.INPUT)
    c = g.leaf(np.ones(2))
    k = c
    for _ in range(5):
        k = g.apply(Exp(), g.apply(Scale(0.1), k))
    out = g.apply(Add(), x, k)
    g.freeze([out])
    fold = _history(g, "fold_constants")
    assert fold["before"] == fold["after"] == 13  # folding converts nodes, removes none
    assert _history(g, "dce") == {"pass": "dce", "before": 13, "after": 3}
    expected = np.ones(2)
    for _ in range(5):
        expected = np.exp(0.1 * expected)
    np.testing.assert_allclose(g.evaluate(out), 1 + expected)


def test_fold_leaves_non_pure_inputs_parameters_and_outputs_of_them_alone() -> None:
    g = Graph()
    c = g.leaf(np.zeros(1_000))
    w = g.leaf(np.ones(1_000), Role.PARAMETER)
    noisy = g.apply(Noise(), c)  # constant input but not pure
    after = g.apply(Exp(), noisy)  # depends on a non-pure node
    trained = g.apply(Exp(), w)  # a parameter is not a constant
    g.freeze([after, trained])
    assert noisy.op == Noise() and after.op == Exp() and trained.op == Exp()
    first = g.evaluate(after).copy()
    g.executor.new_call()
    second = g.evaluate(after)
    assert not np.array_equal(first, second)  # drawn again in the next computation


def test_fold_keeps_large_results_computed() -> None:
    g = Graph()
    big = g.leaf(np.zeros((1 << 20) + 1, np.uint8))
    out = g.apply(Add(), big, big)
    small = g.apply(Add(), g.leaf(np.ones(4, np.uint8)), g.leaf(np.ones(4, np.uint8)))
    g.freeze([out, small], optimize=False)
    rewrite(g, [FOLD])
    assert out.op == Add() and small.op is None
    assert int(g.evaluate(out).sum()) == 0


def test_fold_copies_folded_views() -> None:
    g = Graph()
    base = np.arange(6.0)
    c = g.leaf(base)
    view = g.apply(Reshape((2, 3)), c)
    g.freeze([view], optimize=False)
    rewrite(g, [FOLD])
    assert view.op is None and view.value is not None
    assert not np.shares_memory(view.value, base)
    np.testing.assert_array_equal(view.value, base.reshape(2, 3))


def test_passes_keep_node_identity() -> None:
    g = Graph()
    x = g.leaf(np.ones(2), Role.INPUT)
    a = g.apply(Exp(), x)
    b = g.apply(Exp(), x)
    out: Node = g.apply(Add(), a, b)
    ids = (a.id, b.id, out.id)
    g.freeze([out, b])
    assert (a.id, b.id, out.id) == ids
    assert isinstance(b.op, Alias)  # rewritten in place, still the node the caller holds
    np.testing.assert_allclose(g.evaluate(out), 2 * np.e)
    assert calls() == 2  # exp once, add once; b's alias not needed for out
