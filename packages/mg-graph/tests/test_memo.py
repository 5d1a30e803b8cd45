"""Memoisation and invalidation of an open graph: stamps, writes, touch, rebind."""

from __future__ import annotations

import numpy as np
import pytest
from mg_graph_testops import CALLS, Add, Exp, Mul, Noise, Reshape, Sum, calls

from mg_graph import Graph, Role


def test_second_realize_computes_nothing() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    y = g.apply(Sum(), g.apply(Exp(), x))
    g.realize(y)
    first = y.value
    assert calls() == 2
    g.realize(y)
    g.realize()
    assert calls() == 2
    assert y.value is first


def test_realize_all_after_realizing_a_target_computes_only_the_rest() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0))
    a = g.apply(Exp(), x)
    b = g.apply(Mul(), x, x)
    g.realize(a)
    assert CALLS == {"exp": 1}
    g.realize()
    assert CALLS == {"exp": 1, "mul": 1}
    assert b.value is not None


def test_write_makes_exactly_the_dependents_stale() -> None:
    g = Graph()
    x = g.leaf(np.zeros(2), Role.INPUT, "x")
    w = g.leaf(np.ones(2), Role.PARAMETER, "w")
    from_x = g.apply(Exp(), x)
    from_w = g.apply(Exp(), w)
    both = g.apply(Add(), from_x, from_w)
    g.realize()
    assert calls() == 3
    CALLS.clear()

    g.write(w, np.full(2, 2.0))
    g.realize()  # no targets: values are fixed when first computed
    assert calls() == 0
    g.realize(from_x, both)
    assert CALLS == {"exp": 1, "add": 1}  # from_w and both; from_x is untouched
    np.testing.assert_allclose(from_w.value, np.exp([2.0, 2.0]))
    np.testing.assert_allclose(both.value, 1.0 + np.exp([2.0, 2.0]))
    CALLS.clear()

    g.write(x, np.ones(2))
    g.realize(from_w)
    assert calls() == 0  # from_w does not depend on x
    g.realize(both)
    assert CALLS == {"exp": 1, "add": 1}
    np.testing.assert_allclose(both.value, np.exp(1.0) + np.exp(2.0))


def test_write_copies_in_place_and_broadcasts_scalars() -> None:
    g = Graph()
    buffer = np.zeros(3, np.float32)
    x = g.leaf(buffer, Role.INPUT)
    g.write(x, 4.0)
    assert x.value is buffer
    np.testing.assert_array_equal(buffer, [4.0, 4.0, 4.0])
    with pytest.raises(TypeError):  # float64 into int64 is not a same-kind cast
        g.write(g.leaf(np.zeros(2, np.int64)), np.array([1.5, 2.5]))


def test_write_rejects_computed_nodes() -> None:
    g = Graph()
    y = g.apply(Exp(), g.leaf(np.zeros(2)))
    with pytest.raises(ValueError, match="not a leaf"):
        g.write(y, np.ones(2))


def test_write_with_unchanged_value_still_invalidates() -> None:
    g = Graph()
    x = g.leaf(np.zeros(2), Role.INPUT)
    y = g.apply(Exp(), x)
    g.realize(y)
    g.write(x, np.zeros(2))
    g.realize(y)
    assert CALLS == {"exp": 2}


def test_in_place_change_is_invisible_until_touch() -> None:
    g = Graph()
    w = g.leaf(np.ones(2), Role.PARAMETER)
    v = g.leaf(np.ones(2), Role.PARAMETER)
    y = g.apply(Add(), w, w)
    z = g.apply(Mul(), v, v)
    g.realize()
    w.value[...] = 5.0  # an optimiser updating in place, bypassing write()
    g.realize(y)
    np.testing.assert_array_equal(y.value, [2.0, 2.0])  # stale: nobody said so
    Graph.touch(w)
    CALLS.clear()
    g.realize(y, z)
    assert CALLS == {"add": 1}  # z does not depend on w
    np.testing.assert_array_equal(y.value, [10.0, 10.0])
    v.value[...] = 3.0
    g.touch(w, v)  # several at once; also callable on an instance
    CALLS.clear()
    g.realize(y, z)
    assert CALLS == {"add": 1, "mul": 1}
    np.testing.assert_array_equal(z.value, [9.0, 9.0])


def test_reading_metadata_never_computes() -> None:
    g = Graph()
    x = g.leaf(np.ones((2, 3), np.float32))
    y = g.apply(Reshape((3, 2)), g.apply(Exp(), x))
    total = g.apply(Sum(), y)
    assert y.shape == (3, 2) and y.dtype == np.float32
    assert total.shape == () and total.dtype == np.float32
    assert (y.ndim, y.size, total.ndim, total.size) == (2, 6, 0, 1)
    assert "reshape" in y.label and "(3, 2)" in y.label
    assert "sum" in repr(total)
    assert not y.is_leaf and x.is_leaf
    assert calls() == 0
    assert y.value is None and total.value is None


def test_rebind_gives_a_leaf_a_new_array_and_invalidates() -> None:
    g = Graph()
    w = g.leaf(np.ones(2), Role.PARAMETER, "w")
    y = g.apply(Add(), w, w)
    g.realize(y)
    flat = np.arange(4.0)
    Graph.rebind(w, flat[2:])
    assert w.value is not None and np.shares_memory(w.value, flat)
    np.testing.assert_array_equal(g.evaluate(y), [2.0, 2.0])  # fixed when computed
    g.realize(y)
    np.testing.assert_array_equal(y.value, [4.0, 6.0])
    flat[2:] = 10.0  # writes through the view, then declared with touch
    Graph.touch(w)
    g.realize(y)
    np.testing.assert_array_equal(y.value, [20.0, 20.0])
    assert CALLS == {"add": 3}


@pytest.mark.parametrize(
    "array", [np.ones(3), np.ones(2, np.float32), np.ones((1, 2))], ids=["shape", "dtype", "ndim"]
)
def test_rebind_rejects_other_shapes_and_dtypes(array: np.ndarray) -> None:
    g = Graph()
    w = g.leaf(np.ones(2), Role.PARAMETER)
    with pytest.raises(ValueError, match="rebind"):
        Graph.rebind(w, array)


def test_rebind_rejects_computed_nodes() -> None:
    g = Graph()
    y = g.apply(Exp(), g.leaf(np.ones(2)))
    with pytest.raises(ValueError, match="rebind"):
        Graph.rebind(y, np.ones(2))


def test_writes_to_other_graphs_do_not_recompute_a_pure_graph() -> None:
    g, h = Graph("g"), Graph("h")
    x = g.leaf(np.ones(2))
    y = g.apply(Exp(), x)
    other = h.leaf(np.zeros(2), Role.INPUT)
    g.realize(y)
    h.write(other, np.ones(2))
    g.realize(y)
    assert CALLS == {"exp": 1}


def test_non_pure_node_and_its_dependents_stay_consistent() -> None:
    g = Graph()
    x = g.leaf(np.zeros(3), Role.INPUT)
    zero = g.leaf(np.zeros(3))
    noisy = g.apply(Noise(), x)
    after = g.apply(Add(), noisy, zero)
    g.realize(after)
    np.testing.assert_array_equal(after.value, noisy.value)
    g.realize(after)
    assert CALLS == {"noise": 1, "add": 1}  # nothing written: nothing recomputed

    unrelated = Graph().leaf(np.zeros(1), Role.INPUT)
    unrelated.graph.write(unrelated, np.ones(1))
    g.realize(after)
    # whether the noise is drawn again or not, what depends on it must agree with it
    np.testing.assert_array_equal(after.value, noisy.value)
    g.write(x, np.ones(3))
    g.realize(after)
    np.testing.assert_array_equal(after.value, noisy.value)
    assert np.all(noisy.value >= 1.0)
