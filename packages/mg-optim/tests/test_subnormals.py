"""Subnormal optimiser state is flushed to zero (it makes every ufunc pass slow)."""

from __future__ import annotations

import numpy as np

from mg_optim import SGD
from mg_tensor import Tensor


def test_momentum_that_decays_into_subnormals_is_flushed() -> None:
    w = Tensor(np.ones(4, np.float32), requires_grad=True)
    opt = SGD([w], lr=0.1, momentum=0.99)
    x = np.array([1.0, 1.0, 0.0, 0.0], np.float32)  # w[2:] never get a gradient...
    (w * x).sum().backprop()
    opt.step()
    buffer = opt._groups[0].state["momentum_buffer"]
    buffer[2] = 1e-38  # ...so their momentum decays slowly through the subnormal range
    buffer[3] = -1e-38  # (unflushed, 1e-38 * 0.99**40 would still be subnormal)
    tiny = np.finfo(np.float32).tiny
    seen_subnormal = False
    for _ in range(40):
        (w * x).sum().backprop()
        opt.step()
        seen_subnormal |= bool(0 < abs(buffer[2]) < tiny)
    assert seen_subnormal  # the situation arises...
    assert buffer[2] == 0.0 and buffer[3] == 0.0  # ...and the flush removed it
    np.testing.assert_array_less(tiny, np.abs(buffer[:2]))  # normal values untouched
