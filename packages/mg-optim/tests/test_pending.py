"""Gradients applied once, only where they flow (issue 11, section 2): a step updates a
parameter if and only if its gradient is pending."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mg_optim import SGD, AdamW, clip_grad_norm
from mg_tensor import Tensor, compute_graph


def _params(*values: float) -> list[Tensor]:
    return [Tensor([v], requires_grad=True) for v in values]


@pytest.mark.parametrize("compiled", [False, True])
def test_a_detached_encoder_is_neither_decayed_nor_moved(compiled: bool) -> None:
    encoder, head = _params(1.0, 1.0)
    opt = AdamW([encoder, head], lr=0.1, weight_decay=0.5)

    def loss_of(x: Any) -> Tensor:
        return ((encoder * x).detach() * head).sum()

    loss = compute_graph(loss_of) if compiled else loss_of
    for _ in range(3):
        loss(np.ones(1, np.float32)).backprop()
        opt.step()
    assert encoder.data.tolist() == [1.0]
    assert head.data.tolist() != [1.0]


def test_alternating_heads_move_only_when_used() -> None:
    trunk, a, b = _params(1.0, 1.0, 1.0)
    opt = SGD([trunk, a, b], lr=0.1, momentum=0.9)
    moves = {"a": 0, "b": 0}
    for step in range(6):
        before = (a.data.copy(), b.data.copy())
        head = a if step % 6 == 0 else b  # head a is used once in six steps
        (trunk * head).sum().backprop()
        opt.step()
        moves["a"] += int(not np.array_equal(a.data, before[0]))
        moves["b"] += int(not np.array_equal(b.data, before[1]))
    assert moves == {"a": 1, "b": 5}


def test_a_gradient_is_applied_once() -> None:
    (w,) = _params(1.0)
    opt = SGD([w], lr=0.5)
    (w * 2).sum().backprop()
    opt.step()
    opt.step()  # no new gradient: nothing moves
    assert w.data.tolist() == [0.0]
    w.grad = Tensor([1.0])  # assignment counts as a new gradient
    opt.step()
    assert w.data.tolist() == [-0.5]


def test_frozen_parameters_and_zero_grad_are_skipped() -> None:
    w, b = _params(1.0, 1.0)
    opt = SGD([w, b], lr=0.5, weight_decay=0.1)
    w.requires_grad = False
    (w * 2 + b).sum().backprop()
    opt.step()
    assert w.data.tolist() == [1.0] and b.data.tolist() != [1.0]
    w.requires_grad = True
    (w * 2).sum().backprop()
    opt.zero_grad()
    assert w.grad is None and b.grad is None
    opt.step()
    assert w.data.tolist() == [1.0]


def test_in_place_changes_neither_make_nor_cancel_a_pending_gradient() -> None:
    (w,) = _params(1.0)
    opt = SGD([w], lr=1.0)
    (w * 4).sum().backprop()
    clip_grad_norm([w], 1.0)  # in place: still pending
    opt.step()
    assert w.data.tolist() == pytest.approx([0.0], abs=1e-5)
    assert clip_grad_norm([w], 1.0) == 0.0  # nothing pending to clip
    opt.step()
    assert w.data.tolist() == pytest.approx([0.0], abs=1e-5)


def test_clipped_gradients_of_unowned_parameters_stay_in_their_graph() -> None:
    w = Tensor([3.0, 4.0], requires_grad=True)
    (w * w * 0.5).sum().backprop()
    clip_grad_norm([w], 1.0)
    updated = w - 0.1 * w.grad  # used to be a MixedGraphError
    np.testing.assert_allclose(updated.data, [3.0 - 0.06, 4.0 - 0.08], rtol=1e-5)


def test_the_readme_loop_prints_the_loss_before_the_step() -> None:
    w = Tensor(np.ones(3, np.float32), requires_grad=True)
    opt = SGD([w], lr=0.1, momentum=0.9)

    @compute_graph
    def forward(x: Any) -> Tensor:
        return ((w * x) ** 2).sum()

    x = np.ones(3, np.float32)
    expected = 3.0
    for _ in range(3):
        loss = forward(x)
        loss.backprop()
        opt.step()
        assert float(loss.data) == pytest.approx(expected)  # read after the step
        expected = float(((w.data * x) ** 2).sum())


def test_creating_an_optimiser_mid_call_discards_no_value() -> None:
    w = Tensor(np.full(3, 2.0, np.float32), requires_grad=True)

    @compute_graph
    def forward(x: Any) -> Tensor:
        return (w * x).sum()

    x = np.ones(3, np.float32)
    forward(x).backprop()  # gradients built and compiled before any optimiser
    loss = forward(x)
    before = float(loss.data)
    opt = SGD([w], lr=0.5)  # re-binds w into its flat array, reserves gradient slots
    assert float(loss.data) == before
    loss.backprop()  # same call: the forward value is carried, not recomputed
    assert float(loss.data) == before
    opt.step()  # binds the frozen gradient to its slot: the schedule recompiles
    assert float(loss.data) == before
    np.testing.assert_allclose(w.data, [1.5, 1.5, 1.5])
    after = forward(x)
    after.backprop()
    assert float(after.data) == 4.5
    assert w.grad is not None
