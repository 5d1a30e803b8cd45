"""clip_grad_norm: global L2 norm, returned before clipping; vectorised over an
optimiser's flat gradient array."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mg_optim import SGD, clip_grad_norm
from mg_tensor import Tensor
from mg_tensor.inplace import buffer


def _grads(params: list[Tensor]) -> list[np.ndarray]:
    out = []
    for p in params:
        assert p.grad is not None
        out.append(p.grad.data.astype(np.float64))
    return out


def _norm(arrays: list[np.ndarray]) -> float:
    return float(np.sqrt(sum((a.astype(np.float64) ** 2).sum() for a in arrays)))


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("managed", [False, True])
def test_clip_scales_to_max_norm(regression: Any, mode: str, managed: bool) -> None:
    params = regression.params()
    opt = SGD(params, lr=0.1) if managed else None
    regression.backprop(params, mode)(0)
    before = _grads(params)
    norm = _norm(before)
    assert norm > 1.0
    returned = clip_grad_norm(params, max_norm=1.0)
    assert returned == pytest.approx(norm, rel=1e-5)
    after = _grads(params)
    coef = 1.0 / (norm + 1e-6)
    for a, b in zip(after, before, strict=True):
        np.testing.assert_allclose(a, b * coef, rtol=1e-5, atol=1e-7)
    assert _norm(after) == pytest.approx(1.0, rel=1e-5)
    if opt is not None:  # the clipped gradients are in the flat array, and are used
        grads = opt.grad_arrays[np.dtype(np.float32)]
        for p in params:
            assert p.grad is not None and np.shares_memory(buffer(p.grad), grads)
        values = [p.data.astype(np.float64) for p in params]
        opt.step()
        for p, v, g in zip(params, values, after, strict=True):
            np.testing.assert_allclose(p.data, v - 0.1 * g, rtol=1e-5, atol=1e-7)


def test_no_clipping_below_max_norm() -> None:
    w = Tensor([3.0, 4.0], requires_grad=True)
    b = Tensor([0.0], requires_grad=True)
    unused = Tensor([1.0], requires_grad=True)
    opt = SGD([w, unused, b], lr=0.1)
    (w * w * 0.5).sum().backprop()
    (b * 0.0).sum().backprop()  # b gets a zero gradient, w keeps its own
    assert unused.grad is None
    assert clip_grad_norm(opt.params, max_norm=10.0) == pytest.approx(5.0)
    assert w.grad is not None
    np.testing.assert_array_equal(w.grad.data, [3.0, 4.0])
    assert clip_grad_norm(w, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(w.grad.data, [0.6, 0.8], rtol=1e-6)
    assert clip_grad_norm([unused], 1.0) == 0.0


def test_clip_mixes_managed_and_unmanaged_parameters() -> None:
    a = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([2.0], requires_grad=True)
    SGD([a], lr=0.1)
    ((a * a).sum() + (c * c).sum()).backprop()  # grads 2a = [2, 4], 2c = [4]
    norm = clip_grad_norm([a, c], 3.0)
    assert norm == pytest.approx(6.0)
    assert a.grad is not None and c.grad is not None
    np.testing.assert_allclose(a.grad.data, [1.0, 2.0], rtol=1e-5)
    np.testing.assert_allclose(c.grad.data, [2.0], rtol=1e-5)
