"""Gradient all-reduce over an optimiser's flat gradient arrays, in buckets.

Each dtype's flat gradient array (``Optimizer.grad_arrays``) is cut into *buckets*:
runs of parameters taken in reverse order (the order a backward pass produces their
gradients), closed once they hold ``bucket_bytes`` or more, so small gradients (biases)
travel fused with their neighbours. Every bucket is reduced with one non-blocking
``Iallreduce`` in place; it is started either by a frozen graph's replay as soon as
its gradients exist (`mg_dist.overlap`) or by `Reducer.reduce`, always in bucket
order, so every rank issues the same collectives in the same order.

Weights: a rank's gradients are multiplied by its weight (its local sample count, or
1) before the sum and the sum is divided by the total weight, so ranks with more
samples count more. A parameter without a gradient on a rank takes part as zeros;
it is updated if and only if some rank has a gradient for it (a small blocking
``Allreduce`` of presence flags tells every rank the same).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mg_graph import describe, user_location
from mg_optim import Optimizer
from mg_tensor import Tensor, gradients

DEFAULT_BUCKET_BYTES = 1 << 20


def same_array(a: NDArray[Any], b: NDArray[Any]) -> bool:
    """True when ``a`` and ``b`` are the same memory with the same layout."""
    return a.ctypes.data == b.ctypes.data and a.shape == b.shape and a.strides == b.strides


class Slot:
    """One parameter's place in a flat gradient array."""

    __slots__ = ("index", "param", "view")

    def __init__(self, index: int, param: Tensor, view: NDArray[Any]) -> None:
        self.index = index  # position in the optimiser's parameter list
        self.param = param
        self.view = view  # the parameter's shape, a view of the flat gradient array

    def fill_from_grad(self) -> bool:
        """Make the slot hold ``param.grad`` (no copy if it is already there); False,
        and zeros in the slot, when the parameter has no gradient."""
        rec = gradients.record(self.param.node)
        if rec is None or not rec.pending:
            self.view.fill(0)
            return False
        array = rec.value()
        if not same_array(array, self.view):
            if array.shape != self.view.shape:
                raise ValueError(
                    describe(
                        "DistributedOptimizer.step",
                        f"a gradient of shape {array.shape} for a parameter of shape "
                        f"{self.view.shape}",
                        user_location(),
                        "set .grad to a tensor of the parameter's shape",
                    )
                )
            np.copyto(self.view, array, casting="same_kind")
        return True


class Bucket:
    """A contiguous run of slots of one flat gradient array, reduced by one
    ``Iallreduce``; ``request`` is set from start to completion."""

    __slots__ = ("flat", "present", "reducer", "request", "slots", "weight")

    def __init__(self, reducer: Reducer, flat: NDArray[Any], slots: list[Slot]) -> None:
        self.reducer = reducer
        self.flat = flat
        self.slots = slots  # in reverse parameter order
        self.request: Any = None
        self.present: list[bool] = [True] * len(slots)
        self.weight = 1.0

    @property
    def nbytes(self) -> int:
        return int(self.flat.nbytes)

    def start(self, present: list[bool], weight: float) -> None:
        """Zero the slots of absent gradients, apply this rank's weight, start the sum."""
        r = self.reducer
        if self.request is not None:  # a second replay before step(): redo it
            self.request.Wait()
        for slot, has in zip(self.slots, present, strict=True):
            if not has:
                slot.view.fill(0)
        if weight != 1.0:
            np.multiply(self.flat, weight, out=self.flat)
        self.present = present
        self.weight = weight
        self.request = r.comm.Iallreduce(r.mpi.IN_PLACE, self.flat, op=r.mpi.SUM)
        r.poke()

    def __repr__(self) -> str:
        names = ",".join(str(s.index) for s in self.slots)
        return f"bucket[{names}]"


def make_buckets(reducer: Reducer, optimizer: Optimizer, bucket_bytes: int) -> list[Bucket]:
    """Cut each dtype's flat gradient array into buckets (see the module docstring)."""
    params = optimizer.params
    buckets: list[Bucket] = []
    for dtype, flat in optimizer.grad_arrays.items():
        slots: list[Slot] = []
        offset = 0
        for k, p in enumerate(params):  # the optimiser's layout: params in order, per dtype
            if p.dtype == dtype:
                slots.append(Slot(k, p, flat[offset : offset + p.size].reshape(p.shape)))
                offset += p.size
        run: list[Slot] = []
        top = run_top = offset  # the run covers flat[top:run_top]
        for slot in reversed(slots):
            run.append(slot)
            top -= slot.param.size
            if (run_top - top) * flat.itemsize >= bucket_bytes:
                buckets.append(Bucket(reducer, flat[top:run_top], run))
                run, run_top = [], top
        if run:
            buckets.append(Bucket(reducer, flat[top:run_top], run))
    return buckets


class Reducer:
    """Averages the gradients of an optimiser's parameters over every rank."""

    def __init__(
        self, optimizer: Optimizer, comm: Any, mpi: Any, bucket_bytes: int = DEFAULT_BUCKET_BYTES
    ) -> None:
        self.optimizer = optimizer
        self.comm = comm
        self.mpi = mpi
        self.buckets = make_buckets(self, optimizer, bucket_bytes)
        self.slots = sorted((s for b in self.buckets for s in b.slots), key=lambda s: s.index)
        self._flags = np.zeros(1 + len(self.slots), np.float64)
        self.wait_seconds = 0.0  # time blocked on communication in reduce()
        self.reductions = 0
        self.overlapped = 0  # buckets a replay had started by the time reduce() ran

    def poke(self) -> None:
        """Let MPI progress the started reductions (it only moves inside MPI calls)."""
        requests = [b.request for b in self.buckets if b.request is not None]
        if requests:
            self.mpi.Request.Testall(requests)

    def reduce(self, samples: float | None = None) -> list[Tensor]:
        """Replace every gradient by the weighted average over ranks (see the module
        docstring); start the buckets no replay has started, then wait for all.
        Returns the parameters that had no gradient here but got the average (the
        caller sets their ``.grad`` back to None after the step, so that it does not
        linger into the next one)."""
        weight = _weight(samples)
        self._start_the_rest(samples, weight)
        flags = self._wait(weight)
        scale = 1.0 / flags[0]
        for flat in self.optimizer.grad_arrays.values():
            np.multiply(flat, scale, out=flat)
        return self._hand_back(flags)

    def _start_the_rest(self, samples: float | None, weight: float) -> None:
        """Start the buckets no replay has started; check the weight of those it has."""
        for bucket in self.buckets:
            if bucket.request is None:
                bucket.start([slot.fill_from_grad() for slot in bucket.slots], weight)
                continue
            self.overlapped += 1
            if samples is not None and bucket.weight != weight:
                raise ValueError(
                    describe(
                        "DistributedOptimizer.step",
                        f"samples={samples}, but the replay already weighted its gradients "
                        f"by {bucket.weight:g} (the first samples given for this graph)",
                        user_location(),
                        "pass the same samples for every step of a traced graph "
                        "(its batch size), or create the optimiser with overlap=False",
                    )
                )

    def _wait(self, weight: float) -> NDArray[np.float64]:
        """Sum the weights and presence flags over ranks, wait for every bucket; returns
        the flags: [total weight, then per parameter how many ranks have a gradient]."""
        start = time.perf_counter()
        flags = self._flags
        flags[0] = weight
        for bucket in self.buckets:
            for slot, has in zip(bucket.slots, bucket.present, strict=True):
                flags[1 + slot.index] = has
        self.comm.Allreduce(self.mpi.IN_PLACE, flags, op=self.mpi.SUM)
        self.mpi.Request.Waitall([b.request for b in self.buckets])
        self.wait_seconds += time.perf_counter() - start
        self.reductions += 1
        for bucket in self.buckets:
            bucket.request = None
        return flags

    def _hand_back(self, flags: NDArray[np.float64]) -> list[Tensor]:
        """Make each parameter's gradient the averaged slot; returns the parameters
        that had none here (borrowed: see `reduce`)."""
        borrowed: list[Tensor] = []
        for bucket in self.buckets:
            for slot, has in zip(bucket.slots, bucket.present, strict=True):
                p = slot.param
                if not flags[1 + slot.index]:
                    continue  # no rank has one: not updated anywhere
                if not has:
                    p.grad = Tensor(slot.view)  # the average of the others' gradients
                    borrowed.append(p)
                    continue
                rec = gradients.record(p.node)
                assert rec is not None
                same = same_array(rec.value(), slot.view)
                gradients.modified(p.node, None if same else slot.view.copy())
        return borrowed


def _weight(samples: float | None) -> float:
    """This rank's weight: its sample count, or 1; refuses one that is not positive."""
    weight = 1.0 if samples is None else float(samples)
    if not weight > 0:
        raise ValueError(
            describe(
                "DistributedOptimizer.step",
                f"samples must be > 0, got {samples}",
                user_location(),
                "pass the number of samples this rank's gradients were computed on",
            )
        )
    return weight
