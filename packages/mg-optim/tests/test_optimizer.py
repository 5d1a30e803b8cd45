"""The common base: flat storage, frozen-graph gradient slots, masks, the README API,
state dicts and error checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mg_optim import SGD, Adam, AdamW, Optimizer, RMSprop, SGD_Momentum
from mg_tensor import Tensor, compute_graph, gradients
from mg_tensor.inplace import buffer


def _flat32(opt: Optimizer, kind: str = "param") -> np.ndarray:
    arrays = opt.param_arrays if kind == "param" else opt.grad_arrays
    return arrays[np.dtype(np.float32)]


# ---------------------------------------------------------------- flat storage
def test_parameters_are_rebound_to_views_of_one_flat_array(regression: Any) -> None:
    params = regression.params()
    opt = SGD(params, lr=0.1, momentum=0.9)
    flat = _flat32(opt)
    assert flat.shape == (sum(p.size for p in params),)
    offset = 0
    for p, init in zip(params, [regression.W0, regression.b0], strict=True):
        assert np.shares_memory(buffer(p), flat)
        np.testing.assert_array_equal(flat[offset : offset + p.size], init.ravel())
        np.testing.assert_array_equal(p.data, init)
        offset += p.size
    assert opt.params == params and opt.params is not opt.params


def test_frozen_graph_gradients_land_in_the_flat_gradient_array(regression: Any) -> None:
    params = regression.params()
    opt = SGD_Momentum(params, 0.05, alpha=0.8)
    grads = _flat32(opt, "grad")
    run = regression.backprop(params, "compiled")
    losses = []
    for step in range(20):
        losses.append(run(step))
        for p in params:
            assert p.grad is not None
            live = buffer(p.grad)
            assert np.shares_memory(live, grads)
            assert live is gradients.reserved(p.node)  # written there by the graph: no copy
        expected = regression.numpy_grads([p.data.astype(np.float64) for p in params], step)
        np.testing.assert_allclose(grads, np.concatenate([g.ravel() for g in expected]), rtol=1e-4)
        opt.step(params)
        for p in params:
            assert np.shares_memory(buffer(p), _flat32(opt))
    assert losses[-1] < 0.5 * losses[0]


def test_step_copies_nothing_when_gradients_are_in_place(
    regression: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = regression.params()
    opt = Adam(params, lr=0.01)
    run = regression.backprop(params, "compiled")
    run(0)
    copies = []
    real_copyto = np.copyto

    def spy(dst: Any, src: Any, **kwargs: Any) -> None:
        copies.append(dst.shape)
        real_copyto(dst, src, **kwargs)

    for step in range(1, 5):
        run(step)
        with monkeypatch.context() as patch:
            patch.setattr(np, "copyto", spy)
            opt.step()
    assert copies == []
    # eager gradients are copied in, one copy per parameter
    regression.backprop(params, "eager")(5)
    with monkeypatch.context() as patch:
        patch.setattr(np, "copyto", spy)
        opt.step()
    assert copies == [p.shape for p in params]


def test_optimizer_created_after_the_first_backprop_pins_gradients_later(
    regression: Any,
) -> None:
    params = regression.params()
    run = regression.backprop(params, "compiled")
    run(0)  # gradient nodes built before any slot was reserved
    opt = SGD(params, lr=0.05, momentum=0.9)
    ref = SGD(regression.params(), lr=0.05, momentum=0.9)
    ref_run = regression.backprop(ref.params, "eager")
    ref_run(0)
    opt.step()  # copies, then pins the gradient nodes to their slots
    ref.step()
    for step in range(1, 6):
        run(step)
        ref_run(step)
        for p in params:
            assert p.grad is not None and buffer(p.grad) is gradients.reserved(p.node)
        opt.step()
        ref.step()
    for p, q in zip(params, ref.params, strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6, atol=1e-7)


def test_zero_grad_sets_none_and_a_step_without_gradients_changes_nothing(
    regression: Any,
) -> None:
    params = regression.params()
    opt = Adam(params, lr=0.1)
    regression.backprop(params, "eager")(0)
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    before = [p.data for p in params]
    opt.step()
    for p, b in zip(params, before, strict=True):
        np.testing.assert_array_equal(p.data, b)
    assert opt.state_dict()["steps"] == [0, 0]


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda ps: Adam(ps, lr=0.1, weight_decay=0.1),
        lambda ps: AdamW(ps, lr=0.1),
        lambda ps: RMSprop(ps, lr=0.1, momentum=0.5, weight_decay=0.1),
    ],
    ids=["sgd", "adam", "adamw", "rmsprop"],
)
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_a_parameter_without_gradient_is_left_unchanged(make: Any, mode: str) -> None:
    """The middle parameter is not used by the loss (no .grad): its value and state stay
    as they are and the others update exactly as without it (a masked step)."""
    rng = np.random.default_rng(1)
    a0, u0, c0 = (rng.standard_normal(s).astype(np.float32) for s in [(3, 2), (5,), (4,)])
    a, unused, c = (Tensor(v, requires_grad=True) for v in (a0, u0, c0))
    a_ref, c_ref = Tensor(a0, requires_grad=True), Tensor(c0, requires_grad=True)
    opt, ref = make([a, unused, c]), make([a_ref, c_ref])

    def loss_of(a: Tensor, c: Tensor) -> Tensor:
        return (a * a).sum() + (c * c * c).sum() * 0.1

    if mode == "compiled":
        compiled = compute_graph(lambda: loss_of(a, c))
        compiled_ref = compute_graph(lambda: loss_of(a_ref, c_ref))
    for _ in range(5):
        if mode == "compiled":
            compiled().backprop()
            compiled_ref().backprop()
        else:
            loss_of(a, c).backprop()
            loss_of(a_ref, c_ref).backprop()
        assert unused.grad is None
        opt.step()
        ref.step()
    np.testing.assert_array_equal(unused.data, u0)
    np.testing.assert_array_equal(a.data, a_ref.data)
    np.testing.assert_array_equal(c.data, c_ref.data)
    state = opt.state_dict()
    assert state["steps"] == [5, 0, 5]
    for arrays in state["state"].values():
        assert not arrays[1].any()


def test_adam_bias_correction_counts_each_parameters_own_steps() -> None:
    """A parameter that gets a gradient only on some steps uses its own step count."""
    p0 = np.array([1.0, -2.0], np.float32)
    q0 = np.array([0.5, 3.0], np.float32)
    p, q = Tensor(p0, requires_grad=True), Tensor(q0, requires_grad=True)
    opt = Adam([p, q], lr=0.1)
    q_alone = Tensor(q0, requires_grad=True)
    ref_q = Adam([q_alone], lr=0.1)
    p_alone = Tensor(p0, requires_grad=True)
    ref_p = Adam([p_alone], lr=0.1)
    for step in range(8):
        if step % 3 == 0:
            ((p * p).sum() + (q * q).sum()).backprop()
            (q_alone * q_alone).sum().backprop()
            ref_q.step()
        else:
            (p * p).sum().backprop()
            q.grad = None
        (p_alone * p_alone).sum().backprop()
        ref_p.step()
        opt.step()
    assert opt.state_dict()["steps"] == [8, 3]
    np.testing.assert_array_equal(p.data, p_alone.data)
    np.testing.assert_array_equal(q.data, q_alone.data)


# ---------------------------------------------------------------- README API
def test_readme_sgd_momentum_loop() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + 1.0).astype(np.float32)
    W = Tensor(rng.standard_normal((4, 1)) * 0.1, np.float32, requires_grad=True)
    b = Tensor(np.zeros(1), np.float32, requires_grad=True)
    parameters = [W, b]
    learning_rate = 0.05

    @compute_graph
    def model_loss(x: Tensor, y: Tensor) -> Tensor:
        return ((x @ W + b - y) ** 2).mean()

    optimizer = SGD_Momentum(parameters, learning_rate, alpha=0.8)
    assert optimizer.alpha == optimizer.momentum == 0.8
    assert optimizer.learning_rate == optimizer.lr == learning_rate
    first = None
    for _ in range(100):
        loss = model_loss(x, y)
        loss.backprop()
        first = first if first is not None else loss.item()
        optimizer.step(parameters)
    assert model_loss(x, y).item() < 1e-3 * first
    optimizer.step(list(reversed(parameters)))  # the same parameters: accepted
    with pytest.raises(ValueError, match="differ from the 2"):
        optimizer.step([W])
    with pytest.raises(ValueError, match="1 unknown"):
        optimizer.step([W, Tensor([0.0], requires_grad=True)])


# ---------------------------------------------------------------- state dicts
MAKERS = {
    "sgd": lambda ps: SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd-nesterov": lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda ps: Adam(ps, lr=0.05, weight_decay=0.01),
    "adamw": lambda ps: AdamW(ps, lr=0.05),
    "rmsprop": lambda ps: RMSprop(ps, lr=0.01, momentum=0.5),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_state_dict_round_trip_resumes_identically(regression: Any, name: str) -> None:
    make = MAKERS[name]
    params = regression.params()
    opt = make(params)
    run = regression.backprop(params, "compiled")
    for step in range(10):
        run(step)
        opt.step()
    saved = opt.state_dict()
    saved_params = [p.numpy() for p in params]
    for step in range(10, 20):
        run(step)
        opt.step()
    # a fresh optimiser (other hyperparameters) over fresh parameters resumes exactly
    resumed = [Tensor(v, requires_grad=True) for v in saved_params]
    opt2 = type(opt)(resumed, lr=123.0)
    opt2.load_state_dict(saved)
    assert opt2.lr == saved["hyperparameters"][0]["lr"]
    assert opt2.step_count == 10
    run2 = regression.backprop(resumed, "eager")
    for step in range(10, 20):
        run2(step)
        opt2.step()
    for p, q in zip(params, resumed, strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6, atol=1e-7)
    # the saved arrays are copies, unaffected by later steps
    state_again = opt.state_dict()
    for key in saved["state"]:
        assert not np.array_equal(saved["state"][key][0], state_again["state"][key][0])


def test_load_state_dict_is_strict() -> None:
    w = Tensor(np.ones((2, 3)), np.float32, requires_grad=True)
    b = Tensor(np.ones(3), np.float32, requires_grad=True)
    opt = SGD([w, b], lr=0.1, momentum=0.9)
    (w.sum() + b.sum()).backprop()
    opt.step()
    good = opt.state_dict()

    def other() -> SGD:
        return SGD(
            [Tensor(np.ones((2, 3)), np.float32, requires_grad=True),
             Tensor(np.ones(3), np.float32, requires_grad=True)],
            lr=0.1,
        )  # fmt: skip

    other().load_state_dict(good)  # fine
    with pytest.raises(ValueError, match="not a Adam"):
        Adam([Tensor(np.ones((2, 3)), np.float32, requires_grad=True)]).load_state_dict(good)
    with pytest.raises(ValueError, match="for 2 parameters, not 1"):
        SGD([Tensor(np.ones((2, 3)), np.float32, requires_grad=True)], lr=1).load_state_dict(good)
    wrong = SGD(
        [Tensor(np.ones((3, 2)), np.float32, requires_grad=True),
         Tensor(np.ones(3), np.float32, requires_grad=True)],
        lr=0.1,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"parameter 0 is \(\(3, 2\), '<f4'\) here"):
        wrong.load_state_dict(good)
    with pytest.raises(ValueError, match="keys"):
        other().load_state_dict({k: v for k, v in good.items() if k != "steps"})
    bad = {**good, "state": {"momentum_buffer": [np.zeros((2, 3), np.float64), np.zeros(3)]}}
    with pytest.raises(ValueError, match="momentum_buffer' of parameter 0 is"):
        other().load_state_dict(bad)
    with pytest.raises(ValueError, match="state 'exp_avg' is not used by SGD"):
        other().load_state_dict({**good, "state": {"exp_avg": good["state"]["momentum_buffer"]}})
    bad_hyper = {**good, "hyperparameters": [{**good["hyperparameters"][0], "momentum": -1.0}]}
    target = other()
    with pytest.raises(ValueError, match="momentum must be >= 0"):
        target.load_state_dict(bad_hyper)
    assert target.momentum == 0.0  # left as it was


# ---------------------------------------------------------------- errors
def test_constructor_errors() -> None:
    w = Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="no parameters"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        SGD([w, w], lr=0.1)
    with pytest.raises(ValueError, match="constant leaf, not a parameter"):
        SGD([Tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="computed tensor"):
        SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="not a Tensor"):
        SGD([np.ones(2)], lr=0.1)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="learning rate must be >= 0"):
        SGD([w], lr=-1.0)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"betas\[1\] must be in"):
        Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="alpha must be in"):
        RMSprop([w], alpha=1.5)
    opt = SGD({"w": w}, lr=0.1)  # a mapping of named parameters works too
    assert opt.params == [w]
    with pytest.raises(ValueError, match="learning rate"):
        opt.lr = -0.5
    assert "SGD(1 parameters, lr=0.1" in repr(opt)


def test_a_parameter_taken_over_by_another_optimizer_is_reported() -> None:
    w = Tensor([1.0, 2.0], requires_grad=True)
    first = SGD([w], lr=0.1)
    second = Adam([w], lr=0.1)
    (w * w).sum().backprop()
    second.step()
    with pytest.raises(RuntimeError, match="no longer stored in this optimiser"):
        first.step()


def test_gradient_of_the_wrong_shape_is_reported() -> None:
    w = Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([w], lr=0.1)
    w.grad = Tensor([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"has shape \(3,\)"):
        opt.step()


def test_grad_set_by_hand_is_used() -> None:
    w = Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([w], lr=0.5)
    w.grad = Tensor([2.0, 2.0])
    opt.step()
    np.testing.assert_array_equal(w.data, [0.0, 1.0])


def test_state_dict_keeps_parameter_order_across_dtype_groups() -> None:
    values = [np.ones((2, 2), np.float32), np.full(3, 2.0), np.full(1, 3.0, np.float32)]

    def make() -> tuple[list[Tensor], Adam]:
        ps = [Tensor(v, requires_grad=True) for v in values]
        return ps, Adam(ps, lr=0.1)

    params, opt = make()
    assert [p.dtype for p in params] == [np.float32, np.float64, np.float32]
    for _ in range(3):
        sum((p * p * (k + 1)).sum().astype(np.float32) for k, p in enumerate(params)).backprop()
        opt.step()
    state = opt.state_dict()
    assert [a.shape for a in state["state"]["exp_avg"]] == [(2, 2), (3,), (1,)]
    assert [a.dtype for a in state["state"]["exp_avg_sq"]] == [np.float32, np.float64, np.float32]
    for k, p in enumerate(params):  # exp_avg of parameter k tracks its own gradients
        assert p.grad is not None
        assert np.all(np.sign(state["state"]["exp_avg"][k]) == np.sign(p.grad.data))
    _, other = make()
    other.load_state_dict(state)
    again = other.state_dict()
    for name in state["state"]:
        for a, b in zip(state["state"][name], again["state"][name], strict=True):
            np.testing.assert_array_equal(a, b)


def test_two_traced_variants_share_the_gradient_slots(regression: Any) -> None:
    """Batches of two sizes trace two frozen graphs; both write into the same slots and
    each step uses the gradient of the latest backprop."""
    params = regression.params()
    opt = SGD(params, lr=0.05, momentum=0.9)
    ref_params = regression.params()
    ref = SGD(ref_params, lr=0.05, momentum=0.9)
    w, b = params

    @compute_graph
    def loss_of(x: Tensor, y: Tensor) -> Tensor:
        return ((x @ w + b - y) ** 2).mean()

    for step in range(12):
        x, y = regression.batches[step]
        if step % 2:
            x, y = x[:10], y[:10]
        loss_of(x, y).backprop()
        rw, rb = ref_params
        ((Tensor(x) @ rw + rb - Tensor(y)) ** 2).mean().backprop()
        opt.step()
        ref.step()
        for p, q in zip(params, ref_params, strict=True):
            assert p.grad is not None and buffer(p.grad) is gradients.reserved(p.node)
            np.testing.assert_allclose(p.data, q.data, rtol=1e-5, atol=1e-6)
    assert len(loss_of.variants) == 2
