"""The rewrite passes are chosen per compile; the stats say what each rule rewrote."""

from __future__ import annotations

import numpy as np

from mg_graph import Graph, Role
from mg_graph.passes import CSE, DCE
from mg_tensor import Tensor, compute_graph
from mg_tensor.rewrites import DEFAULT_PASSES, STABILIZE

LOGITS = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]], np.float32)


def naive_log_softmax(x: Tensor) -> Tensor:
    e = x.exp()
    return (e / e.sum(axis=1, keepdims=True)).log()


def test_default_passes_stabilize_and_count_each_rule() -> None:
    f = compute_graph(naive_log_softmax)
    np.testing.assert_allclose(f(LOGITS).data, [[0, -2000, -1000], [-2000, 0, -1000]])
    stats = f.graph.stats()
    assert [p["pass"] for p in stats["passes"]] == [s.name for s in DEFAULT_PASSES]
    # node counts alone cannot show a rewrite in place; the per-rule counts do
    stabilize = next(p for p in stats["passes"] if p["pass"] == "stabilize_softmax")
    assert stabilize["before"] == stabilize["after"]
    assert stats["rewrites"]["stable_softmax"] == 1
    assert stats["rewrites"]["stable_log_softmax"] == 1


def test_passes_are_chosen_per_compile() -> None:
    without = compute_graph(naive_log_softmax, passes=[CSE, DCE])
    with np.errstate(all="ignore"):
        assert not np.isfinite(without(LOGITS).data).all()  # no stability rewrite
    assert {"exp", "sum", "divide", "log"} <= set(without.graph.stats()["by_op"])
    only = compute_graph(naive_log_softmax, passes=[STABILIZE])
    assert np.isfinite(only(LOGITS).data).all()
    assert [p["pass"] for p in only.graph.stats()["passes"]] == ["stabilize_softmax"]
    default = compute_graph(naive_log_softmax)  # unaffected by the other two
    assert np.isfinite(default(LOGITS).data).all()


def test_importing_mg_tensor_registers_nothing_for_plain_graphs() -> None:
    g = Graph()
    with g.as_default():
        x = Tensor.input(LOGITS)
        y = naive_log_softmax(x)
    g.freeze([y.node])
    assert [name for name, _, _ in g.history] == ["fold_constants", "cse", "dce"]
    assert y.node.op is not None and y.node.op.name == "log"
    assert x.role is Role.INPUT
