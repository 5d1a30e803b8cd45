"""Direct access to the arrays behind tensors, for optimisers and loaders.

These skip the safety copy that ``Tensor.data`` makes: the array returned is the
runtime's own buffer. Whoever writes into a leaf's buffer must say so with `written`,
so that everything computed from it becomes stale.

>>> import numpy as np
>>> from mg_tensor import Tensor
>>> w = Tensor([1.0, 2.0], requires_grad=True)
>>> buffer(w)[:] -= 1.0
>>> written(w)
>>> (w * 10).data
array([ 0., 10.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from numpy.typing import NDArray

from mg_graph import Graph
from mg_tensor.tensor import Tensor


def buffer(t: Tensor) -> NDArray[Any]:
    """The live array of ``t`` (realized first if needed). Do not keep it across
    replays of a frozen graph: computed buffers are reused."""
    node = t.node
    node.graph.compute(node)
    assert node.value is not None
    return node.value


def written(*tensors: Tensor) -> None:
    """Record that the buffers of these leaves were changed in place (values computed
    from them before stay as they were)."""
    Graph.touch(*(t.node for t in tensors))


def rebind(t: Tensor, array: NDArray[Any]) -> None:
    """Make leaf ``t`` use ``array`` (same shape and dtype) as its storage, e.g. a view
    into one flat parameter vector; compiled schedules re-bind automatically."""
    Graph.rebind(t.node, array)
