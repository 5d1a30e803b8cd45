"""Finding the first non-finite value: `detect_anomaly`.

Off by default and free when off: evaluators read the flag once per computation, not
once per node.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np

from mg_graph.errors import GraphError, describe
from mg_graph.node import Node


class AnomalyError(GraphError, FloatingPointError):
    """A computed value holds NaN or infinity while `detect_anomaly` is on."""


class _Flag(threading.local):
    depth = 0


_flag = _Flag()


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check every computed value inside the block (eager and in frozen graphs); the
    first NaN or infinity raises `AnomalyError` naming the op, its input shapes and
    the line where the node was created.

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> from mg_graph.op import Alias
    >>> g = Graph(); y = g.apply(Alias(), g.leaf(np.array([np.nan])))
    >>> with detect_anomaly():
    ...     g.realize(y)
    Traceback (most recent call last):
    ...
    mg_graph.anomaly.AnomalyError: alias: produced NaN ...
    """
    _flag.depth += 1
    try:
        yield
    finally:
        _flag.depth -= 1


def checking() -> bool:
    """Whether values are being checked in this thread."""
    return _flag.depth > 0


def check_finite(node: Node) -> None:
    """Raise `AnomalyError` if ``node``'s value holds NaN or infinity."""
    value = node.value
    if value is None or value.dtype.kind not in "fc" or bool(np.isfinite(value).all()):
        return
    what = "NaN" if bool(np.isnan(value).any()) else "infinity"
    shapes = ", ".join(str(i.shape) for i in node.inputs) or "no inputs"
    assert node.op is not None
    raise AnomalyError(
        describe(
            node.op.label(),
            f"produced {what} (output {node.shape} {node.dtype}; input shapes {shapes})",
            node.location,
            "this is the first non-finite value: check this op's inputs (a log or "
            "division of zero, an overflow from a large learning rate)",
        )
    )
