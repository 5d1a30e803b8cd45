"""Shared set-up for the mg-nn tests: puts this directory on ``sys.path`` so test modules
can say ``from nn_support import ...`` (pytest runs with ``--import-mode=importlib``,
under which test modules cannot import each other or ``conftest``)."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
