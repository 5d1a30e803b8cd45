"""Activation functions and their layers, side by side (``F.gelu`` and ``GELU``...).

Each is composed of mg-tensor ops, so gradients (also second order) come for free;
branches are chosen with ``where`` on inputs that cannot overflow, so no ``inf`` ever
meets a zero gradient (stable at ``x = +-1000``).

>>> import numpy as np
>>> from mg_tensor import Tensor
>>> x = Tensor(np.array([-1.0, 0.0, 2.0]))
>>> leaky_relu(x, 0.1).data
array([-0.1,  0. ,  2. ])
>>> GELU()(x).data.round(4)
array([-0.1587,  0.    ,  1.9545])
"""

from __future__ import annotations

import math
from typing import Any

from mg_nn.model import _Layer
from mg_nn.operands import as_tensor
from mg_tensor import Tensor, erf
from mg_tensor import ops as _t

_GELU_FORMS = ("none", "tanh")


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """``x * Phi(x)`` with ``Phi`` the standard normal CDF (``approximate="none"``, via
    erf) or PyTorch's tanh approximation (``approximate="tanh"``).

    >>> gelu(Tensor([1.0]), approximate="tanh").data.round(4)
    array([0.8412], dtype=float32)
    """
    if approximate not in _GELU_FORMS:
        raise ValueError(f"gelu: approximate must be one of {_GELU_FORMS}, not {approximate!r}")
    t = as_tensor(x)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (t + 0.044715 * (t * t * t))
        return 0.5 * t * (1.0 + _t.tanh(inner))
    return 0.5 * t * (1.0 + erf(t * (1.0 / math.sqrt(2.0))))


def silu(x: Any) -> Tensor:
    """``x * sigmoid(x)`` (also called swish).

    >>> silu(Tensor([0.0, -1000.0])).data
    array([ 0., -0.], dtype=float32)
    """
    t = as_tensor(x)
    return t * _t.sigmoid(t)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """``x`` where positive, else ``negative_slope * x`` (gradient ``negative_slope`` at 0).

    >>> leaky_relu(Tensor([-2.0, 3.0])).data
    array([-0.02,  3.  ], dtype=float32)
    """
    t = as_tensor(x)
    return _t.where(t > 0, t, t * negative_slope)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """``x`` where positive, else ``alpha * (exp(x) - 1)``.

    >>> elu(Tensor([-1000.0, 1000.0])).data
    array([  -1., 1000.], dtype=float32)
    """
    t = as_tensor(x)
    negative = alpha * (_t.exp(_t.clip(t, None, 0.0)) - 1.0)  # exp never sees x > 0
    return _t.where(t > 0, t, negative)


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, stable for large ``|x|``; as PyTorch, ``x``
    itself where ``beta * x > threshold``.

    >>> softplus(Tensor([-1000.0, 1000.0])).data
    array([   0., 1000.], dtype=float32)
    """
    t = as_tensor(x)
    smooth = _t.softplus(t) if beta == 1.0 else _t.softplus(t * beta) * (1.0 / beta)
    return _t.where(t * beta > threshold, t, smooth)


# --------------------------------------------------------------------------- layers
class GELU(_Layer):
    """`gelu` as a layer (``approximate`` "none" or "tanh").

    >>> GELU("tanh")
    GELU(approximate='tanh')
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in _GELU_FORMS:
            raise ValueError(f"GELU: approximate must be one of {_GELU_FORMS}, not {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_Layer):
    """`silu` as a layer (``inplace`` is accepted for PyTorch's spelling and ignored).

    >>> SiLU()(Tensor([0.0])).data
    array([0.], dtype=float32)
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()

    def forward(self, x: Any) -> Tensor:
        return silu(x)


class LeakyReLU(_Layer):
    """`leaky_relu` as a layer.

    >>> LeakyReLU(0.2)(Tensor([-1.0])).data
    array([-0.2], dtype=float32)
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Any) -> Tensor:
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(_Layer):
    """`elu` as a layer.

    >>> ELU()(Tensor([0.0])).data
    array([0.], dtype=float32)
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Any) -> Tensor:
        return elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(_Layer):
    """`softplus` as a layer.

    >>> Softplus()(Tensor([1000.0])).data
    array([1000.], dtype=float32)
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x: Any) -> Tensor:
        return softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Identity(_Layer):
    """Returns its input unchanged; any constructor arguments are ignored, as PyTorch's.

    >>> x = Tensor([1.0])
    >>> Identity(54, unused="x")(x) is x
    True
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


__all__ = [
    "ELU",
    "GELU",
    "Identity",
    "LeakyReLU",
    "SiLU",
    "Softplus",
    "elu",
    "gelu",
    "leaky_relu",
    "silu",
    "softplus",
]
