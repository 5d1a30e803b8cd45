"""The layout of drawings: forward column, backward column, parameters beside their
layer, ``depth=`` boxes, tooltips and the size warning; on a hand-built training graph
(a two-layer net and its gradients, built as mg-tensor's autodiff builds them)."""

from __future__ import annotations

import itertools
import re
import shutil
import warnings
import weakref
from dataclasses import dataclass

import numpy as np
import pytest
from mg_graph_testops import Add, Exp, Mul, Sum
from test_visualize import _cluster, _data_edges, _edges, _statement

import mg_graph.visualize as visualize_module
from mg_graph import Graph, Node, Role, named_scope, within_scope
from mg_graph.visualize import positions, register_gradient_lookup

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="graphviz's dot is not installed (apt-get install graphviz)",
)


@dataclass
class Net:
    graph: Graph
    x: Node
    w1: Node
    w2: Node
    h1: Node
    a1: Node
    h2: Node
    loss: Node
    seed: Node
    g_a1: Node
    g_h1: Node
    dw1: Node
    dw2: Node

    @property
    def forward(self) -> list[Node]:
        """Computed forward nodes in program order."""
        return [self.h1, self.a1, self.h2, self.loss]


def _net() -> Net:
    """``loss = sum(fc2(exp(fc1(x))))`` and its gradients, each gradient node in the scope
    of the forward node it differentiates (as `mg_tensor.autodiff` builds them)."""
    g = Graph("net")
    f32 = np.float32
    w1 = g.leaf(np.ones(3, f32), Role.PARAMETER, "fc1.weight")
    w2 = g.leaf(np.ones(3, f32), Role.PARAMETER, "fc2.weight")
    x = g.leaf(np.ones((4, 3), f32), Role.INPUT, "x")
    with named_scope("Net", kind="Net"):
        with named_scope("fc1", kind="Linear"):
            h1 = g.apply(Mul(), x, w1)
        a1 = g.apply(Exp(), h1)
        with named_scope("fc2", kind="Linear"):
            h2 = g.apply(Mul(), a1, w2)
    loss = g.apply(Sum(), h2)
    with g.gradients():
        seed = g.leaf(np.ones((4, 3), f32))  # d loss / d h2
        with within_scope(("Net", "fc2")):
            dw2 = g.apply(Sum(), g.apply(Mul(), seed, a1))
            g_a1 = g.apply(Mul(), seed, w2)
        with within_scope(("Net",)):
            g_h1 = g.apply(Mul(), g_a1, a1)
        with within_scope(("Net", "fc1")):
            dw1 = g.apply(Sum(), g.apply(Mul(), g_h1, x))
    _GRADIENTS.update({w1: dw1, w2: dw2})
    return Net(g, x, w1, w2, h1, a1, h2, loss, seed, g_a1, g_h1, dw1, dw2)


# how mg-tensor tells the visualiser which node is a parameter's gradient
_GRADIENTS: weakref.WeakKeyDictionary[Node, Node] = weakref.WeakKeyDictionary()
register_gradient_lookup(_GRADIENTS.get)


def _ids(source: str) -> set[str]:
    """Names of the drawn nodes (node statements)."""
    return set(re.findall(r"^\s*(\w+) \[", source, re.MULTILINE)) - {"graph", "node", "edge"}


def _originals(source: str) -> set[str]:
    """Drawn nodes, a constant drawn beside each of its readers counted once."""
    return {re.sub(r"^copy\d+_", "", name) for name in _ids(source)}


def _invisible(source: str, **attrs: str) -> set[tuple[str, str]]:
    wanted = [f"{k}={v}" for k, v in attrs.items()]
    return {(t, h) for t, h, a in _edges(source) if "invis" in a and all(w in a for w in wanted)}


def test_forward_nodes_are_chained_in_program_order() -> None:
    net = _net()
    chain = _invisible(net.graph.visualize().source, weight="20")
    ids = [str(n.id) for n in net.forward]
    assert chain == set(itertools.pairwise(ids))
    assert "group=forward" in _statement(net.graph.visualize().source, net.h1)


def test_backward_edges_are_written_head_first_so_gradients_run_up() -> None:
    net = _net()
    source = net.graph.visualize().source
    written = {(t, h): a for t, h, a in _edges(source) if "invis" not in a}
    # g_h1 = g_a1 * a1 is computed from g_a1: written g_h1 -> g_a1, arrow turned back
    assert "dir=back" in written[str(net.g_h1.id), str(net.g_a1.id)]
    assert (str(net.g_a1.id), str(net.g_h1.id)) in _data_edges(source)
    # forward values read by the backward pass do not pull on the ranks
    assert "constraint=false" in written[str(net.a1.id), str(net.g_h1.id)]


def _rows(source: str) -> list[str]:
    """The bodies of the ``rank=same`` subgraphs."""
    return re.findall(r"\{\s*rank=same\s*([^}]*)\}", source)


def test_gradient_nodes_share_the_row_of_the_forward_node_they_read() -> None:
    net = _net()
    rows = _rows(net.graph.visualize().source)
    # g_h1 reads a1, the forward node of its own scope (Net): on a1's row, to its right
    assert any(f"{net.a1.id} -> {net.g_h1.id} [style=invis]" in row for row in rows)
    # g_a1 reads w2, which stands for the layer node on its row, h2
    assert any(f"{net.h2.id} -> {net.g_a1.id} [style=invis]" in row for row in rows)


def test_a_layer_whose_gradients_read_nothing_of_it_holds_them_below_its_first_row() -> None:
    g = Graph()
    x = g.leaf(np.ones(2), Role.INPUT, "x")
    with named_scope("Net"), named_scope("fc"):
        h = g.apply(Exp(), x)
    with g.gradients(), within_scope(("Net", "fc")):
        dx = g.apply(Mul(), g.leaf(np.ones(2)), g.leaf(np.ones(2)))
    assert (str(h.id), str(dx.id)) in _invisible(g.visualize().source, minlen="0")


def test_gradient_nodes_are_clustered_by_the_scope_they_differentiate() -> None:
    net = _net()
    source = net.graph.visualize().source
    backward = _cluster(source, "cluster_Net__backward")
    assert 'label="Net (backward)"' in backward
    fc2 = _cluster(backward, "cluster_Net_fc2__backward")
    assert 'label="fc2: Linear (backward)"' in fc2
    assert f"\t{net.g_a1.id} [" in fc2 and f"\t{net.dw2.id} [" in fc2
    assert f"\t{net.g_h1.id} [" in backward and f"\t{net.g_h1.id} [" not in fc2
    assert f"\t{net.h2.id} [" not in backward


def test_parameters_sit_in_their_layer_on_its_row_and_gradients_point_back() -> None:
    net = _net()
    source = net.graph.visualize().source
    fc1 = _cluster(source, "cluster_Net_fc1")
    assert 'label="fc1: Linear"' in fc1 and f"\t{net.w1.id} [" in fc1
    assert any(set(row.split()) == {str(net.h1.id), str(net.w1.id)} for row in _rows(source))
    dotted = {(t, h) for t, h, a in _edges(source) if "dotted" in a}
    assert dotted == {(str(net.dw1.id), str(net.w1.id)), (str(net.dw2.id), str(net.w2.id))}


def test_a_parameter_takes_its_owner_scope_from_its_name() -> None:
    g = Graph()
    w = g.leaf(np.ones(2), Role.PARAMETER, "block.weight")
    with named_scope("Model"), named_scope("block"), named_scope("inner"):
        y = g.apply(Exp(), w)
    source = g.visualize().source
    assert f"\t{y.id} [" in _cluster(source, "cluster_Model_block_inner")
    block = _cluster(source, "cluster_Model_block")
    assert f"\t\t\t{w.id} [" in block  # in block's cluster, not in inner's
    assert f"{w.id} [" not in _cluster(block, "cluster_Model_block_inner")


def test_a_tied_parameter_is_drawn_once() -> None:
    g = Graph()
    w = g.leaf(np.ones(2), Role.PARAMETER, "embed.weight")
    with named_scope("Model"):
        with named_scope("embed"):
            a = g.apply(Exp(), w)
        with named_scope("head"):
            b = g.apply(Mul(), a, w)
    source = g.visualize().source
    assert len(re.findall(rf"^\s*{w.id} \[", source, re.MULTILINE)) == 1
    assert f"\t{w.id} [" in _cluster(source, "cluster_Model_embed")
    assert {(str(w.id), str(a.id)), (str(w.id), str(b.id))} <= _data_edges(source)


def test_a_constant_read_in_several_places_is_drawn_beside_each_reader() -> None:
    g = Graph()
    zero = g.leaf(np.zeros(()))
    x = g.leaf(np.ones(2), Role.INPUT)
    first = g.apply(Add(), x, zero)
    second = g.apply(Add(), g.apply(Exp(), first), zero)
    source = g.visualize().source
    assert {str(zero.id), f"copy2_{zero.id}"} <= _ids(source)
    assert {(str(zero.id), str(first.id)), (f"copy2_{zero.id}", str(second.id))} <= _data_edges(
        source
    )


def test_depth_collapses_layers_into_boxes() -> None:
    net = _net()
    full = net.graph.visualize().source
    assert len(_originals(full)) == len(net.graph)
    one = net.graph.visualize(depth=1).source
    # x; fc1, exp, fc2, sum; fc2, exp and fc1 backward (constants are left out)
    assert len(_ids(one)) == 8
    box = re.search(r'label="fc1: Linear\n4x3 -> 4x3\n3 parameters"', one)
    assert box is not None
    assert 'label="fc2: Linear (backward)\n4x3 -> scalar, 4x3"' in one
    assert f"\t{net.w1.id} [" not in one and f"\t{net.a1.id} [" in one
    zero = net.graph.visualize(depth=0).source
    assert len(_ids(zero)) == 4  # x; Net, sum; Net backward
    assert re.search(r'label="Net\n4x3 -> 4x3\n6 parameters"', zero)


def test_collapsed_backward_boxes_point_back_at_their_layer() -> None:
    net = _net()
    source = net.graph.visualize(depth=1).source
    label = {k: v for k, v in re.findall(r'^\s*(\w+) \[label="([^\n"]*)', source, re.MULTILINE)}
    by_label = {v: k for k, v in label.items()}
    dotted = {(t, h) for t, h, a in _edges(source) if "dotted" in a}
    assert dotted == {
        (by_label["fc1: Linear (backward)"], by_label["fc1: Linear"]),
        (by_label["fc2: Linear (backward)"], by_label["fc2: Linear"]),
    }


def test_runs_of_ops_sharing_a_scope_become_one_box_without_cycles() -> None:
    g = Graph()
    x = g.leaf(np.ones(2), Role.INPUT, "x")
    with named_scope("Model"):
        a = g.apply(Exp(), x)
        b = g.apply(Exp(), a)  # a run: exp > exp
        with named_scope("block"):
            inner = g.apply(Exp(), b)
        residual = g.apply(Add(), b, inner)  # joining b's run would draw a cycle
    source = g.visualize(depth=1).source
    assert 'label="exp > exp\n2 -> 2"' in source
    assert f"\t{residual.id} [" in source  # drawn on its own
    assert len(_ids(source)) == 4  # x, the run, the block, the residual add


def test_depth_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="depth must be 0 or more"):
        Graph().visualize(depth=-1)


def test_tooltips_say_op_shape_dtype_bytes_and_where() -> None:
    net = _net()
    source = net.graph.visualize().source
    tip = re.search(r'tooltip="([^"]*)"', _statement(source, net.h1))
    assert tip is not None
    assert tip.group(1).splitlines()[:2] == ["mul", "4x3 float32, 48 B"]
    assert re.fullmatch(r"created at .*test_visualize_layout\.py:\d+", tip.group(1).splitlines()[2])
    assert len(re.findall("tooltip=", source)) == len(_ids(source))
    boxes = net.graph.visualize(depth=1).source
    assert "1 op: mul" in boxes and "created at" in boxes


def test_tooltips_of_a_frozen_graph_say_which_buffers_the_planner_shares() -> None:
    g = Graph("step")
    with g.trace():
        x = g.leaf(np.ones(1000), Role.INPUT, "x")
        a = g.apply(Exp(), x)
        b = g.apply(Exp(), a)
        c = g.apply(Exp(), b)
        out = g.apply(Sum(), c)
    g.freeze([out])
    g.realize()
    source = g.visualize().source
    tips = {n.id: re.search(r'tooltip="([^"]*)"', _statement(source, n)) for n in (a, b, out)}
    assert "buffer shared by the planner with" in tips[a.id].group(1)  # type: ignore[union-attr]
    assert "buffer of its own" in tips[out.id].group(1)  # type: ignore[union-attr]


def test_large_graphs_warn_and_suggest_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(visualize_module, "SLOW_NODES", 5)
    net = _net()
    with pytest.warns(UserWarning, match="depth=1") as caught:
        net.graph.visualize()
    assert caught[0].filename == __file__  # points at the caller
    with pytest.warns(UserWarning, match="depth=1"):
        visualize_module.visualize(net.graph, depth=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.graph.visualize(depth=0)  # 4 boxes: no warning


@needs_dot
def test_dot_places_forward_down_gradients_beside_and_parameters_on_their_row() -> None:
    net = _net()
    at = positions(net.graph.visualize())
    ys = [at[str(n.id)][1] for n in net.forward]
    assert ys == sorted(ys, reverse=True) and len(set(ys)) == len(ys)  # top to bottom
    forward_x = [at[str(n.id)][0] for n in net.forward]
    gradient_x = [at[str(n.id)][0] for n in net.graph.nodes if n.is_gradient and n.op]
    assert min(gradient_x) > max(forward_x) or max(gradient_x) < min(forward_x)
    rows = sorted({round(y, 3) for _, y in at.values()}, reverse=True)
    for param, layer in ((net.w1, net.h1), (net.w2, net.h2)):
        gap = rows.index(round(at[str(param.id)][1], 3)) - rows.index(
            round(at[str(layer.id)][1], 3)
        )
        assert abs(gap) <= 1
