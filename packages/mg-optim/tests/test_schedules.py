"""Schedules produce PyTorch's documented lr sequences (written out from the formulas)
and the optimiser's step uses them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mg_optim import (
    SGD,
    Adam,
    CosineAnnealingLR,
    LinearLR,
    LinearWarmup,
    LRScheduler,
    SequentialLR,
    StepLR,
)
from mg_tensor import Tensor


def make_opt(lr: float = 0.1) -> SGD:
    return SGD([Tensor([0.0, 0.0], requires_grad=True)], lr=lr)


def run(opt: SGD, sched: LRScheduler, n: int) -> list[float]:
    """The lr each of ``n`` training steps uses, stepping the schedule after each."""
    lrs = []
    for _ in range(n):
        lrs.append(opt.lr)
        assert sched.get_last_lr() == opt.lr
        sched.step()
    return lrs


def test_step_lr() -> None:
    opt = make_opt(0.05)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    expected = [0.05 * 0.5 ** (e // 3) for e in range(10)]
    np.testing.assert_allclose(run(opt, sched, 10), expected, rtol=1e-12)
    assert sched.last_epoch == 10


def test_cosine_annealing_lr() -> None:
    opt = make_opt(0.1)
    sched = CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    expected = [0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(15)]
    lrs = run(opt, sched, 15)
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert lrs[0] == pytest.approx(0.1) and lrs[10] == pytest.approx(0.001)


def test_linear_lr_decays_to_zero_like_the_mnist_recipe() -> None:
    batches = 600
    opt = make_opt(0.1)
    sched = LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=batches)
    lrs = run(opt, sched, batches + 3)
    expected = [0.1 * (1 - min(e, batches) / batches) for e in range(batches + 3)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=1e-15)
    assert lrs[0] == 0.1 and lrs[batches - 1] == pytest.approx(0.1 / batches)
    assert lrs[batches] == 0.0 and opt.lr == 0.0


def test_linear_lr_as_pytorch_warmup() -> None:
    opt = make_opt(0.5)
    sched = LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=4)
    expected = [0.5 * (0.25 + 0.75 * min(e, 4) / 4) for e in range(7)]
    np.testing.assert_allclose(run(opt, sched, 7), expected, rtol=1e-12)
    with pytest.raises(TypeError, match="total_iters is required"):
        LinearLR(make_opt())
    with pytest.raises(ValueError, match="total_iters must be a positive int"):
        LinearLR(make_opt(), total_iters=0)


def test_linear_warmup_then_cosine() -> None:
    opt = make_opt(1.0)
    warm = LinearWarmup(opt, warmup_steps=4)
    cosine = CosineAnnealingLR(opt, T_max=6, eta_min=0.1)
    sched = SequentialLR(opt, [warm, cosine], milestones=[4])
    lrs = run(opt, sched, 12)
    expected = [(e + 1) / 4 for e in range(4)]
    expected += [0.1 + 0.9 * (1 + math.cos(math.pi * e / 6)) / 2 for e in range(8)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert opt.initial_lr == 1.0 and warm.base_lr == cosine.base_lr == 1.0


def test_sequential_lr_three_phases() -> None:
    opt = make_opt(0.2)
    a = LinearLR(opt, start_factor=0.5, end_factor=1.0, total_iters=2)
    b = StepLR(opt, step_size=2, gamma=0.1)
    c = LinearLR(opt, total_iters=3)
    sched = SequentialLR(opt, [a, b, c], milestones=[3, 7])
    lrs = run(opt, sched, 12)
    expected = [0.2 * (0.5 + 0.5 * min(e, 2) / 2) for e in range(3)]
    expected += [0.2 * 0.1 ** (e // 2) for e in range(4)]
    expected += [0.2 * (1 - min(e, 3) / 3) for e in range(5)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="2 schedulers need 1 milestones"):
        SequentialLR(opt, [a, b], milestones=[])


def test_the_optimizer_uses_the_scheduled_lr() -> None:
    w = Tensor([1.0], requires_grad=True)
    opt = SGD([w], lr=0.1)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    expected = 1.0
    for e in range(5):
        w.grad = Tensor([1.0])  # constant gradient: each step moves w by -lr
        opt.step()
        sched.step()
        expected -= 0.1 * 0.5**e
        assert w.item() == pytest.approx(expected, rel=1e-6)


def test_scheduler_state_dict_resumes() -> None:
    opt = Adam([Tensor([0.0], requires_grad=True)], lr=1.0)
    warm = LinearWarmup(opt, 3)
    sched = SequentialLR(opt, [warm, CosineAnnealingLR(opt, T_max=5)], milestones=[3])
    full = run(opt, sched, 10)
    opt2 = Adam([Tensor([0.0], requires_grad=True)], lr=1.0)
    sched2 = SequentialLR(
        opt2, [LinearWarmup(opt2, 3), CosineAnnealingLR(opt2, T_max=5)], milestones=[3]
    )
    run(opt2, sched2, 4)
    saved_opt, saved_sched = opt2.state_dict(), sched2.state_dict()
    opt3 = Adam([Tensor([0.0], requires_grad=True)], lr=1.0)
    sched3 = SequentialLR(
        opt3, [LinearWarmup(opt3, 3), CosineAnnealingLR(opt3, T_max=5)], milestones=[3]
    )
    opt3.load_state_dict(saved_opt)
    sched3.load_state_dict(saved_sched)
    assert full[4:] == run(opt3, sched3, 6)
    with pytest.raises(ValueError, match="StepLR"):
        StepLR(make_opt(), 2).load_state_dict(LinearWarmup(make_opt(), 2).state_dict())


def test_simple_state_dict_round_trip() -> None:
    opt = make_opt(0.3)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    run(opt, sched, 5)
    state = sched.state_dict()
    assert state == {
        "scheduler": "StepLR",
        "last_epoch": 5,
        "base_lrs": [0.3],
        "last_lr": 0.3 * 0.25,
        "step_size": 2,
        "gamma": 0.5,
    }
    other = StepLR(make_opt(0.3), step_size=7)
    other.load_state_dict(state)
    assert other.step_size == 2 and other.last_epoch == 5 and other.get_last_lr() == 0.075
    other.step()
    assert other.optimizer.lr == pytest.approx(0.3 * 0.125)
