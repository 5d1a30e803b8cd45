"""Exceptions raised by the graph runtime.

Every message names the operation, the shapes involved, the user's own
``file:line`` and a fix, so that the error reads well without a traceback.
"""

from __future__ import annotations


class GraphError(Exception):
    """Base class of every Macrograd graph error."""


class ShapeError(GraphError, ValueError):
    """An operation got operands whose shapes do not fit (raised when the node is built)."""


class DTypeError(GraphError, TypeError):
    """An operation got operands of a dtype it cannot handle (raised when the node is built)."""


class MixedGraphError(GraphError, ValueError):
    """Tensors of two different graphs were combined in one operation."""


class FrozenGraphError(GraphError, RuntimeError):
    """A new operation was added to a graph frozen by ``compute_graph``."""


class GradientError(GraphError, ValueError):
    """A gradient was asked for something that cannot be differentiated."""


class RewriteError(GraphError, RuntimeError):
    """A graph rewrite rule broke a rewrite's contract (a changed shape or dtype, an
    effect node removed or merged, no fixed point)."""


def describe(op: str, problem: str, location: str, fix: str | None = None) -> str:
    """Format an error message: op and problem, where it happened, how to fix it.

    >>> describe("add", "shapes (2,) and (3,) do not broadcast", "train.py:3")
    'add: shapes (2,) and (3,) do not broadcast\\n  at train.py:3'
    """
    text = f"{op}: {problem}\n  at {location}"
    if fix:
        text += f"\n  fix: {fix}"
    return text
