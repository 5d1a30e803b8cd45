"""Helpers shared by the app's tests (conftest.py puts this folder on sys.path)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# the console script next to this interpreter (what `uv run mnist` runs), else the module
_SCRIPT = Path(sys.executable).with_name("mnist")
ENTRY = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "mnist_app.cli"]

#: Options that make a training run take about a second: 128 images, batches of 32.
QUICK = ["--subset", "128", "--batch-size", "32", "--no-progress"]

Mnist = Callable[..., subprocess.CompletedProcess[str]]

#: For tests that render with graphviz (CI installs it; a fresh machine may not have it).
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="graphviz's `dot` is not on PATH: apt-get install graphviz",
)


def one_line(stderr: str) -> str:
    """The single line a user mistake prints (asserting there is exactly one)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist"), stderr
    assert "Traceback" not in stderr
    return lines[0]
