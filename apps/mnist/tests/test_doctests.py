"""The examples in the docstrings run (every module of the package)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mnist_app

MODULES = [mnist_app.__name__] + [
    info.name for info in pkgutil.walk_packages(mnist_app.__path__, mnist_app.__name__ + ".")
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
