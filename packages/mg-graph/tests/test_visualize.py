"""Graph drawings: colours by role, labels, gradients, clusters, rendering to files."""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

import graphviz  # type: ignore[import-untyped]
import numpy as np
import pytest
from mg_graph_testops import Add, Exp, Mul, Sum

import mg_graph.visualize.rendering as render_module
from mg_graph import Graph, GraphError, GraphvizNotFoundError, Node, Role, named_scope

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="graphviz's dot is not installed (apt-get install graphviz)",
)


def _mlp() -> tuple[Graph, dict[str, Node]]:
    g = Graph("mlp")
    x = g.leaf(np.zeros((4, 3), np.float32), Role.INPUT, "x")
    with named_scope("hidden_1"):
        w = g.leaf(np.ones((4, 3), np.float32), Role.PARAMETER, "hidden_1.weight")
        h = g.apply(Mul(), x, w)
        act = g.apply(Exp(), h, name="activation")
    c = g.leaf(np.ones((), np.float32))
    loss = g.apply(Sum(), g.apply(Add(), act, c))
    with g.gradients():
        grad = g.apply(Mul(), act, x)
    nodes = {"x": x, "w": w, "h": h, "act": act, "c": c, "loss": loss, "grad": grad}
    return g, nodes


def _statement(source: str, node: Node) -> str:
    """The DOT statement that declares ``node``."""
    match = re.search(rf"^\s*{node.id} \[(.*?)\]$", source, re.MULTILINE | re.DOTALL)
    assert match is not None, f"node {node.id} not drawn"
    return match.group(1)


def _edges(source: str) -> list[tuple[str, str, str]]:
    """(tail, head, attributes) of every edge statement, as written."""
    return re.findall(r"^\s*(\S+) -> (\S+)(?: \[(.*?)\])?$", source, re.MULTILINE)


def _data_edges(source: str) -> set[tuple[str, str]]:
    """Edges of the data flow, input first: visible, not the dotted gradient-to-parameter
    arrows, and turned round where they are written head-first (``dir=back``)."""
    found = set()
    for tail, head, attrs in _edges(source):
        if "invis" in attrs or "dotted" in attrs:
            continue
        found.add((head, tail) if "dir=back" in attrs else (tail, head))
    return found


def _cluster(source: str, name: str) -> str:
    """The text of cluster ``name`` (nested clusters included)."""
    start = source.index(f"subgraph {name} {{")
    depth = 0
    for end in range(start, len(source)):
        depth += {"{": 1, "}": -1}.get(source[end], 0)
        if source[end] == "}" and depth == 0:
            return source[start : end + 1]
    raise AssertionError(f"{name} is not closed")


def test_visualize_returns_a_digraph_named_after_the_graph() -> None:
    g, _ = _mlp()
    dot = g.visualize()
    assert isinstance(dot, graphviz.Digraph)
    assert dot.source.startswith("digraph mlp {")


def test_colours_by_role() -> None:
    g, n = _mlp()
    source = g.visualize().source
    assert 'fillcolor="#4a7bd0"' in _statement(source, n["w"])  # parameter: blue
    assert 'fillcolor="#d9534f"' in _statement(source, n["x"])  # input buffer: red
    assert 'fillcolor="#4c9a4c"' in _statement(source, n["c"])  # constant: green
    neutral = _statement(source, n["h"])
    assert 'fillcolor="#dddddd"' in neutral  # computed: neutral grey
    assert "dashed" not in neutral


def test_labels_show_op_or_name_shape_and_dtype() -> None:
    g, n = _mlp()
    source = g.visualize().source
    assert 'label="mul\n4x3 float32"' in _statement(source, n["h"])
    assert 'label="sum\nscalar float32"' in _statement(source, n["loss"])
    assert 'label="hidden_1.weight\n4x3 float32"' in _statement(source, n["w"])
    assert 'label="x\n4x3 float32"' in _statement(source, n["x"])
    assert 'label="constant\nscalar float32"' in _statement(source, n["c"])
    # a named result shows its name and still the op computing it
    assert 'label="activation\nexp\n4x3 float32"' in _statement(source, n["act"])


def test_op_parameters_appear_in_labels() -> None:
    from mg_graph_testops import Scale

    g = Graph()
    y = g.apply(Scale(0.5), g.leaf(np.ones(2)))
    assert "scale(factor=0.5)" in _statement(g.visualize().source, y)


def test_gradient_nodes_are_dashed_orange_and_can_be_hidden() -> None:
    g, n = _mlp()
    source = g.visualize().source
    grad = _statement(source, n["grad"])
    assert "dashed" in grad and 'fillcolor="#f0ad4e"' in grad
    edges = {(t, h): a for t, h, a in _edges(source) if "invis" not in a}
    assert "style=dashed" in edges[str(n["act"].id), str(n["grad"].id)]
    assert "style" not in edges[str(n["h"].id), str(n["act"].id)]
    without = g.visualize(gradients=False).source
    assert f"\t{n['grad'].id} [" not in without
    assert f"-> {n['grad'].id}" not in without
    assert f"\t{n['loss'].id} [" in without


def test_edges_follow_inputs() -> None:
    g, n = _mlp()
    expected = {(str(i.id), str(node.id)) for node in g.nodes for i in node.inputs}
    assert _data_edges(g.visualize().source) == expected
    assert (str(n["x"].id), str(n["h"].id)) in expected


def test_scopes_become_nested_clusters() -> None:
    g, n = _mlp()
    with named_scope("encoder"), named_scope("block.2"):
        inner = g.apply(Exp(), n["x"])
    source = g.visualize().source
    cluster = _cluster(source, "cluster_hidden_1")
    assert "label=hidden_1" in cluster
    for key in ("w", "h", "act"):
        assert f"\t{n[key].id} [" in cluster
    for key in ("x", "c", "loss"):
        assert f"\t{n[key].id} [" not in cluster
    outer = _cluster(source, "cluster_encoder")
    assert "label=encoder" in outer
    assert 'label="block.2"' in _cluster(outer, "cluster_encoder_block_2")
    assert f"\t{inner.id} [" in _cluster(outer, "cluster_encoder_block_2")
    flat = g.visualize(clusters=False).source
    assert "subgraph cluster" not in flat and f"\t{inner.id} [" in flat


def test_frozen_graph_with_captured_leaves_draws_them() -> None:
    model = Graph("model")
    w = model.leaf(np.ones(2), Role.PARAMETER, "layer.weight")
    g = Graph("step")
    with g.trace():
        out = g.apply(Mul(), g.leaf(np.ones(2), Role.INPUT, "x"), w)
    g.freeze([out])
    source = g.visualize().source
    assert 'label="layer.weight\n2 float64"' in _statement(source, w)
    assert (str(w.id), str(out.id)) in _data_edges(source)


@needs_dot
@pytest.mark.parametrize("ext", ["svg", "png"])
def test_render_writes_only_the_requested_file(tmp_path: Path, ext: str) -> None:
    g, _ = _mlp()
    target = tmp_path / f"graph.{ext}"
    dot = g.visualize(str(target))
    assert isinstance(dot, graphviz.Digraph)
    assert [p.name for p in tmp_path.iterdir()] == [f"graph.{ext}"]
    data = target.read_bytes()
    if ext == "svg":
        text = data.decode()
        assert "<svg" in text and "hidden_1.weight" in text and "#4a7bd0" in text
    else:
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


@needs_dot
def test_render_overwrites_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "graph.svg"
    target.write_text("old")
    Graph("small").visualize(str(target))
    assert target.read_text().lstrip().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.svg"]


@pytest.mark.parametrize("ext", ["dot", "gv"])
def test_dot_source_is_written_without_graphviz(
    tmp_path: Path, ext: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    g, _ = _mlp()
    target = tmp_path / f"graph.{ext}"
    dot = g.visualize(str(target))
    assert target.read_text(encoding="utf-8") == dot.source
    assert [p.name for p in tmp_path.iterdir()] == [f"graph.{ext}"]


def test_missing_dot_raises_a_helpful_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    g, _ = _mlp()
    with pytest.raises(GraphvizNotFoundError) as info:
        g.visualize(str(tmp_path / "graph.svg"))
    message = str(info.value)
    assert "apt-get install graphviz" in message
    assert "`dot`" in message and "graph.svg" in message
    assert ".source" in message
    assert isinstance(info.value, GraphError)
    assert list(tmp_path.iterdir()) == []
    assert g.visualize().source.startswith("digraph")  # drawing itself needs no dot


@pytest.mark.parametrize("name", ["graph.txt", "graph", "graph.svg.bak"])
def test_unknown_extension_is_a_clear_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="cannot tell the format") as info:
        Graph().visualize(str(tmp_path / name))
    assert "svg" in str(info.value) and "png" in str(info.value)
    assert list(tmp_path.iterdir()) == []


@needs_dot
def test_failed_render_leaves_no_partial_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    # writes half an image where it was asked to, then fails like a crashing dot
    fake.write_text(
        "#!/bin/sh\n"
        'while [ $# -gt 0 ]; do [ "$1" = -o ] && echo partial > "$2"; shift; done\n'
        'echo "dot: out of memory" >&2\n'
        "exit 1\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(Exception, match="exit status 1") as info:
        _mlp()[0].visualize(str(out_dir / "graph.svg"))
    assert "out of memory" in str(info.value)  # the fake ran, and got this far
    assert list(out_dir.iterdir()) == []
