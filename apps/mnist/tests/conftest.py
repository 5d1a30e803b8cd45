"""Shared set-up for the app's tests: the real `mnist` entry point in a subprocess.

No test may use the network: the subprocess runs with a fresh HOME and cache, so the
data comes from --data-dir, $MACROGRAD_DATA or the copy shipped with the app. Helpers
live in ``mnist_support.py`` (this folder is put on sys.path, as pytest's importlib
import mode cannot import conftest).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from mnist_support import ENTRY, Mnist  # noqa: E402


@pytest.fixture
def mnist(tmp_path: Path) -> Mnist:
    """mnist(*args, env=None) runs the `mnist` command in tmp_path and returns the result."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
        environment.update(env or {})
        return subprocess.run(
            [*ENTRY, *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run
