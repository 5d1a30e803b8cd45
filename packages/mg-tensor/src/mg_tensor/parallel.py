"""Kernels that split their batch over the cores.

numpy runs one ufunc or copy on one core, and BLAS threads only the GEMM inside it, so
a convolution or pooling kernel (im2col copies, crops, masks, many middle-sized GEMMs)
used one of two cores for most of its time. A kernel whose images are independent
hands `batch_map` a function of a slice of its batch; the slices run on a pool of
threads at once (numpy and BLAS release the GIL), each GEMM single-threaded meanwhile:
threads inside threads would oversubscribe the cores.

How many threads: `set_num_threads` (by default every core the process may use). Small
work, one worker, or a call from inside a worker (no nested pools) run the function
once over the whole batch, in the caller's thread.

>>> import numpy as np
>>> x = np.arange(8.0).reshape(4, 2)
>>> parts = batch_map(lambda part: x[part].sum(), 4, cost=0)
>>> float(sum(parts))
28.0
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

from mg_tensor import blas

T = TypeVar("T")

MIN_COST = 1 << 18  # bytes a kernel touches below which a thread hand-off costs more
CHUNK = 1 << 20  # bytes of input per chunk of a memory-bound kernel: fits in L2
_lock = threading.Lock()
_state: dict[str, int] = {"inside": 0, "saved": 0, "workers": 0}
_pools: dict[int, ThreadPoolExecutor] = {}
_local = threading.local()


def get_num_threads() -> int:
    """Threads a batch kernel may use: `set_num_threads`'s number, by default the cores this
    process may run on.

    >>> get_num_threads() >= 1
    True
    """
    return _state["workers"] or _cores()


def set_num_threads(n: int) -> None:
    """Let batch kernels use ``n`` threads (0: all cores). BLAS's threads are set apart
    (``threadpoolctl``, ``OPENBLAS_NUM_THREADS``): a model whose GEMMs all run inside
    batch kernels (convolutions) trains fastest with BLAS on one thread, since
    OpenBLAS's idle threads spin for a while after each threaded call and take the
    cores from the workers; an MLP, whose GEMMs run alone, with BLAS on all cores.

    >>> set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(0)
    """
    if n < 0:
        raise ValueError(f"set_num_threads: n must be 0 (all cores) or positive, got {n}")
    _state["workers"] = int(n)


@functools.cache
def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # the cores this process may run on (Linux)
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _pool(n: int) -> ThreadPoolExecutor:
    with _lock:
        if n not in _pools:
            _pools[n] = ThreadPoolExecutor(n, thread_name_prefix="mg-batch")
        return _pools[n]


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread while any batch kernel runs (counted: calls from several user
    threads restore the setting once, when the last one ends)."""
    with _lock:
        if _state["inside"] == 0:
            _state["saved"] = blas.threads()
            blas.set_threads(1)
        _state["inside"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["inside"] -= 1
            if _state["inside"] == 0:
                blas.set_threads(_state["saved"])


def _after_fork() -> None:
    """In a forked child the pools' threads do not exist (and the lock may have been
    held by one of them): start afresh, or the first batch kernel would wait forever."""
    global _lock
    _lock = threading.Lock()
    _pools.clear()
    _state["inside"] = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _in_worker(fn: Callable[[slice], T], part: slice) -> T:
    """``fn(part)``, marked as running inside a batch kernel (no nested pools)."""
    _local.worker = True
    try:
        return fn(part)
    finally:
        _local.worker = False


def batch_map(fn: Callable[[slice], T], n: int, cost: int) -> list[T]:
    """``fn`` over contiguous slices of ``range(n)`` that cover it, one per worker, run at
    once; their results in order. ``cost`` is about the bytes the kernel touches: below
    `MIN_COST` (or with one worker) it is one call ``fn(slice(0, n))`` in this thread.

    >>> batch_map(lambda part: (part.start, part.stop), 3, cost=0)
    [(0, 3)]
    """
    count = min(get_num_threads(), n)
    if count < 2 or cost < MIN_COST or getattr(_local, "worker", False):
        return [fn(slice(0, n))]
    bounds = [n * k // count for k in range(count + 1)]
    parts = [slice(bounds[k], bounds[k + 1]) for k in range(count)]
    with _single_threaded_blas():
        futures = [_pool(count - 1).submit(_in_worker, fn, part) for part in parts[1:]]
        try:
            first = _in_worker(fn, parts[0])  # this thread takes a share too
        finally:
            wait(futures)  # no worker may still write when this returns or raises
        return [first, *(future.result() for future in futures)]


def chunks(part: slice, step: int) -> Iterator[slice]:
    """``part`` cut into slices of ``step`` (the last one shorter; at least one item each,
    for items larger than a whole chunk).

    >>> [(c.start, c.stop) for c in chunks(slice(2, 7), 2)]
    [(2, 4), (4, 6), (6, 7)]
    >>> [(c.start, c.stop) for c in chunks(slice(0, 2), 0)]
    [(0, 1), (1, 2)]
    """
    step = max(1, step)
    for start in range(part.start, part.stop, step):
        yield slice(start, min(start + step, part.stop))


def chunked(fn: Callable[[slice], object], n: int, item_bytes: int) -> None:
    """``fn`` over slices of ``range(n)`` of about `CHUNK` bytes (``item_bytes`` per
    item), the slices shared out between the workers: a memory-bound kernel's
    temporaries then stay in cache and come from the allocator's free lists.

    >>> seen = []
    >>> chunked(lambda part: seen.append((part.start, part.stop)), 3, CHUNK // 2)
    >>> sorted(seen) in ([(0, 2), (2, 3)], [(0, 1), (1, 3)])  # one or two workers
    True
    """

    def run(part: slice) -> None:
        for chunk in chunks(part, CHUNK // max(1, item_bytes)):
            fn(chunk)

    batch_map(run, n, n * item_bytes)
