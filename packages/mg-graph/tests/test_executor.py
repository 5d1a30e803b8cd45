"""The frozen-graph executor: replay, buffer planning, outputs, partial runs, views."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from mg_graph_testops import (
    CALLS,
    Add,
    Double,
    Exp,
    Flip,
    Mul,
    Noise,
    Reshape,
    Scale,
    Sum,
    calls,
    chain,
    chain_reference,
)

from mg_graph import Graph, Node, Role


def _frozen_chain(length: int, size: int = 4, **freeze: Any) -> tuple[Graph, Node, Node]:
    g = Graph("chain")
    x = g.leaf(np.zeros(size), Role.INPUT, "x")
    out = chain(g, x, length)[-1]
    g.freeze([out], **freeze)
    return g, x, out


def test_replay_writes_inputs_and_recomputes_outputs() -> None:
    g, x, out = _frozen_chain(20)
    rng = np.random.default_rng(1)
    for _ in range(50):
        data = rng.normal(size=4)
        g.write(x, data)
        g.realize(out)
        np.testing.assert_allclose(out.value, chain_reference(data, 20), rtol=1e-12)
    assert calls() == 50 * 20  # one kernel call per node per replay


def test_replay_without_a_write_computes_nothing() -> None:
    g, x, out = _frozen_chain(6)
    g.realize(out)
    value = out.value
    assert calls() == 6
    g.realize(out)
    g.realize()
    assert calls() == 6
    assert out.value is value
    g.write(x, np.ones(4))
    g.realize()  # no targets: only nodes without a value (none: values are fixed)
    assert calls() == 6
    g.realize(out)  # a target: brought up to date with its leaves
    assert calls() == 12


def test_realize_returns_the_same_output_buffer_every_replay() -> None:
    g, x, out = _frozen_chain(4)
    first = g.evaluate(out)
    g.write(x, np.ones(4))
    assert g.evaluate(out) is first  # refilled in place, no allocation per replay


def test_buffer_planning_shares_memory_in_a_long_elementwise_chain() -> None:
    size, length = 1_000, 100
    g, _, out = _frozen_chain(length, size, optimize=False)
    stats = g.stats()
    nbytes = size * 8
    assert stats["steps"] == length
    assert stats["buffer_bytes_unplanned"] == length * nbytes
    assert stats["buffer_bytes_planned"] < stats["buffer_bytes_unplanned"]
    # in place: one scratch buffer for the whole chain plus the output's own
    assert stats["buffer_bytes_planned"] == 2 * nbytes
    np.testing.assert_allclose(g.evaluate(out), chain_reference(np.zeros(size), length))


def test_elementwise_ops_run_in_place() -> None:
    g = Graph()
    x = g.leaf(np.arange(4.0), Role.INPUT)
    c = g.leaf(np.full(4, 0.5))
    a = g.apply(Add(), x, c)
    b = g.apply(Mul(), a, c)  # a dies here: b may overwrite it
    e = g.apply(Exp(), b)  # and e overwrites b
    out = g.apply(Add(), e, c)
    g.freeze([out], optimize=False)
    arrays = g.executor.plan.arrays
    assert arrays[a.id] is arrays[b.id] is arrays[e.id]
    assert not np.shares_memory(arrays[e.id], arrays[out.id])  # the output owns its buffer
    assert arrays[x.id] is x.value  # leaves are never overwritten
    np.testing.assert_allclose(g.evaluate(out), np.exp((np.arange(4.0) + 0.5) * 0.5) + 0.5)
    np.testing.assert_array_equal(x.value, np.arange(4.0))
    np.testing.assert_array_equal(c.value, np.full(4, 0.5))


def test_no_in_place_over_an_input_that_is_read_later() -> None:
    g = Graph()
    x = g.leaf(np.arange(3.0), Role.INPUT)
    a = g.apply(Exp(), x)
    b = g.apply(Add(), a, a)  # a is still needed by c
    c = g.apply(Mul(), b, a)
    g.freeze([c], optimize=False)
    arrays = g.executor.plan.arrays
    assert not np.shares_memory(arrays[a.id], arrays[b.id])
    e = np.exp(np.arange(3.0))
    np.testing.assert_allclose(g.evaluate(c), 2 * e * e)


def test_non_elementwise_ops_do_not_run_in_place() -> None:
    g = Graph()
    x = g.leaf(np.ones(3), Role.INPUT)
    a = g.apply(Exp(), x)
    b = g.apply(Double(), a)  # not elementwise: a fresh buffer even though a dies
    out = g.apply(Sum(), b)
    g.freeze([out], optimize=False)
    arrays = g.executor.plan.arrays
    assert not np.shares_memory(arrays[a.id], arrays[b.id])
    assert float(g.evaluate(out)) == pytest.approx(6 * np.e)


def test_outputs_keep_their_own_buffers() -> None:
    g = Graph()
    x = g.leaf(np.zeros(4), Role.INPUT)
    c = g.leaf(np.full(4, 2.0))
    first = g.apply(Add(), x, c)  # an output that later nodes also read
    second = g.apply(Mul(), first, c)
    third = g.apply(Exp(), second)
    g.freeze([first, third], optimize=False)
    for value in (0.0, 1.0, -1.0):
        g.write(x, np.full(4, value))
        g.realize(first, third)
        np.testing.assert_array_equal(first.value, np.full(4, value + 2.0))
        np.testing.assert_allclose(third.value, np.exp(np.full(4, (value + 2.0) * 2.0)))
    assert first.value is not None and third.value is not None
    assert not np.shares_memory(first.value, third.value)


def test_two_outputs_of_parallel_chains_are_not_clobbered() -> None:
    g = Graph()
    x = g.leaf(np.zeros(8), Role.INPUT)
    left = chain(g, x, 10)[-1]
    right = chain(g, g.apply(Exp(), x), 7)[-1]
    g.freeze([left, right], optimize=False)
    for value in (0.5, 2.0):
        data = np.full(8, value)
        g.write(x, data)
        g.realize(left, right)
        left_value, right_value = left.value.copy(), right.value.copy()  # type: ignore[union-attr]
        np.testing.assert_allclose(left_value, chain_reference(data, 10))
        np.testing.assert_allclose(right_value, chain_reference(np.exp(data), 7))


def test_partial_realize_of_one_output_then_another() -> None:
    g = Graph()
    x = g.leaf(np.zeros(3), Role.INPUT)
    shared = g.apply(Exp(), x)
    a = g.apply(Add(), shared, x)
    b = g.apply(Mul(), g.apply(Scale(3.0), shared), shared)
    g.freeze([a, b], optimize=False)
    for value in (1.0, 2.0):
        data = np.full(3, value)
        g.write(x, data)
        CALLS.clear()
        g.realize(a)  # the first read of a computation runs its whole forward part
        assert CALLS == {"exp": 1, "add": 1, "scale": 1, "mul": 1}
        np.testing.assert_allclose(a.value, np.exp(data) + data)
        kept = a.value.copy()  # type: ignore[union-attr]
        CALLS.clear()
        g.realize(b)
        assert calls() == 0
        np.testing.assert_allclose(b.value, 3 * np.exp(data) ** 2)
        np.testing.assert_array_equal(a.value, kept)  # b's run did not touch a's buffer
        CALLS.clear()
        g.realize(a, b)
        assert calls() == 0


def test_realizing_a_non_output_node_makes_it_an_output() -> None:
    g = Graph()
    x = g.leaf(np.zeros(3), Role.INPUT)
    mid = g.apply(Exp(), x)
    after = g.apply(Add(), mid, mid)  # would overwrite mid in place
    out = g.apply(Scale(2.0), after)
    g.freeze([out], optimize=False)
    assert mid not in g.outputs
    g.write(x, np.ones(3))
    np.testing.assert_allclose(g.evaluate(out), 4 * np.exp(np.ones(3)))
    np.testing.assert_allclose(g.evaluate(mid), np.exp(np.ones(3)))
    assert mid in g.outputs
    for value in (2.0, 3.0):
        g.write(x, np.full(3, value))
        g.realize(out)
        g.realize(mid)
        np.testing.assert_allclose(out.value, 4 * np.exp(np.full(3, value)))
        np.testing.assert_allclose(mid.value, np.exp(np.full(3, value)))
        assert not np.shares_memory(mid.value, after.value)  # type: ignore[arg-type]


def test_realize_of_a_fresh_output_and_a_new_one_leaves_both_computed() -> None:
    g = Graph()
    x = g.leaf(np.ones(2), Role.INPUT)
    mid = g.apply(Exp(), x)
    out = g.apply(Add(), mid, x)
    g.freeze([out], optimize=False)
    g.realize(out)
    g.realize(out, mid)  # out is fresh, mid becomes an output (the schedule changes)
    assert out.value is not None and mid.value is not None
    np.testing.assert_allclose(out.value, np.e + 1)
    np.testing.assert_allclose(mid.value, np.e)


def test_pinned_output_buffer_receives_the_result() -> None:
    g = Graph()
    x = g.leaf(np.zeros(4), Role.INPUT)
    out = g.apply(Scale(2.0), g.apply(Add(), x, x))
    flat = np.zeros(10)
    g.freeze([out], optimize=False)
    # e.g. a view of an optimiser's flat gradient array
    assert g.executor.bind_output(out, flat[3:7])
    assert not g.executor.bind_output(out, np.zeros(4))  # bound elsewhere already
    g.write(x, np.arange(4.0))
    g.realize(out)
    assert out.value is g.executor.bound(out)
    np.testing.assert_array_equal(flat, [0, 0, 0, 0, 4, 8, 12, 0, 0, 0])
    g.write(x, np.ones(4))
    g.realize(out)
    np.testing.assert_array_equal(flat[3:7], [4.0] * 4)
    assert flat[:3].tolist() == flat[7:].tolist() == [0.0] * 3


def test_view_op_costs_no_step() -> None:
    g = Graph()
    x = g.leaf(np.arange(6.0), Role.INPUT)
    a = g.apply(Exp(), x)
    r = g.apply(Reshape((2, 3)), a)
    out = g.apply(Add(), r, g.leaf(np.ones((2, 3))))
    g.freeze([out], optimize=False)
    assert g.stats()["steps"] == 2  # exp and add; the reshape was bound at compile time
    assert CALLS["reshape"] == 1
    CALLS.clear()
    for value in (1.0, 2.0, 3.0):
        g.write(x, np.full(6, value))
        g.realize(out)
        np.testing.assert_allclose(out.value, np.exp(np.full((2, 3), value)) + 1)
    assert CALLS == {"exp": 3, "add": 3}


def test_view_output_gets_its_own_buffer_and_a_step() -> None:
    g = Graph()
    x = g.leaf(np.arange(6.0), Role.INPUT)
    a = g.apply(Exp(), x)
    r = g.apply(Reshape((3, 2)), a)
    g.freeze([r], optimize=False)
    assert g.stats()["steps"] == 2
    np.testing.assert_allclose(g.evaluate(r), np.exp(np.arange(6.0)).reshape(3, 2))
    assert r.value is not None and not np.shares_memory(r.value, g.executor.plan.arrays[a.id])


@pytest.mark.parametrize("copy", [False, True], ids=["view", "copying-view"])
def test_view_op_over_a_buffer_read_again_later(copy: bool) -> None:
    g = Graph()
    x = g.leaf(np.zeros(3), Role.INPUT)
    a = g.apply(Exp(), x)
    flipped = g.apply(Flip(copy), a)
    out = g.apply(Add(), flipped, a)  # reads a and a view (or copy) of it
    g.freeze([out], optimize=False)
    # a view is bound once at compile time; a view op that had to copy gets a step
    assert g.stats()["steps"] == (3 if copy else 2)
    for value in ([0.0, 1.0, 2.0], [3.0, 4.0, 5.0]):
        g.write(x, np.array(value))
        g.realize(out)
        np.testing.assert_allclose(out.value, np.exp(value)[::-1] + np.exp(value))


def test_view_of_an_input_leaf_follows_its_writes() -> None:
    g = Graph()
    x = g.leaf(np.zeros(4), Role.INPUT)
    out = g.apply(Add(), g.apply(Reshape((2, 2)), x), g.leaf(np.ones((2, 2))))
    g.freeze([out], optimize=False)
    for value in (1.0, 5.0):
        g.write(x, np.full(4, value))
        g.realize(out)
        np.testing.assert_array_equal(out.value, np.full((2, 2), value + 1))


def test_kernel_without_out_is_copied_into_the_planned_buffer() -> None:
    g = Graph()
    x = g.leaf(np.ones(3), Role.INPUT)
    out = g.apply(Add(), g.apply(Double(), x), x)
    g.freeze([out], optimize=False)
    first = g.evaluate(out)
    g.write(x, np.full(3, 2.0))
    g.realize(out)
    assert out.value is first
    np.testing.assert_array_equal(first, [6.0, 6.0, 6.0])


def test_zero_d_reduction_output() -> None:
    g = Graph()
    x = g.leaf(np.zeros(5, np.float32), Role.INPUT)
    total = g.apply(Sum(), g.apply(Exp(), x))
    g.freeze([total], optimize=False)
    g.write(x, np.log(np.arange(1, 6, dtype=np.float32)))
    value = g.evaluate(total)
    assert value.shape == () and value.dtype == np.float32
    assert float(value) == pytest.approx(15.0)


def test_captured_leaf_written_by_its_own_graph_is_seen_by_replays() -> None:
    model = Graph("model")
    w = model.leaf(np.ones(3), Role.PARAMETER, "w")
    g = Graph("step")
    with g.trace():
        x = g.leaf(np.zeros(3), Role.INPUT, "x")
        out = g.apply(Mul(), x, w)
    g.freeze([out])
    g.write(x, np.full(3, 2.0))
    np.testing.assert_array_equal(g.evaluate(out), [2.0, 2.0, 2.0])
    model.write(w, np.full(3, 3.0))
    np.testing.assert_array_equal(g.evaluate(out), [2.0, 2.0, 2.0])  # fixed when computed
    g.realize(out)
    np.testing.assert_array_equal(out.value, [6.0, 6.0, 6.0])
    w.value[...] = 4.0  # type: ignore[index]
    Graph.touch(w)  # an optimiser's in-place update
    g.realize(out)
    np.testing.assert_array_equal(out.value, [8.0, 8.0, 8.0])


def test_rebind_recompiles_the_schedule() -> None:
    g = Graph()
    w = g.leaf(np.ones(3), Role.PARAMETER, "w")
    x = g.leaf(np.ones(3), Role.INPUT)
    out = g.apply(Mul(), x, w)
    g.freeze([out])
    np.testing.assert_array_equal(g.evaluate(out), [1.0, 1.0, 1.0])
    flat = np.arange(6.0)
    Graph.rebind(w, flat[3:])
    np.testing.assert_array_equal(g.evaluate(out), [1.0, 1.0, 1.0])  # kept through it
    g.realize(out)
    np.testing.assert_array_equal(out.value, [3.0, 4.0, 5.0])
    flat[3:] = 7.0
    Graph.touch(w)
    g.realize(out)
    np.testing.assert_array_equal(out.value, [7.0, 7.0, 7.0])


def test_non_pure_op_draws_again_on_every_call() -> None:
    g = Graph()
    x = g.leaf(np.zeros(1_000), Role.INPUT)
    out = g.apply(Noise(), x)
    g.freeze([out])
    g.executor.new_call()
    first = g.evaluate(out).copy()
    g.evaluate(out)
    np.testing.assert_array_equal(out.value, first)  # one draw per computation
    g.executor.new_call()
    second = g.evaluate(out)
    assert not np.array_equal(first, second)
    assert np.all((second >= 0) & (second < 1))


def test_frozen_output_that_is_a_leaf() -> None:
    g = Graph()
    x = g.leaf(np.ones(2), Role.INPUT)
    y = g.apply(Exp(), x)
    g.freeze([x, y])
    g.write(x, np.zeros(2))
    g.realize(x, y)
    np.testing.assert_array_equal(x.value, [0.0, 0.0])
    np.testing.assert_array_equal(y.value, [1.0, 1.0])


def _random_node(g: Graph, rng: np.random.Generator, pool: list[Node], extra: list[Node]) -> Node:
    """One random elementwise op, reduction or chain of views over nodes of ``pool``."""
    kind = rng.integers(6)
    a, b = (pool[int(i)] for i in rng.integers(len(pool), size=2))
    if kind == 0:
        return g.apply(Add(), a, b)
    if kind == 1:
        return g.apply(Mul(), a, b)
    if kind == 2:
        return g.apply(Scale(float(rng.uniform(0.5, 1.0))), a)
    if kind == 3:  # through two views and back to (2, 3)
        flat = g.apply(Reshape((6,)), a)
        extra.append(flat)
        return g.apply(Reshape((2, 3)), g.apply(Reshape((3, 2)), flat))
    if kind == 4:  # a scalar broadcast back over (2, 3)
        total = g.apply(Scale(0.1), g.apply(Sum(), a))
        extra.append(total)
        return g.apply(Add(), b, total)
    return g.apply(Exp(), g.apply(Scale(0.1), a))


def _assert_values(nodes: list[Node], expected: dict[int, Any]) -> None:
    for node in nodes:
        np.testing.assert_allclose(node.value, expected[node.id], rtol=1e-12)


def test_executor_replay_matches_reference_on_random_graphs() -> None:
    """Random DAGs of elementwise ops, reductions and views: every replay, in any order of
    partial realizes, must match a plain numpy interpretation of the same nodes."""
    for seed in range(40):
        rng = np.random.default_rng(seed)
        g = Graph(f"random{seed}")
        inputs = [g.leaf(np.zeros((2, 3)), Role.INPUT, f"x{i}") for i in range(2)]
        pool: list[Node] = [*inputs, g.leaf(rng.uniform(0.5, 1.5, (2, 3)))]
        extra: list[Node] = []
        for _ in range(int(rng.integers(5, 30))):
            pool.append(_random_node(g, rng, pool, extra))
        candidates = pool[3:] + extra
        picks = rng.choice(len(candidates), size=min(3, len(candidates)), replace=False)
        outputs = [candidates[int(i)] for i in picks] + [pool[-1]]
        g.freeze(outputs, optimize=bool(seed % 2))
        for _ in range(4):
            for x in inputs:
                g.write(x, rng.uniform(-1, 1, (2, 3)))
            expected = _interpret(outputs + candidates)
            for i in rng.permutation(len(outputs)):
                g.realize(outputs[int(i)])
            _assert_values(outputs, expected)
            if rng.random() < 0.5:  # sometimes read an intermediate: it becomes an output
                probe = candidates[int(rng.integers(len(candidates)))]
                g.realize(probe, *outputs)
                _assert_values([probe, *outputs], expected)


def _interpret(targets: list[Node]) -> dict[int, Any]:
    from mg_graph import topo_order

    values: dict[int, Any] = {}
    for node in topo_order(targets):
        if node.op is None:
            values[node.id] = np.array(node.value)
        else:
            values[node.id] = np.asarray(node.op.forward(*(values[i.id] for i in node.inputs)))
    return values


def test_a_rebind_elsewhere_loses_no_fresh_value() -> None:
    g = Graph()
    x = g.leaf(np.ones(2), Role.INPUT)
    y = g.leaf(np.ones(2), Role.INPUT)
    a = g.apply(Exp(), x)
    b = g.apply(Scale(2.0), y)
    g.freeze([a, b])
    g.realize()
    g.write(y, np.full(2, 3.0))
    other = Graph().leaf(np.zeros(2), Role.PARAMETER)
    Graph.rebind(other, np.ones(2))  # a leaf g does not bind: nothing recompiles
    g.realize(a, b)  # b is stale: the call is computed again
    assert a.value is not None and b.value is not None
    np.testing.assert_allclose(a.value, np.exp([1.0, 1.0]))
    np.testing.assert_array_equal(b.value, [6.0, 6.0])
