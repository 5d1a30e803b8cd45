"""RMSprop, following PyTorch's documented rule (not centered)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mg_optim.axpby import axpby
from mg_optim.optimizer import Optimizer, Params, Segment, check_range


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

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        what = type(self).__name__
        check_range(what, "alpha", self.alpha, 0.0, 1.0)
        check_range(what, "eps", self.eps, 0.0)
        check_range(what, "momentum", self.momentum, 0.0)
        check_range(what, "weight_decay", self.weight_decay, 0.0)

    def update(self, seg: Segment, t: int) -> None:
        p, g = seg.param, seg.grad
        lr, wd, mu = self._lr, self.weight_decay, self.momentum
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
