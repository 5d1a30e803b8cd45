"""Shared set-up for the mg-tensor tests.

The hypothesis strategies and assertion helpers live in ``mgt_support.py`` next to this
file. pytest runs with ``--import-mode=importlib``, under which test modules cannot
``import conftest``; putting this directory on ``sys.path`` (what a ``pythonpath`` ini
setting would do) lets every test module say ``from mgt_support import ...``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mg_graph import Graph

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def graph() -> Iterator[Graph]:
    """A fresh graph, made the default for the test: ``len(graph)`` counts only this test's
    nodes. (Not for ``@given`` tests: hypothesis refuses function-scoped fixtures.)"""
    g = Graph("test")
    with g.as_default():
        yield g
