"""The examples in the docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "mg_optim",
    "mg_optim.optimizer",
    "mg_optim.sgd",
    "mg_optim.adam",
    "mg_optim.rmsprop",
    "mg_optim.schedules",
    "mg_optim.clip",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
    assert result.attempted > 0
