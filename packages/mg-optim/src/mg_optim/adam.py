"""Adam and AdamW (decoupled weight decay), following PyTorch's documented rules."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from mg_optim.axpby import axpby
from mg_optim.optimizer import Optimizer, ParamGroups, Params, Segment, check_range


class Adam(Optimizer):
    """Adam (PyTorch's rule, without amsgrad). With ``g`` the gradient at step t::

        g = g + weight_decay * p                  (L2 penalty; see AdamW)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    The moments ``m`` and ``v`` live in flat arrays: a step is 8 passes over all
    parameters of a dtype.

    >>> from mg_tensor import Tensor
    >>> w = Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w * w).sum().backprop()
    >>> opt.step()
    >>> w.data.round(4)
    array([ 0.9, -1.9], dtype=float32)
    """

    hyperparameters: ClassVar[tuple[str, ...]] = ("lr", "betas", "eps", "weight_decay")
    state_names: ClassVar[tuple[str, ...]] = ("exp_avg", "exp_avg_sq")
    elementwise = True
    decoupled: ClassVar[bool] = False

    def __init__(
        self,
        params: Params | ParamGroups,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _validate(self, options: dict[str, Any]) -> dict[str, Any]:
        o = super()._validate(options)
        what = type(self).__name__
        beta1, beta2 = o["betas"]
        o["betas"] = (float(beta1), float(beta2))
        check_range(what, "betas[0]", o["betas"][0], 0.0, 1.0)
        check_range(what, "betas[1]", o["betas"][1], 0.0, 1.0)
        for name in ("eps", "weight_decay"):
            o[name] = float(o[name])
            check_range(what, name, o[name], 0.0)
        return o

    def update(self, seg: Segment, t: int) -> None:
        p, g = seg.param, seg.grad
        lr, wd = self.lr, self.weight_decay
        beta1, beta2 = self.betas
        s = seg.scratch(0)
        d = g
        if wd and self.decoupled:
            np.multiply(p, 1.0 - lr * wd, out=p)
        elif wd:  # d = g + wd * p
            d = seg.scratch(1)
            np.multiply(p, wd, out=d)
            np.add(d, g, out=d)
        m = seg.state("exp_avg")
        axpby(1.0 - beta1, d, beta1, m, s)
        v = seg.state("exp_avg_sq")
        np.multiply(d, d, out=s)
        axpby(1.0 - beta2, s, beta2, v, s)
        # m / (sqrt(v) / c + eps) == c * m / (sqrt(v) + eps * c), with c = sqrt(1 - beta2**t)
        c = math.sqrt(1.0 - beta2**t)
        np.sqrt(v, out=s)
        np.add(s, self.eps * c, out=s)
        np.divide(m, s, out=s)
        axpby(-lr / (1.0 - beta1**t) * c, s, 1.0, p, s)


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's AdamW): before the Adam update,
    ``p = p * (1 - lr * weight_decay)``, and the gradient gets no L2 term.

    >>> from mg_tensor import Tensor
    >>> w = Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * w).sum().backprop()
    >>> opt.step()
    >>> w.data.round(4)
    array([ 0.85, -1.8 ], dtype=float32)
    """

    decoupled: ClassVar[bool] = True

    def __init__(
        self,
        params: Params | ParamGroups,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
