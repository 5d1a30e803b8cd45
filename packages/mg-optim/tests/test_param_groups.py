"""Parameter groups as PyTorch writes them: per-group hyperparameters, schedules on
every group, state dicts that keep them."""

from __future__ import annotations

import numpy as np
import pytest

from mg_optim import SGD, AdamW, CosineAnnealingLR, LinearLR
from mg_tensor import Tensor


def _param(value: float) -> Tensor:
    return Tensor(np.array([value], np.float32), requires_grad=True)


def _step(opt: SGD | AdamW, params: list[Tensor]) -> None:
    loss = params[0].sum() * 0.0
    for p in params:
        loss = loss + (p * p).sum()
    loss.backprop()
    opt.step()


def test_no_weight_decay_on_biases_and_norms() -> None:
    weight, bias = _param(1.0), _param(1.0)
    opt = AdamW(
        [{"params": [weight], "weight_decay": 0.5}, {"params": [bias], "weight_decay": 0.0}],
        lr=0.1,
    )
    weight.grad = Tensor(np.zeros(1, np.float32))
    bias.grad = Tensor(np.zeros(1, np.float32))
    opt.step()  # zero gradients: only decoupled decay moves a weight
    assert weight.data.tolist() == pytest.approx([1.0 - 0.1 * 0.5])
    assert bias.data.tolist() == [1.0]
    assert opt.param_groups[1]["weight_decay"] == 0.0 and opt.weight_decay == 0.5


def test_per_group_learning_rates_and_momentum_match_separate_optimisers() -> None:
    a, b = _param(1.0), _param(2.0)
    ra, rb = _param(1.0), _param(2.0)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.01, "momentum": 0.5}], lr=0.1)
    ref_a, ref_b = SGD([ra], lr=0.1), SGD([rb], lr=0.01, momentum=0.5)
    for _ in range(4):
        _step(opt, [a, b])
        _step(ref_a, [ra])
        _step(ref_b, [rb])
    np.testing.assert_allclose(a.data, ra.data)
    np.testing.assert_allclose(b.data, rb.data)


@pytest.mark.parametrize("schedule", [LinearLR, CosineAnnealingLR])
def test_schedules_act_on_every_group(schedule: type) -> None:
    a, b = _param(1.0), _param(1.0)
    opt = SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.1}], lr=0.5)
    sched = schedule(opt, total_iters=4) if schedule is LinearLR else schedule(opt, T_max=4)
    for _ in range(2):
        sched.step()
    first, second = (g["lr"] for g in opt.param_groups)
    assert first == pytest.approx(10 * second) and 0 < first < 1.0
    assert sched.get_last_lr() == first and opt.lr == first


def test_state_dict_keeps_the_groups() -> None:
    a, b = _param(1.0), _param(1.0)
    opt = AdamW([{"params": [a], "lr": 0.2}, {"params": [b], "weight_decay": 0.0}], lr=0.1)
    _step(opt, [a, b])
    saved = opt.state_dict()
    c, d = _param(1.0), _param(1.0)
    other = AdamW([{"params": [c]}, {"params": [d]}], lr=0.3)
    other.load_state_dict(saved)
    assert [g["lr"] for g in other.param_groups] == [0.2, 0.1]
    assert [g["weight_decay"] for g in other.param_groups] == [0.01, 0.0]
    with pytest.raises(ValueError, match="groups"):
        AdamW([c, d]).load_state_dict(saved)


def test_bad_groups_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="no 'params'"):
        SGD([{"lr": 0.1}], lr=0.1)
    with pytest.raises(ValueError, match=r"sets \['betas'\]"):
        SGD([{"params": [_param(1.0)], "betas": (0.9, 0.9)}], lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        SGD([{"params": [_param(1.0)], "momentum": -1.0}], lr=0.1)
    p = _param(1.0)
    with pytest.raises(ValueError, match="twice"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
