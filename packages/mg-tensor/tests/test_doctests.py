"""The examples in the docstrings run (every module of the package)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mg_tensor

MODULES = [mg_tensor.__name__] + [
    info.name for info in pkgutil.walk_packages(mg_tensor.__path__, mg_tensor.__name__ + ".")
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
