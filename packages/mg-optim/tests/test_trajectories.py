"""Each optimiser follows PyTorch's documented update rule, written out here in numpy
(float64), over 20 steps: gradients from ``loss.backprop()`` both eagerly and inside
``@compute_graph``; the learning rate is halved at step 10 (the new value must be used).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import mg_optim.axpby as axpby_module
from mg_optim import SGD, Adam, AdamW, Optimizer, RMSprop, SGD_Momentum
from mg_tensor import Tensor

Array = NDArray[Any]
RTOL, ATOL = 2e-5, 2e-6


class RefSGD:
    def __init__(self, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        self.mu, self.damp, self.wd, self.nesterov = momentum, dampening, weight_decay, nesterov
        self.buf: dict[int, Array] = {}

    def step(self, params: list[Array], grads: list[Array], lr: float) -> list[Array]:
        out = []
        for k, (p, g) in enumerate(zip(params, grads, strict=True)):
            g = g + self.wd * p
            if self.mu != 0:
                first = k not in self.buf
                b = g.copy() if first else self.mu * self.buf[k] + (1 - self.damp) * g
                self.buf[k] = b
                g = g + self.mu * b if self.nesterov else b
            out.append(p - lr * g)
        return out


class RefAdam:
    def __init__(self, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
        self.b1, self.b2 = betas
        self.eps, self.wd, self.decoupled = eps, weight_decay, decoupled
        self.m: dict[int, Array] = {}
        self.v: dict[int, Array] = {}
        self.t: dict[int, int] = {}

    def step(self, params: list[Array], grads: list[Array], lr: float) -> list[Array]:
        out = []
        for k, (p, g) in enumerate(zip(params, grads, strict=True)):
            if self.decoupled:
                p = p * (1 - lr * self.wd)
            else:
                g = g + self.wd * p
            t = self.t[k] = self.t.get(k, 0) + 1
            m = self.m[k] = self.b1 * self.m.get(k, 0.0) + (1 - self.b1) * g
            v = self.v[k] = self.b2 * self.v.get(k, 0.0) + (1 - self.b2) * g * g
            bc1, bc2 = 1 - self.b1**t, 1 - self.b2**t
            out.append(p - lr / bc1 * m / (np.sqrt(v) / np.sqrt(bc2) + self.eps))
        return out


class RefRMSprop:
    def __init__(self, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
        self.alpha, self.eps, self.mu, self.wd = alpha, eps, momentum, weight_decay
        self.v: dict[int, Array] = {}
        self.buf: dict[int, Array] = {}

    def step(self, params: list[Array], grads: list[Array], lr: float) -> list[Array]:
        out = []
        for k, (p, g) in enumerate(zip(params, grads, strict=True)):
            g = g + self.wd * p
            v = self.v[k] = self.alpha * self.v.get(k, 0.0) + (1 - self.alpha) * g * g
            avg = np.sqrt(v) + self.eps
            if self.mu > 0:
                b = self.buf[k] = self.mu * self.buf.get(k, 0.0) + g / avg
                out.append(p - lr * b)
            else:
                out.append(p - lr * g / avg)
        return out


Case = tuple[str, Callable[[list[Tensor]], Optimizer], Callable[[], Any]]
CASES: list[Case] = [
    ("sgd", lambda ps: SGD(ps, lr=0.05), lambda: RefSGD()),
    ("sgd-wd", lambda ps: SGD(ps, lr=0.05, weight_decay=0.1), lambda: RefSGD(weight_decay=0.1)),
    ("sgd-momentum", lambda ps: SGD(ps, lr=0.05, momentum=0.9), lambda: RefSGD(momentum=0.9)),
    (
        "sgd-momentum-dampening-wd",
        lambda ps: SGD(ps, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.05),
        lambda: RefSGD(momentum=0.8, dampening=0.3, weight_decay=0.05),
    ),
    (
        "sgd-nesterov",
        lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
        lambda: RefSGD(momentum=0.9, nesterov=True),
    ),
    (
        "sgd-nesterov-wd",
        lambda ps: SGD(ps, lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.1),
        lambda: RefSGD(momentum=0.7, nesterov=True, weight_decay=0.1),
    ),
    ("sgd_momentum", lambda ps: SGD_Momentum(ps, 0.05, alpha=0.8), lambda: RefSGD(momentum=0.8)),
    ("adam", lambda ps: Adam(ps, lr=0.05), lambda: RefAdam()),
    (
        "adam-betas-eps-wd",
        lambda ps: Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        lambda: RefAdam(betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    ("adamw", lambda ps: AdamW(ps, lr=0.05), lambda: RefAdam(weight_decay=1e-2, decoupled=True)),
    (
        "adamw-strong",
        lambda ps: AdamW(ps, lr=0.05, betas=(0.5, 0.9), weight_decay=0.5),
        lambda: RefAdam(betas=(0.5, 0.9), weight_decay=0.5, decoupled=True),
    ),
    ("rmsprop", lambda ps: RMSprop(ps, lr=0.01), lambda: RefRMSprop()),
    (
        "rmsprop-momentum",
        lambda ps: RMSprop(ps, lr=0.01, alpha=0.9, momentum=0.8),
        lambda: RefRMSprop(alpha=0.9, momentum=0.8),
    ),
    (
        "rmsprop-momentum-wd-eps",
        lambda ps: RMSprop(ps, lr=0.01, eps=1e-4, momentum=0.5, weight_decay=0.2),
        lambda: RefRMSprop(eps=1e-4, momentum=0.5, weight_decay=0.2),
    ),
]


@pytest.fixture(params=["blas", "ufuncs"])
def kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run with numpy's OpenBLAS axpby where it exists, and with the ufunc fallback."""
    if request.param == "ufuncs":
        monkeypatch.setattr(axpby_module, "KERNELS", {})
    elif not axpby_module.KERNELS:
        pytest.skip("numpy's BLAS exports no axpby here")
    return str(request.param)


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize(("name", "make", "make_ref"), CASES, ids=[c[0] for c in CASES])
def test_trajectory_matches_update_rule(
    regression: Any, kernels: str, mode: str, name: str, make: Any, make_ref: Any
) -> None:
    params = regression.params()
    opt = make(params)
    ref = make_ref()
    run = regression.backprop(params, mode)
    ref_params = [regression.W0.astype(np.float64), regression.b0.astype(np.float64)]
    lr = opt.lr
    losses = []
    for step in range(20):
        if step == 10:
            lr = lr / 2
            opt.lr = lr
        losses.append(run(step))
        opt.step()
        ref_params = ref.step(ref_params, regression.numpy_grads(ref_params, step), lr)
        for p, r in zip(params, ref_params, strict=True):
            np.testing.assert_allclose(p.data, r, rtol=RTOL, atol=ATOL, err_msg=f"step {step}")
    assert losses[-1] < losses[0]
    assert opt.step_count == 20


def test_float64_and_float32_parameters_form_two_groups() -> None:
    rng = np.random.default_rng(3)
    a0 = rng.standard_normal((3, 2))
    b0 = rng.standard_normal(4).astype(np.float32)
    a = Tensor(a0, requires_grad=True)  # float64
    b = Tensor(b0, requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    assert set(opt.param_arrays) == {np.dtype(np.float64), np.dtype(np.float32)}
    ref = RefAdam()
    ref_params = [a0.copy(), b0.astype(np.float64)]
    for _ in range(20):
        ((a * a).sum() * 0.5 + (b * b * b).sum()).backprop()
        opt.step()
        ref_params = ref.step(ref_params, [ref_params[0], 3 * ref_params[1] ** 2], 0.1)
    assert a.dtype == np.float64 and b.dtype == np.float32
    np.testing.assert_allclose(a.data, ref_params[0], rtol=1e-12)
    np.testing.assert_allclose(b.data, ref_params[1], rtol=RTOL, atol=ATOL)
