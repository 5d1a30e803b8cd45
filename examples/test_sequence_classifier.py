"""The sequence-classifier example trains on small data, eager and under compute_graph,
with the same losses for the same seed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


def _example() -> ModuleType:
    path = Path(__file__).with_name("sequence_classifier.py")
    spec = importlib.util.spec_from_file_location("sequence_classifier", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _example()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_compiled_and_eager_training_agree(cell: str) -> None:
    small = {"steps": 5, "batch": 16, "length": 8}
    _, eager = example.train(cell, compiled=False, **small)
    _, compiled = example.train(cell, compiled=True, **small)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)


def test_it_learns_and_reports() -> None:
    model, losses = example.train("gru", steps=60, batch=32, length=12, lr=2e-2)
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
    x, y = example.make_data(200, 12, np.random.default_rng(5))
    assert example.accuracy(model, x, y) > 0.6


def test_main_runs(capsys: pytest.CaptureFixture[str]) -> None:
    example.main(["--steps", "2", "--cell", "gru"])
    assert "GRU: test accuracy" in capsys.readouterr().out
