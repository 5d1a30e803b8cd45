"""Direct access to the arrays behind tensors, for optimisers and loaders.

These skip the safety copy that ``Tensor.data`` makes: the array returned is the
runtime's own buffer. Whoever writes into a leaf's buffer must say so with `written`,
so that everything computed from it becomes stale.

>>> import numpy as np
>>> from mg_tensor import Tensor
>>> w = Tensor([1.0, 2.0], requires_grad=True)
>>> y = w * 10
>>> _ = y.data
>>> buffer(w)[:] -= 1.0
>>> written(w)
>>> y.data
array([ 0., 10.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from numpy.typing import NDArray

from mg_graph import Graph, Node
from mg_tensor.tensor import Tensor


def buffer(t: Tensor) -> NDArray[Any]:
    """The live array of ``t`` (realized first if needed). Do not keep it across
    replays of a frozen graph: computed buffers are reused."""
    node = t.node
    node.graph.realize(node)
    assert node.value is not None
    return node.value


def written(*tensors: Tensor) -> None:
    """Record that the buffers of these leaves were changed in place."""
    Graph.touch(*(t.node for t in tensors))


def rebind(t: Tensor, array: NDArray[Any]) -> None:
    """Make leaf ``t`` use ``array`` (same shape and dtype) as its storage, e.g. a view
    into one flat parameter vector; compiled schedules re-bind automatically."""
    Graph.rebind(t.node, array)


def pinnable(node: Node, array: NDArray[Any]) -> bool:
    """Whether a frozen graph can compute ``node`` straight into ``array`` (set
    ``node.meta["buffer"] = array``): a computed node of a frozen graph, with the
    array's shape and dtype, not pinned elsewhere already.

    >>> import numpy as np
    >>> from mg_tensor import Tensor
    >>> pinnable(Tensor([1.0]).node, np.zeros(1, np.float32))  # a leaf: nothing to compute
    False
    """
    return (
        node.op is not None
        and node.graph.frozen
        and node.shape == array.shape
        and node.dtype == array.dtype
        and "buffer" not in node.meta
    )
