"""An elementwise optimiser's update split over two threads (BLAS on one thread, as
`mnist --model cnn` runs) gives what one thread gives; other optimisers never split."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from mg_optim import SGD, Adam, AdamW, Optimizer, RMSprop
from mg_optim.optimizer import Segment
from mg_tensor import Tensor, blas, parallel

MAKERS: dict[str, Callable[[list[Tensor]], Optimizer]] = {
    "sgd-nesterov": lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda ps: Adam(ps, lr=0.01, weight_decay=0.01),
    "adamw": lambda ps: AdamW(ps, lr=0.01),
    "rmsprop": lambda ps: RMSprop(ps, lr=0.01, momentum=0.5),
}


@pytest.fixture
def split(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(parallel, "MIN_COST", 0)
    threads, workers = blas.threads(), parallel.get_num_threads()
    blas.set_threads(1)
    yield
    blas.set_threads(threads)
    parallel.set_num_threads(workers)


def train(make: Callable[[list[Tensor]], Optimizer], workers: int) -> list[Any]:
    parallel.set_num_threads(workers)
    rng = np.random.default_rng(0)
    params = [Tensor(rng.standard_normal(s), requires_grad=True) for s in [(5, 3), (3,), (7,)]]
    opt = make(params)
    for step in range(4):
        loss = sum(((p - step) ** 2).sum() for p in params[:2]) + (params[2] ** 3).sum()
        assert isinstance(loss, Tensor)
        loss.backprop()
        opt.step()
    return [p.data.copy() for p in params]


@pytest.mark.parametrize("name", list(MAKERS))
def test_split_update_matches_one_thread(split: None, name: str) -> None:
    calls: list[int] = []
    cls = type(MAKERS[name]([Tensor(np.ones(1), requires_grad=True)]))
    original = cls.update

    def counted(self: Optimizer, seg: Segment, t: int) -> None:
        calls.append(seg.stop - seg.start)
        original(self, seg, t)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(cls, "update", counted)
        one = train(MAKERS[name], 1)
        assert calls == [25] * 4  # 5 * 3 + 3 + 7 elements, whole
        calls.clear()
        two = train(MAKERS[name], 2)
    assert sorted(calls) == [12] * 4 + [13] * 4  # split in two ranges every step
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_an_optimiser_that_is_not_elementwise_is_never_split(split: None) -> None:
    seen: list[int] = []

    class Normalised(Optimizer):  # reads its whole segment: may not be cut
        def update(self, seg: Segment, t: int) -> None:
            seen.append(seg.stop - seg.start)
            seg.param -= 0.1 * seg.grad / (np.linalg.norm(seg.grad) + 1e-12)

    parallel.set_num_threads(2)
    p = Tensor(np.ones(10), requires_grad=True)
    opt = Normalised([p], {"lr": 0.1})
    (p * p).sum().backprop()
    opt.step()
    assert seen == [10]
