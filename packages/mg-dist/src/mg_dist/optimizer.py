"""`DistributedOptimizer`: wraps an optimiser so that `step` first averages the
gradients over every rank.

Why an optimiser wrapper rather than a ``DataParallel`` model wrapper: the average
must happen between ``backprop()`` and ``optimizer.step()``, and ``step`` is the one
call every training loop makes at exactly that point (``backprop`` belongs to the
loss tensor, not to the model). The optimiser also owns one flat gradient array per
dtype that frozen graphs already write into, so buckets are slices of it and nothing
is packed or copied. The model stays a plain ``Model``: ``compute_graph``, parameter
names, ``state_dict`` and saved files are the same as in a one-process run.
"""

from __future__ import annotations

from typing import Any

from mg_dist.overlap import Overlap
from mg_dist.reduce import DEFAULT_BUCKET_BYTES, Reducer
from mg_dist.runtime import comm, mpi
from mg_optim import Optimizer
from mg_optim.optimizer import Params
from mg_tensor import Tensor


class DistributedOptimizer:
    """``optimizer`` whose `step` averages gradients over the ranks first.

    Every other attribute (``lr``, ``params``, ``state_dict()``...) is the wrapped
    optimiser's; give schedules the wrapped one (``dist_opt.optimizer``). In a world
    of one process `step` is the wrapped optimiser's step.

    >>> from mg_tensor import Tensor
    >>> from mg_optim import SGD
    >>> w = Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = DistributedOptimizer(SGD([w], lr=0.5))
    >>> (w * w).sum().backprop()
    >>> opt.step()
    >>> w.data
    array([0., 0.], dtype=float32)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        overlap: bool = True,
        bucket_bytes: int = DEFAULT_BUCKET_BYTES,
    ) -> None:
        self.optimizer = optimizer
        c = comm()
        self.reducer = (
            Reducer(optimizer, c, mpi(), bucket_bytes)
            if c is not None and c.Get_size() > 1
            else None
        )
        self.overlap = Overlap(self.reducer) if overlap and self.reducer is not None else None
        self._borrowed: list[Tensor] | None = None  # set between synchronize() and step()

    def synchronize(self, samples: float | None = None) -> None:
        """Average the gradients now (`step` then does not again): call it before
        reading or clipping ``.grad`` between ``backprop()`` and `step`, since
        overlapped reductions write the gradients in place until then."""
        if self.reducer is not None and self._borrowed is None:
            self._borrowed = self.reducer.reduce(samples)

    def step(self, params: Params | None = None, samples: float | None = None) -> None:
        """Average the gradients over the ranks, then step the wrapped optimiser.

        ``samples`` is the number of samples this rank's gradients were computed on:
        each rank's gradients are weighted by it (default: equal weights). A parameter
        whose ``.grad`` is None on some ranks counts as zeros there and is updated on
        every rank if any rank has a gradient for it, on none otherwise.

        With ``overlap`` (the default), the first step on a frozen graph
        (``compute_graph``) adds effect nodes to it, so that from the next
        ``backprop()`` on each bucket's reduction starts as soon as the replay has
        computed its gradients (`mg_dist.overlap`); its ``samples`` are then the
        weight of every later replay of that graph.
        """
        if self.reducer is None:
            self.optimizer.step(params)
            return
        self.synchronize(samples)
        borrowed, self._borrowed = self._borrowed or [], None
        self.optimizer.step(params)
        for p in borrowed:
            p.grad = None
        if self.overlap is not None:
            self.overlap.attach(1.0 if samples is None else float(samples))

    @property
    def wait_seconds(self) -> float:
        """Seconds `step` spent blocked on communication so far (0 in a world of one)."""
        return 0.0 if self.reducer is None else self.reducer.wait_seconds

    @property
    def lr(self) -> float:
        """The wrapped optimiser's learning rate."""
        return float(self.optimizer.lr)

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)

    def __repr__(self) -> str:
        return f"DistributedOptimizer({self.optimizer!r})"
