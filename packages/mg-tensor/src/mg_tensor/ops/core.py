"""`apply`: turn operands (tensors, scalars, arrays) into nodes and add an op node."""

from __future__ import annotations

from typing import Any

import numpy as np

from mg_graph import Graph, Node, graph_of
from mg_graph.source import user_location
from mg_tensor.grad_mode import is_grad_enabled
from mg_tensor.tensor import Tensor, as_array


def lift(value: Any, like: np.dtype[Any] | None, graph: Graph, exact: bool = False) -> Node:
    """A constant node for a non-tensor operand. Python scalars are weak: they take the
    kind of the tensor operands (numpy 2's rule), else float32. A Python int that does
    not fit is an OverflowError, as in numpy, unless ``exact`` (comparisons) asks for its
    true value."""
    if isinstance(value, Tensor):
        return value.node
    if isinstance(value, bool | int | float) and like is not None:
        try:
            array = np.asarray(value, dtype=np.result_type(like, value))
        except OverflowError:
            if not exact:
                raise
            array = np.asarray(value)
    else:
        array = as_array(value)
    return graph.leaf(array, location=user_location())


def apply(op: Any, *operands: Any) -> Tensor:
    """Add ``op(*operands)`` to the right graph and return its Tensor.

    >>> from mg_tensor.ops.binary import Add
    >>> apply(Add(), Tensor([1.0]), 2).data
    array([3.], dtype=float32)
    """
    tensors = [o.node for o in operands if isinstance(o, Tensor)]
    graph = graph_of(tensors)
    if len(tensors) == len(operands):
        nodes = tensors
    else:
        graph.check_open(op.name)  # before lifting scalars: the error names this op
        like = np.result_type(*(n.dtype for n in tensors)) if tensors else None
        exact = bool(getattr(op, "exact_scalars", False))
        nodes = [o.node if isinstance(o, Tensor) else lift(o, like, graph, exact) for o in operands]
    node = graph.apply(op, *nodes)
    if is_grad_enabled():
        node.requires_grad = op.differentiable and any(n.requires_grad for n in nodes)
    else:
        node.no_grad = True
    return Tensor.wrap(node)
