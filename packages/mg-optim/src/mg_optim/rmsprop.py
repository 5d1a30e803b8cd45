"""RMSprop, following PyTorch's documented rule (not centered)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from mg_optim.axpby import axpby
from mg_optim.optimizer import Optimizer, ParamGroups, Params, Segment, check_range


class RMSprop(Optimizer):
    """RMSprop (PyTorch's rule, ``centered=False``). With ``g`` the gradient::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        if momentum:
            b = momentum * b + g / (sqrt(v) + eps)      (b starts at zero)
            p = p - lr * b
        else:
            p = p - lr * g / (sqrt(v) + eps)

    >>> from mg_tensor import Tensor
    >>> w = Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = RMSprop([w], lr=0.01, alpha=0.75)
    >>> (w * w).sum().backprop()
    >>> opt.step()
    >>> w.data.round(4)
    array([ 0.98, -1.98], dtype=float32)
    """

    hyperparameters: ClassVar[tuple[str, ...]] = ("lr", "alpha", "eps", "momentum", "weight_decay")
    state_names: ClassVar[tuple[str, ...]] = ("square_avg", "momentum_buffer")
    elementwise = True

    def __init__(
        self,
        params: Params | ParamGroups,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "momentum": momentum,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)

    def _validate(self, options: dict[str, Any]) -> dict[str, Any]:
        o = super()._validate(options)
        what = type(self).__name__
        for name, high in (("alpha", 1.0), ("eps", math.inf), ("momentum", math.inf)):
            o[name] = float(o[name])
            check_range(what, name, o[name], 0.0, high)
        o["weight_decay"] = float(o["weight_decay"])
        check_range(what, "weight_decay", o["weight_decay"], 0.0)
        return o

    def update(self, seg: Segment, t: int) -> None:
        p, g = seg.param, seg.grad
        lr, wd, mu = self.lr, self.weight_decay, self.momentum
        s = seg.scratch(0)
        d = g
        if wd:  # d = g + wd * p
            d = seg.scratch(1)
            np.multiply(p, wd, out=d)
            np.add(d, g, out=d)
        v = seg.state("square_avg")
        np.multiply(d, d, out=s)
        axpby(1.0 - self.alpha, s, self.alpha, v, s)
        np.sqrt(v, out=s)
        np.add(s, self.eps, out=s)
        np.divide(d, s, out=s)
        if mu:
            b = seg.state("momentum_buffer")
            axpby(1.0, s, mu, b, s)
            axpby(-lr, b, 1.0, p, s)
        else:
            axpby(-lr, s, 1.0, p, s)
