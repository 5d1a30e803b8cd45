"""How mg-nn's functions take their arguments: Tensors as they are, arrays and numbers
as constants of the graph the other operands live in (so a function called inside
``gradcheck``'s or a traced graph never mixes graphs).

>>> import numpy as np
>>> from mg_tensor import Graph, Tensor
>>> g = Graph("mine")
>>> as_tensor(np.ones(2), Tensor([1.0], graph=g)).graph is g
True
"""

from __future__ import annotations

from typing import Any

from mg_graph import graph_of
from mg_tensor import Tensor
from mg_tensor.oplib import lift


def as_tensor(x: Any, *others: Any) -> Tensor:
    """``x`` as a Tensor: arrays and numbers become constants in the graph of ``others``."""
    if isinstance(x, Tensor):
        return x
    graph = graph_of([o.node for o in others if isinstance(o, Tensor)])
    return Tensor.wrap(lift(x, None, graph))


__all__ = ["as_tensor"]
