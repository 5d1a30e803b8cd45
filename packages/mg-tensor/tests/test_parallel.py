"""mg_tensor.parallel: batch kernels split over threads, BLAS on one thread meanwhile."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator

import pytest

from mg_tensor import blas, parallel


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = parallel.get_num_threads()
    parallel.set_num_threads(2)
    yield
    parallel.set_num_threads(before)


BIG = parallel.MIN_COST  # a cost at the threshold: worth splitting


def test_parts_cover_the_batch_in_order_on_two_threads(two_threads: None) -> None:
    seen: list[tuple[int, int, int]] = []

    def part(p: slice) -> tuple[int, int]:
        seen.append((p.start, p.stop, threading.get_ident()))
        return p.start, p.stop

    assert parallel.batch_map(part, 7, BIG) == [(0, 3), (3, 7)]
    assert len({ident for *_, ident in seen}) == 2


def test_small_work_one_thread_and_nested_calls_run_in_the_caller(two_threads: None) -> None:
    assert parallel.batch_map(lambda p: (p.start, p.stop), 7, BIG - 1) == [(0, 7)]
    assert parallel.batch_map(lambda p: (p.start, p.stop), 1, BIG) == [(0, 1)]
    nested = parallel.batch_map(lambda p: parallel.batch_map(lambda q: q.stop, 4, BIG), 8, BIG)
    assert nested == [[4], [4]]  # the inner calls did not start a second pool
    parallel.set_num_threads(1)
    assert parallel.batch_map(lambda p: (p.start, p.stop), 7, BIG) == [(0, 7)]


@pytest.mark.skipif(blas.gemm_kernel("f") is None, reason="numpy's BLAS is not OpenBLAS")
def test_blas_runs_on_one_thread_inside_and_is_restored(two_threads: None) -> None:
    before = blas.threads()
    blas.set_threads(2)
    try:
        inside = parallel.batch_map(lambda p: blas.threads(), 4, BIG)
        assert inside == [1, 1]
        assert blas.threads() == 2
    finally:
        blas.set_threads(before)


@pytest.mark.skipif(blas.gemm_kernel("f") is None, reason="numpy's BLAS is not OpenBLAS")
def test_concurrent_callers_restore_blas_once(two_threads: None) -> None:
    before = blas.threads()
    blas.set_threads(2)
    start = threading.Barrier(3)

    def caller() -> None:
        start.wait()
        for _ in range(50):
            parallel.batch_map(lambda p: blas.threads(), 4, BIG)

    try:
        users = [threading.Thread(target=caller) for _ in range(3)]
        for user in users:
            user.start()
        for user in users:
            user.join()
        assert blas.threads() == 2  # not left at the 1 that one caller saw on entry
    finally:
        blas.set_threads(before)


def test_an_error_in_one_part_waits_for_the_others_and_propagates(two_threads: None) -> None:
    done: list[int] = []

    def part(p: slice) -> None:
        if p.start == 0:
            raise ValueError("boom")
        threading.Event().wait(0.05)
        done.append(p.start)

    with pytest.raises(ValueError, match="boom"):
        parallel.batch_map(part, 4, BIG)
    assert done == [2]  # the other part had finished when the error arrived


def test_chunked_covers_every_item_once(two_threads: None) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def chunk(p: slice) -> None:
        assert p.stop - p.start <= 4
        with lock:
            seen.extend(range(p.start, p.stop))

    parallel.chunked(chunk, 19, parallel.CHUNK // 4)
    assert sorted(seen) == list(range(19))


def test_set_num_threads_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError, match="set_num_threads"):
        parallel.set_num_threads(-1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_pools_of_its_own(two_threads: None) -> None:
    assert parallel.batch_map(lambda p: p.stop, 4, BIG) == [2, 4]  # the parent's pool exists
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        result = pool.apply_async(_split_in_child)
        assert result.get(timeout=30) == [2, 4]  # a hang here: the child used dead threads


def _split_in_child() -> list[int]:
    return parallel.batch_map(lambda p: p.stop, 4, BIG)
