"""The examples in the docstrings run, in every module of the package (found by walking
it, so a new module is covered without editing this file). Each package carries this
file because each package is tested on its own, with only its declared dependencies."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mg_nn

MODULES = [mg_nn.__name__] + [
    info.name for info in pkgutil.walk_packages(mg_nn.__path__, mg_nn.__name__ + ".")
]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=FLAGS)
    assert result.failed == 0


def test_the_package_has_examples() -> None:
    attempted = sum(
        doctest.testmod(importlib.import_module(name), optionflags=FLAGS).attempted
        for name in MODULES
    )
    assert attempted > 0
