"""Gradient reductions scheduled by a frozen training graph.

After the first step on a frozen graph (``compute_graph``) whose gradients land in
the optimiser's flat arrays, one *effect node* per bucket is added to that graph: its
inputs are the bucket's gradient nodes and its kernel starts the bucket's
``Iallreduce``. A frozen schedule runs effect nodes as early as their inputs allow
(``mg_graph.executor.effects_first``), and buckets hold parameters in reverse order,
so during ``backprop()`` the last layer's reduction starts as soon as its gradients
are computed and travels while the replay computes the earlier layers' gradients.
`DistributedOptimizer.step` waits for them where the optimiser needs them.

Effect nodes are added for a prefix of the buckets only (up to the first bucket
holding a gradient the graph does not write into the flat array), so every rank
starts its buckets in bucket order whichever of them a replay started.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_dist.reduce import Bucket, Reducer, same_array
from mg_graph import Graph, Node, Op
from mg_tensor import Tensor, gradients


@dataclass(frozen=True, eq=False)
class StartReduction(Op):
    """Effect op: start the all-reduce of ``bucket`` (inputs: its gradient nodes).

    ``present[i]`` says whether the graph computes slot i's gradient (absent ones are
    sent as zeros); ``weight`` is this rank's sample weight.
    """

    name: ClassVar[str] = "start_allreduce"
    pure: ClassVar[bool] = False
    effect: ClassVar[bool] = True
    bucket: Bucket = field(compare=False)
    present: tuple[bool, ...] = ()
    weight: float = 1.0

    def infer(self, *inputs: Node) -> tuple[tuple[int, ...], np.dtype[Any]]:
        return (), np.dtype(np.int8)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        self.bucket.start(list(self.present), self.weight)
        result = np.zeros((), np.int8) if out is None else out
        result[()] = 1
        return result


def gradient_node(param: Tensor) -> Node | None:
    """The computed node behind ``param.grad`` after a ``backprop()``.

    The one place mg-dist reads another package's bookkeeping (mg-tensor's
    ``meta["grad_node"]``): adapt it when gradients get a typed record.
    """
    return gradients.computed(param.node)


class Overlap:
    """Adds effect nodes to each frozen graph the optimiser's gradients come from."""

    def __init__(self, reducer: Reducer) -> None:
        self.reducer = reducer
        self.graphs: weakref.WeakSet[Graph] = weakref.WeakSet()  # graphs given effect nodes

    def attach(self, weight: float) -> None:
        """After a step: give the graph that computed this step's gradients its effect
        nodes (once); ``weight`` is the sample weight its replays will apply."""
        graph = self._graph()
        if graph is None or graph in self.graphs:
            return
        added: list[tuple[Bucket, tuple[bool, ...], list[Node]]] = []
        for bucket in self.reducer.buckets:
            plan = self._bucket_inputs(bucket, graph)
            if plan is None:
                break  # later buckets would start before this one: keep the order
            added.append((bucket, *plan))
        if not added:
            return
        with graph.gradients(optimize=False):
            nodes = [
                graph.apply(StartReduction(bucket, present, weight), *inputs)
                for bucket, present, inputs in added
            ]
            graph.add_outputs(*nodes)
        self.graphs.add(graph)

    def _graph(self) -> Graph | None:
        """The frozen graph of the newest gradients (the one just replayed)."""
        nodes = [gradient_node(slot.param) for slot in self.reducer.slots]
        frozen = [node for node in nodes if node is not None and node.graph.frozen]
        return max(frozen, key=lambda node: node.stamp).graph if frozen else None

    @staticmethod
    def _bucket_inputs(bucket: Bucket, graph: Graph) -> tuple[tuple[bool, ...], list[Node]] | None:
        """The bucket's gradient nodes in ``graph`` and which slots have one, or None
        when some gradient of the graph is not computed straight into its slot."""
        present: list[bool] = []
        inputs: list[Node] = []
        for slot in bucket.slots:
            node = gradient_node(slot.param)
            if node is None or node.graph is not graph:
                present.append(False)
                continue
            rec = gradients.record(slot.param.node)
            if rec is None or not same_array(rec.value(), slot.view):
                return None
            present.append(True)
            inputs.append(node)
        return (tuple(present), inputs) if inputs else None
