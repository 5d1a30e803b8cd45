"""An open graph holds its nodes weakly: eager loops stay bounded in nodes and bytes."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
from mg_graph_testops import Add, Exp, Mul, Sum

from mg_graph import Graph, Role


def _step(g: Graph, w: object, i: int) -> float:
    """One eager 'training step': fresh input leaf, a few ops, read the result, drop all."""
    x = g.leaf(np.full(8, float(i % 7)), Role.INPUT)
    h = g.apply(Exp(), g.apply(Mul(), x, w))  # type: ignore[arg-type]
    loss = g.apply(Sum(), g.apply(Add(), h, x))
    return float(g.evaluate(loss))


def test_dropped_nodes_leave_the_graph() -> None:
    g = Graph()
    x = g.leaf(np.ones(2))
    y = g.apply(Exp(), x)
    probe = weakref.ref(y)
    assert len(g) == 2
    del y
    assert probe() is None  # freed by reference counting alone, no gc needed
    assert len(g) == 1
    assert g.nodes == [x]


def test_eager_loop_keeps_the_node_count_bounded() -> None:
    g = Graph()
    w = g.leaf(np.full(8, 0.1), Role.PARAMETER, "w")
    sizes = set()
    for i in range(10_000):
        value = _step(g, w, i)
        sizes.add(len(g))
    assert value == np.sum(np.exp(np.full(8, 0.1 * (9_999 % 7))) + 9_999 % 7)
    assert len(g) == 1  # only the parameter is left
    assert max(sizes) == 1  # every step's nodes were gone by the time it returned


def test_eager_loop_memory_is_bounded() -> None:
    g = Graph()
    w = g.leaf(np.full(8, 0.1), Role.PARAMETER, "w")
    for i in range(200):  # warm up caches and free lists
        _step(g, w, i)
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(1_000):
            _step(g, w, i)
        gc.collect()
        after_1k, _ = tracemalloc.get_traced_memory()
        for i in range(5_000):
            _step(g, w, i)
        gc.collect()
        after_6k, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a leak of even 16 bytes per step would add 80 kB over the last 5,000 steps
    assert after_6k - after_1k < 64 * 1024
    assert peak < 1024 * 1024
    assert len(g) == 1


def test_kept_tensors_keep_their_ancestors_only() -> None:
    g = Graph()
    kept = []
    for i in range(1_000):
        x = g.leaf(np.full(2, i / 1000))
        y = g.apply(Exp(), x)
        z = g.apply(Add(), y, y)
        if i % 100 == 0:
            kept.append(z)
    del x, y, z  # the last iteration's
    assert len(g) == 3 * len(kept) == 30
    gc.collect()
    assert len(g) == 30
    g.realize()
    np.testing.assert_allclose(kept[-1].value, 2 * np.exp([0.9, 0.9]))


def test_graph_object_is_not_kept_alive_by_a_cycle() -> None:
    g = Graph()
    x = g.leaf(np.ones(2))
    g.realize(g.apply(Exp(), x))
    probe = weakref.ref(g)
    del g, x
    gc.collect()
    assert probe() is None
