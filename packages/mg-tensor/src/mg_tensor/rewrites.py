"""The numerical-stability rewrites, and `DEFAULT_PASSES`: what ``compute_graph`` runs.

Stabilisation runs when ``compute_graph`` freezes a graph, before any gradient node
exists, so the gradients are built from the stable forms too:

* ``exp(x) / exp(x).sum(axis, keepdims=True)`` becomes ``softmax(x, axis)``, whose
  kernel subtracts the maximum first (logits of +-1000 stay finite);
* ``log(softmax(x))`` becomes ``log_softmax(x)``, whose gradient never divides by a
  probability that underflowed to 0.

One rewrite for speed runs with them: ``max_pool(relu(x))`` becomes
``relu(max_pool(x))`` (`relu_after_max`), the same values and gradients with the
ReLU and its gradient on the pooled, smaller array.

>>> [stage.name for stage in DEFAULT_PASSES]
['fold_constants', 'cse', 'stabilize_softmax', 'relu_after_max', 'dce']
"""

from __future__ import annotations

from mg_graph import Node, Rewrite, Stage, Sweep
from mg_graph.passes import CSE, DCE, FOLD
from mg_graph.rewrite import FREEZE
from mg_tensor.ops.base import TensorOp
from mg_tensor.ops.binary import Divide
from mg_tensor.ops.reduce import Sum
from mg_tensor.ops.shape import BroadcastTo, Reshape
from mg_tensor.ops.softmax import LogSoftmax, Softmax
from mg_tensor.ops.unary import Exp, Log, Relu


def _through_views(node: Node) -> Node:
    while isinstance(node.op, Reshape | BroadcastTo):
        node = node.inputs[0]
    return node


def stable_softmax(node: Node, sweep: Sweep) -> Rewrite | None:
    """``exp(x) / sum(exp(x), axis)`` (keepdims or reshaped) becomes ``softmax(x, axis)``.

    Common subexpressions are merged first, so ``x.exp()`` written twice is one node.

    >>> import numpy as np
    >>> from mg_tensor import Tensor, compute_graph
    >>> f = compute_graph(lambda x: x.exp() / x.exp().sum(axis=0, keepdims=True))
    >>> f(np.array([1000.0, -1000.0])).data
    array([1., 0.])
    """
    if not isinstance(node.op, Divide):
        return None
    numerator, denominator = node.inputs
    total = _through_views(denominator)
    if not (isinstance(numerator.op, Exp) and isinstance(total.op, Sum)):
        return None
    if total.inputs[0] is not numerator or len(total.op.axes) != 1:
        return None
    if numerator.shape != node.shape:  # the denominator must broadcast, not the numerator
        return None
    axis = total.op.axes[0]
    if node.ndim > 0 and denominator.shape[axis] != 1 and numerator.shape[axis] != 1:
        return None
    return Rewrite(Softmax(axis), numerator.inputs)


def stable_log_softmax(node: Node, sweep: Sweep) -> Rewrite | None:
    """``log(softmax(x))`` becomes ``log_softmax(x)``.

    >>> import numpy as np
    >>> from mg_tensor import Tensor, compute_graph
    >>> f = compute_graph(lambda x: (x.exp() / x.exp().sum(axis=0, keepdims=True)).log())
    >>> f(np.array([1000.0, -1000.0])).data
    array([    0., -2000.])
    """
    if not (isinstance(node.op, Log) and isinstance(node.inputs[0].op, Softmax)):
        return None
    softmax = node.inputs[0]
    assert isinstance(softmax.op, Softmax)
    return Rewrite(LogSoftmax(softmax.op.axis), softmax.inputs)


def relu_after_max(node: Node, sweep: Sweep) -> Rewrite | None:
    """``m(relu(x))`` becomes ``relu(m(x))`` for an op ``m`` that picks the largest element
    of each window (`TensorOp.selects_max`: max pooling, ``max``) and shrinks its input.

    The values agree since relu is non-decreasing. So do the gradients: where a window's
    maximum is positive, both forms route the gradient to its first maximum, and
    elsewhere relu's gradient (0 at and below 0) stops it in both. Only a relu that
    nothing else reads is moved (otherwise it would still run on the large array).

    >>> import numpy as np
    >>> from mg_tensor import compute_graph
    >>> f = compute_graph(lambda x: x.relu().max(axis=1))
    >>> f(np.array([[-1.0, 2.0], [-3.0, -4.0]])).data, f.graph.rewrites
    (array([2., 0.]), {'relu_after_max': 1, 'dce': 1})
    """
    op, inputs = node.op, node.inputs
    if not (isinstance(op, TensorOp) and op.selects_max and len(inputs) == 1):
        return None
    inner = inputs[0]
    if not isinstance(inner.op, Relu) or sweep.uses(inner) != 1 or node.size >= inner.size:
        return None
    return Rewrite(inner.op, (sweep.graph.apply(op, inner.inputs[0]),))


STABILIZE = Stage("stabilize_softmax", (stable_softmax, stable_log_softmax), frozenset({FREEZE}))
RELU_AFTER_MAX = Stage("relu_after_max", (relu_after_max,), frozenset({FREEZE}))
DEFAULT_PASSES = (FOLD, CSE, STABILIZE, RELU_AFTER_MAX, DCE)
