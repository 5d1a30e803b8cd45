"""The examples' models are small: one BLAS thread is the fastest (and on a busy machine
several threads are several times slower), so their tests run with one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield
