"""Eager realize: what gets computed, in which order, and long chains."""

from __future__ import annotations

import numpy as np
import pytest
from mg_graph_testops import CALLS, Add, Exp, Mul, Sum, calls, chain, chain_reference

from mg_graph import Graph, Role, topo_order


def test_nothing_is_computed_until_realize() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0))
    y = g.apply(Exp(), x)
    z = g.apply(Add(), y, x)
    assert calls() == 0
    assert y.value is None and z.value is None


def test_realize_without_targets_computes_every_live_node() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT, "x")
    a = g.apply(Exp(), x)
    b = g.apply(Mul(), x, x)  # an independent branch
    c = g.apply(Add(), a, b)
    g.realize()
    assert CALLS == {"exp": 1, "mul": 1, "add": 1}
    np.testing.assert_allclose(a.value, np.exp([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(b.value, [0.0, 1.0, 4.0])
    np.testing.assert_allclose(c.value, np.exp([0.0, 1.0, 2.0]) + np.array([0.0, 1.0, 4.0]))


def test_realize_target_computes_only_its_ancestors() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0))
    a = g.apply(Exp(), x)
    unrelated = g.apply(Mul(), x, x)
    b = g.apply(Add(), a, x)
    downstream = g.apply(Sum(), b)
    g.realize(b)
    assert CALLS == {"exp": 1, "add": 1}
    assert unrelated.value is None
    assert downstream.value is None
    np.testing.assert_allclose(b.value, np.exp(np.arange(3.0)) + np.arange(3.0))


def test_realize_several_targets_shares_their_common_ancestors() -> None:
    g = Graph()
    x = g.leaf(np.ones(2))
    shared = g.apply(Exp(), x)
    left = g.apply(Add(), shared, x)
    right = g.apply(Mul(), shared, x)
    g.realize(left, right)
    assert CALLS == {"exp": 1, "add": 1, "mul": 1}


def test_evaluate_returns_the_value_and_keeps_zero_d_results_arrays() -> None:
    g = Graph()
    x = g.leaf(np.arange(4, dtype=np.float32))
    total = g.apply(Sum(), x)
    value = g.evaluate(total)
    # numpy's sum returns a scalar; the runtime keeps an ndarray of the inferred dtype
    assert isinstance(value, np.ndarray)
    assert value.shape == () and value.dtype == np.float32
    assert float(value) == 6.0


def test_topological_order_puts_inputs_before_users() -> None:
    g = Graph()
    x = g.leaf(np.ones(2))
    c = g.leaf(np.ones(2))
    a = g.apply(Exp(), x)
    b = g.apply(Add(), a, c)
    d = g.apply(Mul(), b, a)
    e = g.apply(Add(), d, x)
    order = topo_order([e])
    assert len(order) == len({n.id for n in order}) == 6  # each node once
    position = {n.id: i for i, n in enumerate(order)}
    for node in order:
        for inp in node.inputs:
            assert position[inp.id] < position[node.id]
    assert order[-1] is e


def test_topological_order_excludes_non_ancestors_and_handles_several_targets() -> None:
    g = Graph()
    x = g.leaf(np.ones(2))
    a = g.apply(Exp(), x)
    b = g.apply(Mul(), x, x)
    assert {n.id for n in topo_order([a])} == {x.id, a.id}
    assert {n.id for n in topo_order([a, b])} == {x.id, a.id, b.id}


def test_diamond_is_computed_once_per_node() -> None:
    g = Graph()
    x = g.leaf(np.ones(2))
    top = g.apply(Exp(), x)
    left = g.apply(Add(), top, top)
    right = g.apply(Mul(), top, top)
    bottom = g.apply(Add(), left, right)
    g.realize(bottom)
    assert CALLS == {"exp": 1, "add": 2, "mul": 1}
    e = np.exp(1.0)
    np.testing.assert_allclose(bottom.value, [2 * e + e * e] * 2)


def test_ten_thousand_op_chain_realizes_without_recursion() -> None:
    g = Graph()
    x = g.leaf(np.full(2, 0.5, np.float64))
    zero = g.leaf(np.zeros(2))
    node = x
    for _ in range(10_000):
        node = g.apply(Add(), node, zero)
    g.realize(node)
    assert calls() == 10_000
    np.testing.assert_array_equal(node.value, [0.5, 0.5])
    assert len(topo_order([node])) == 10_002


def test_ten_thousand_op_chain_realize_all_and_free() -> None:
    g = Graph()
    x = g.leaf(np.ones(2, np.float32), Role.INPUT)
    nodes = chain(g, x, 10_000, g.leaf(np.ones(2, np.float32)))
    g.realize()
    assert calls() == 10_000
    expected = chain_reference(np.ones(2, np.float32), 10_000, c=1.0)
    np.testing.assert_array_equal(nodes[-1].value, expected)
    assert expected[0] == 5001.0
    del nodes  # freeing a deep chain must not overflow the C stack either
    assert len(g) == 1  # the input (the constant was only held by the chain)


def test_realize_on_leaves_only_computes_nothing() -> None:
    g = Graph()
    x = g.leaf(np.ones(2))
    g.realize(x)
    assert calls() == 0
    assert g.evaluate(x) is x.value


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_values_keep_the_inferred_dtype(dtype: type) -> None:
    g = Graph()
    x = g.leaf(np.arange(3).astype(dtype))
    y = g.apply(Add(), x, x)
    assert y.dtype == np.dtype(dtype)
    assert g.evaluate(y).dtype == np.dtype(dtype)
