"""BatchNorm's running-statistics update: an effect node (issue 11), so it runs exactly
once per computation of its graph, eagerly and at every call of a frozen one, and no
pass removes, merges or folds it although nothing reads its value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from mg_tensor.inplace import written
from mg_tensor.oplib import Array, Node, Spec, Tensor, TensorOp, float_dtype


@dataclass(frozen=True, eq=False)
class RunningStats(TensorOp):
    """``(batch mean, biased batch variance) -> ()``; as a side effect
    ``running = (1 - f) * running + f * statistic`` for the mean and the unbiased
    variance (``var * n / (n - 1)``, ``n`` values per channel), and
    ``num_batches_tracked += 1``. ``f`` is ``momentum``, or ``1 / num_batches_tracked``
    (a cumulative average) when ``momentum`` is None: PyTorch's update.

    >>> from mg_tensor.oplib import apply
    >>> mean, var = Tensor.input(np.zeros(2)), Tensor.input(np.ones(2))
    >>> steps = Tensor.input(np.array(0))
    >>> update = RunningStats(mean, var, steps, 0.5, 3)
    >>> _ = apply(update, Tensor([2.0, 4.0]), Tensor([1.0, 1.0])).data
    >>> mean.data, var.data, steps.data
    (array([1., 2.]), array([1.25, 1.25]), array(1))
    """

    running_mean: Tensor = field(repr=False)
    running_var: Tensor = field(repr=False)
    num_batches_tracked: Tensor | None = field(repr=False)
    momentum: float | None
    per_channel: int  # values per channel in a batch
    name: ClassVar[str] = "batch_norm_running_stats"
    pure: ClassVar[bool] = False
    effect: ClassVar[bool] = True
    differentiable: ClassVar[bool] = False

    def infer(self, *inputs: Node) -> Spec:
        return (), float_dtype(self.name, inputs)

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        mean, var = (a.reshape(-1) for a in arrays)
        steps = self.num_batches_tracked
        batches = 0
        if steps is not None:
            tracked = steps.node.value
            assert tracked is not None
            tracked += 1
            batches = int(tracked)
        cumulative = 1.0 / batches if batches else 0.0  # momentum None: a running average
        factor = cumulative if self.momentum is None else self.momentum
        unbiased = self.per_channel / max(self.per_channel - 1, 1)
        for running, batch, scale in (
            (self.running_mean, mean, 1.0),
            (self.running_var, var, unbiased),
        ):
            value = running.node.value  # the buffer's own array: updated in place
            assert value is not None
            value *= 1.0 - factor
            value += (factor * scale) * batch
        changed = [self.running_mean, self.running_var]
        written(*changed, *([] if steps is None else [steps]))
        result = np.zeros((), arrays[0].dtype) if out is None else out
        result[...] = 0
        return result
