"""`mnist --graph FILE --graph-depth N` draws the training graph with one box per scope
N levels below the model (`visualize(depth=N)`); on synthetic data, no download."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import mnist_app.cli as cli
from mnist_app.cli import main
from mnist_app.data import Arrays


@pytest.fixture
def tiny_data(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    arrays = Arrays(
        x_train=rng.random((128, 784), np.float32),
        y_train=np.eye(10, dtype=np.float32)[np.arange(128) % 10],
        x_test=rng.random((64, 784), np.float32),
        labels_test=np.arange(64) % 10,
    )
    monkeypatch.setattr(cli, "load", lambda data_dir, progress=True, subset=None: arrays)


@pytest.mark.parametrize("depth", [[], ["--graph-depth", "1"]])
def test_graph_depth_collapses_the_drawing(
    tiny_data: None, tmp_path: Path, depth: list[str]
) -> None:
    target = tmp_path / "graph.dot"
    code = main(["--no-progress", "--json", "--graph", str(target), *depth])
    assert code == 0
    source = target.read_text()
    drawn = set(re.findall(r"^\s*(\w+) \[", source, re.MULTILINE)) - {"graph", "node", "edge"}
    assert (len(drawn) <= 20) == bool(depth)  # the full graph has every node
    assert ('label="hidden_1: Linear\n64x1024 -> 64x1024' in source) == bool(depth)  # a box


def test_graph_depth_needs_a_graph(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--graph-depth", "1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--graph FILE" in error


@pytest.mark.parametrize("value", ["-1", "one"])
def test_graph_depth_must_be_a_whole_number(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--graph", "g.svg", "--graph-depth", value])
    assert info.value.code == 2
    assert "--graph-depth: expected a whole number 0 or more" in capsys.readouterr().err
