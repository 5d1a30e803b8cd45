"""The examples in the docstrings run (every module of the package)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import macrograd

MODULES = [macrograd.__name__] + [
    info.name for info in pkgutil.walk_packages(macrograd.__path__, macrograd.__name__ + ".")
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
