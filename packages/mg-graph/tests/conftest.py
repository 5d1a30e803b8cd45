"""Fixtures for mg-graph's tests. They use only mg_graph and numpy: the test ops live in
``mg_graph_testops`` beside this file (importable because this directory is put on
``sys.path``, as pytest runs with ``--import-mode=importlib``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mg_graph_testops


@pytest.fixture(autouse=True)
def _reset_calls() -> Iterator[None]:
    mg_graph_testops.CALLS.clear()
    yield
    mg_graph_testops.CALLS.clear()
