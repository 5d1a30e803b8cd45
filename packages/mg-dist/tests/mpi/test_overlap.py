"""Run under ``mpiexec -n 2``: in a frozen training graph each bucket's reduction is
an effect node that starts as soon as the replay has computed its gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from nets import MLP, data, loss

import mg_dist as dist
from mg_dist.overlap import StartReduction
from mg_dist.reduce import Bucket
from mg_optim import SGD
from mg_tensor import Tensor, compute_graph

pytestmark = pytest.mark.skipif(dist.world_size() != 2, reason="run with mpiexec -n 2")


def _setup(bucket_bytes: int) -> tuple[MLP, Any, Any, Any]:
    model = MLP([32, 64, 64, 64, 10], np.float32, seed=0)
    opt = dist.DistributedOptimizer(SGD(model.parameters(), lr=0.1), bucket_bytes=bucket_bytes)

    @compute_graph
    def forward(x: Tensor, y: Tensor) -> Tensor:
        return loss(model, x, y)

    return model, opt, forward, data(16, 32, 10, np.float32, seed=dist.rank())


def test_buckets_hold_parameters_in_reverse_order_small_ones_fused() -> None:
    model, opt, _, _ = _setup(bucket_bytes=2048)
    names = {id(p): name for name, p in model.named_parameters()}
    layout = [[names[id(s.param)] for s in b.slots] for b in opt.reducer.buckets]
    assert layout == [
        ["fc3.bias", "fc3.weight"],  # 2.6 KB: a bucket closes once it holds 2 KB
        ["fc2.bias", "fc2.weight"],
        ["fc1.bias", "fc1.weight"],
        ["fc0.bias", "fc0.weight"],
    ]


def test_the_first_bucket_starts_before_the_last_backward_kernel(monkeypatch: Any) -> None:
    model, opt, forward, (x, y) = _setup(bucket_bytes=2048)
    forward(x, y).backprop()
    opt.step()  # the first step adds the effect nodes
    graph = forward.graph
    effects = [n for n in graph.outputs if isinstance(n.op, StartReduction)]
    assert len(effects) == len(opt.reducer.buckets) == 4
    # in the schedule: the first reduction comes before the last gradient kernel
    order = [graph.executor.plan.order.index(n) for n in effects]
    gradients = [
        i
        for i, n in enumerate(graph.executor.plan.order)
        if n.op is not None and n.is_gradient and not n.op.effect
    ]
    assert order == sorted(order) and order[0] < gradients[-1]
    # and at run time: when the first bucket starts, the first layer's weight gradient
    # (the backward pass's last kernel) has not been computed yet
    first_layer = next(s for s in opt.reducer.slots if s.param is model.params["fc0.weight"])
    seen: list[bool] = []
    start = Bucket.start

    def spy(self: Bucket, present: list[bool], weight: float) -> None:
        seen.append(bool(np.isnan(first_layer.view).all()))
        start(self, present, weight)

    monkeypatch.setattr(Bucket, "start", spy)
    first_layer.view.fill(np.nan)
    forward(x, y).backprop()
    assert seen == [True, True, True, False]  # the last bucket holds fc0.weight itself
    opt.step()
    assert opt.reducer.overlapped == 4
    assert np.isfinite(model.params["fc0.weight"].data).all()


def test_overlap_gives_the_same_parameters_as_blocking() -> None:
    results = []
    for overlap in (False, True):
        model = MLP([32, 64, 64, 10], np.float64, seed=0)
        opt = dist.DistributedOptimizer(
            SGD(model.parameters(), lr=0.1, momentum=0.9), overlap=overlap, bucket_bytes=4096
        )

        @compute_graph
        def forward(x: Tensor, y: Tensor, model: MLP = model) -> Tensor:
            return loss(model, x, y)

        for step in range(5):
            x, y = data(16, 32, 10, np.float64, seed=10 * step + dist.rank())
            forward(x, y).backprop()
            opt.step()
        assert opt.reducer.overlapped == (4 * len(opt.reducer.buckets) if overlap else 0)
        results.append([p.data for p in model.parameters()])
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_replay_keeps_the_weight_of_its_graphs_first_step() -> None:
    _, opt, forward, (x, y) = _setup(bucket_bytes=2048)
    forward(x, y).backprop()
    opt.step(samples=16)  # adds the effect nodes: replays weight by 16
    forward(x, y).backprop()
    with pytest.raises(ValueError, match="samples=8, but the replay already weighted"):
        opt.step(samples=8)
    reducer = opt.reducer
    reducer.mpi.Request.Waitall([b.request for b in reducer.buckets])  # tidy up
    for bucket in reducer.buckets:
        bucket.request = None
