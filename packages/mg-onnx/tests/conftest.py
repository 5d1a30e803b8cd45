"""Shared set-up for the mg-onnx tests: ``onnx_support.py`` (models, onnxruntime helpers)
is importable from every test module (pytest runs with ``--import-mode=importlib``)."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
