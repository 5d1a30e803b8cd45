"""A node of a computational graph: one value, how to compute it, and where it came from."""

from __future__ import annotations

import enum
import itertools
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from mg_graph.graph import Graph
    from mg_graph.op import Op


class Role(enum.Enum):
    """What a node is: the visualiser colours each role differently."""

    PARAMETER = "parameter"  # a trainable leaf (blue)
    INPUT = "input"  # an input buffer refilled by compute_graph (red)
    CONSTANT = "constant"  # any other leaf (green)
    COMPUTED = "computed"  # the result of an op


class Clock:
    """Global logical time. Every leaf write takes a fresh tick, so a computed value is
    stale exactly when one of its leaves was written after it was computed.

    ``next`` on an `itertools.count` is atomic in CPython, so threads share one clock.
    """

    __slots__ = ("ticks",)

    def __init__(self) -> None:
        self.ticks = itertools.count(1)

    def tick(self) -> int:
        return next(self.ticks)


CLOCK = Clock()
_ids = itertools.count()


class Node:
    """One value in a `Graph`.

    Leaves (``op is None``) own their ``value``; a computed node's value is fixed when it
    is first computed (see `mg_graph.evaluate`). ``stamp`` is, for a leaf, the clock tick
    of its last write and, for a computed node, the newest leaf stamp its value was
    computed from. ``requires_grad`` is the autodiff package's flag (a parameter that
    wants a gradient, or a value computed from one); ``no_grad`` marks nodes built where
    gradients were switched off, which no gradient flows through.

    >>> import numpy as np
    >>> from mg_graph import Graph
    >>> Graph().leaf(np.zeros(2)).shape
    (2,)
    """

    __slots__ = (
        "__weakref__",
        "dtype",
        "graph",
        "id",
        "inputs",
        "is_gradient",
        "location",
        "name",
        "no_grad",
        "op",
        "requires_grad",
        "role",
        "scope",
        "shape",
        "stamp",
        "value",
    )

    def __init__(
        self,
        graph: Graph,
        op: Op | None,
        inputs: tuple[Node, ...],
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        role: Role,
        location: str,
        *,
        name: str | None = None,
        value: NDArray[Any] | None = None,
        scope: tuple[str, ...] = (),
        is_gradient: bool = False,
    ) -> None:
        self.id = next(_ids)
        self.graph = graph
        self.op = op
        self.inputs = inputs
        self.shape = shape
        self.dtype = dtype
        self.role = role
        self.location = location
        self.name = name
        self.value = value
        self.scope = scope
        self.is_gradient = is_gradient
        self.stamp = CLOCK.tick() if value is not None else 0
        self.requires_grad = role is Role.PARAMETER
        self.no_grad = False

    @property
    def is_leaf(self) -> bool:
        """True for parameters, input buffers and constants."""
        return self.op is None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)  # exact ints; np.prod costs microseconds per node

    @property
    def label(self) -> str:
        """Short human-readable description: name or op, then shape and dtype."""
        what = self.name or (self.op.label() if self.op is not None else self.role.value)
        return f"{what} {self.shape} {self.dtype}"

    def __repr__(self) -> str:
        return f"<Node #{self.id} {self.label}>"
