"""The op protocol: what the runtime needs from an operation, and nothing about maths.

mg-tensor implements every op as a subclass: shape/dtype rule, numpy kernel and
gradient rule side by side. The runtime only calls `infer` (when a node is built)
and `forward` (when it runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from mg_graph.node import Node


class Op:
    """Base class of every operation.

    Subclasses are frozen dataclasses whose fields are the op's static parameters
    (for example a reduction's ``axis``), so two ops compare equal exactly when they
    compute the same function; common-subexpression elimination relies on that.

    Class attributes tell the executor how the kernel may be scheduled:

    * ``elementwise``: the output may share memory with an input of equal shape and
      dtype (``np.add(a, b, out=a)`` is safe), so the planner may compute in place.
    * ``view``: `forward` returns a view of its first input (reshape, transpose...);
      a frozen graph computes such views once, at compile time, for free.
    * ``uses_out``: `forward` writes into ``out`` when given one. If False the
      executor copies the returned array into the planned buffer.
    * ``pure``: the same inputs always give the same output. Random ops set it False:
      they are neither folded nor merged, and `renew` is called when a new computation
      of their node begins (at creation in an open graph, at every call of a frozen one).
    * ``effect``: the node changes state outside its own value (a running-statistics
      update, a collective) and runs exactly once per computation of its graph; passes
      never remove, merge or fold it, even when no output depends on it. An effect op
      is also impure.

    >>> from mg_graph import Graph
    >>> import numpy as np
    >>> @dataclasses.dataclass(frozen=True)
    ... class Double(Op):
    ...     name: ClassVar[str] = "double"
    ...     def infer(self, x): return x.shape, x.dtype
    ...     def forward(self, x, out=None): return np.multiply(x, 2, out=out)
    >>> g = Graph()
    >>> y = g.apply(Double(), g.leaf(np.ones(2)))
    >>> g.evaluate(y)
    array([2., 2.])
    """

    name: ClassVar[str] = "op"
    elementwise: ClassVar[bool] = False
    view: ClassVar[bool] = False
    uses_out: ClassVar[bool] = True
    pure: ClassVar[bool] = True
    effect: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """Return the output's (shape, dtype); raise `ShapeError`/`DTypeError` if invalid."""
        raise NotImplementedError

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        """Compute the output from input arrays, into ``out`` when given."""
        raise NotImplementedError

    def renew(self) -> None:
        """A new computation of this (impure) op's node begins: random ops take their
        next stream here, so draws depend on creation order, not on execution order."""

    def kernel(self) -> Callable[..., NDArray[Any]]:
        """The callable a frozen schedule binds: ``forward`` unless a bare numpy function
        (a ufunc, say) does the same job without a Python frame in between."""
        return self.forward

    def label(self) -> str:
        """Name plus static parameters, as shown by the visualiser."""
        fields: tuple[dataclasses.Field[Any], ...] = (
            dataclasses.fields(self) if dataclasses.is_dataclass(self) else ()
        )
        params = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields if f.repr)
        return f"{self.name}({params})" if params else self.name

    def key(self) -> Any:
        """Hashable identity of the op for common-subexpression elimination (which
        never merges nodes of non-pure ops, whatever their key)."""
        return self if self.pure else id(self)


@dataclasses.dataclass(frozen=True)
class Alias(Op):
    """The identity, as a free view: passes use it to redirect a node to another.

    >>> import numpy as np
    >>> x = np.ones(2)
    >>> Alias().forward(x) is x
    True
    """

    name: ClassVar[str] = "alias"
    view: ClassVar[bool] = True

    def infer(self, *inputs: Node) -> tuple[tuple[int, ...], np.dtype[Any]]:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        if out is not None:
            np.copyto(out, arrays[0])
            return out
        return arrays[0]
