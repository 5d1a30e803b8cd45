"""Stochastic gradient descent, with momentum, Nesterov momentum, dampening and L2
weight decay, following PyTorch's documented update rule."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mg_optim.axpby import axpby
from mg_optim.optimizer import Optimizer, ParamGroups, Params, Segment, check_range


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's rule). With ``g`` the gradient at step t::

        g = g + weight_decay * p
        if momentum:
            b = g                                   (t = 1)
            b = momentum * b + (1 - dampening) * g  (t > 1)
            g = g + momentum * b if nesterov else b
        p = p - lr * g

    >>> import numpy as np
    >>> from mg_tensor import Tensor
    >>> w = Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     (w * w).sum().backprop()
    ...     opt.step()
    >>> w.data.round(4)
    array([ 0.46, -0.92], dtype=float32)
    """

    hyperparameters: ClassVar[tuple[str, ...]] = (
        "lr",
        "momentum",
        "dampening",
        "weight_decay",
        "nesterov",
    )
    state_names: ClassVar[tuple[str, ...]] = ("momentum_buffer",)
    elementwise = True

    def __init__(
        self,
        params: Params | ParamGroups,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
        }
        super().__init__(params, defaults)

    def _validate(self, options: dict[str, Any]) -> dict[str, Any]:
        o = super()._validate(options)
        what = type(self).__name__
        for name in ("momentum", "dampening", "weight_decay"):
            o[name] = float(o[name])
            check_range(what, name, o[name], 0.0)
        o["nesterov"] = bool(o["nesterov"])
        if o["nesterov"] and (o["momentum"] <= 0.0 or o["dampening"] != 0.0):
            raise ValueError(f"{what}: nesterov momentum needs momentum > 0 and dampening = 0")
        return o

    def update(self, seg: Segment, t: int) -> None:
        p, g = seg.param, seg.grad
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        s = seg.scratch(0)
        d = g
        if wd:  # d = g + wd * p: two passes either way, and no second scratch array
            d = s
            np.multiply(p, wd, out=d)
            np.add(d, g, out=d)
        if not mu:
            axpby(-lr, d, 1.0, p, s)  # s may hold d: d is not needed afterwards
            return
        b = seg.state("momentum_buffer")
        if t == 1:
            np.copyto(b, d)
        else:
            # s may hold d, which nesterov reads next; nesterov means no dampening,
            # so the factor is 1 and the ufunc fallback leaves s alone
            axpby(1.0 - self.dampening, d, mu, b, s)
        if self.nesterov:  # p -= lr * (d + mu * b), as two updates
            axpby(-lr, d, 1.0, p, s)
            axpby(-lr * mu, b, 1.0, p, s)
        else:
            axpby(-lr, b, 1.0, p, s)


class SGD_Momentum(SGD):
    """SGD with momentum under the original README's names: ``alpha`` is the momentum.

    >>> from mg_tensor import Tensor
    >>> parameters = [Tensor([1.0, -2.0], requires_grad=True)]
    >>> optimizer = SGD_Momentum(parameters, 0.1, alpha=0.8)
    >>> (parameters[0] ** 2).sum().backprop()
    >>> optimizer.step(parameters)
    >>> parameters[0].data
    array([ 0.8, -1.6], dtype=float32)
    """

    def __init__(
        self,
        parameters: Params | ParamGroups,
        learning_rate: float,
        alpha: float = 0.8,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
    ) -> None:
        super().__init__(
            parameters,
            learning_rate,
            momentum=alpha,
            nesterov=nesterov,
            weight_decay=weight_decay,
            dampening=dampening,
        )

    @property
    def alpha(self) -> float:
        """The momentum factor (an alias of ``momentum``)."""
        return self.momentum

    @alpha.setter
    def alpha(self, value: float) -> None:
        self.momentum = float(value)

    @property
    def learning_rate(self) -> float:
        """An alias of ``lr``."""
        return self.lr

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.lr = value
