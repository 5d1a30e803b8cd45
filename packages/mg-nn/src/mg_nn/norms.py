"""Normalisation layers beside their functional forms: ``group_norm`` / `GroupNorm`,
``rms_norm`` / `RMSNorm` (``layer_norm`` / ``LayerNorm`` share `standardize`).
Parameters and conventions as PyTorch's: ``weight`` ones and ``bias`` zeros at first,
biased variance.

>>> import numpy as np
>>> x = np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)
>>> GroupNorm(2, 4)(x).data
array([[-0.99998, 0.99998, -0.99998, 0.99998]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from mg_graph import describe, user_location
from mg_nn import init
from mg_nn.model import _Layer
from mg_nn.operands import as_tensor
from mg_tensor import Tensor
from mg_tensor import ops as _t


def _shape_of(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(normalized_shape, int | np.integer):
        return (int(normalized_shape),)
    return tuple(int(n) for n in normalized_shape)


def standardize(t: Tensor, axes: tuple[int, ...], eps: float) -> Tensor:
    """``(t - mean) / sqrt(var + eps)`` over ``axes`` (biased variance).

    >>> standardize(Tensor([1.0, 3.0]), (0,), 0.0).data
    array([-1.,  1.], dtype=float32)
    """
    centred = t - t.mean(axes, keepdims=True)
    variance = (centred * centred).mean(axes, keepdims=True)
    return centred / _t.sqrt(variance + eps)


def _affine(y: Tensor, weight: Any, bias: Any, shape: tuple[int, ...]) -> Tensor:
    """``y * weight + bias`` with both reshaped to ``shape`` (either may be None)."""
    if weight is not None:
        y = y * _t.reshape(weight, shape)
    if bias is not None:
        y = y + _t.reshape(bias, shape)
    return y


def _trailing_axes(op: str, t: Tensor, shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) > t.ndim or t.shape[t.ndim - len(shape) :] != shape:
        raise ValueError(
            describe(
                op,
                f"input of shape {t.shape} does not end in normalized_shape {shape}",
                user_location(),
                "normalise over the input's trailing axes",
            )
        )
    return tuple(range(t.ndim - len(shape), t.ndim))


def layer_norm_axes(t: Tensor, normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    """The trailing axes ``layer_norm`` normalises over (a ValueError if they do not fit)."""
    return _trailing_axes("layer_norm", t, _shape_of(normalized_shape))


def group_norm(
    input: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5
) -> Tensor:
    """Normalise ``(N, C, *)`` input over each group of ``C // num_groups`` channels and
    all spatial positions, then scale and shift per channel, as PyTorch's F.group_norm.

    >>> group_norm(Tensor(np.array([[1.0, 3.0]])), 1, eps=0.0).data
    array([[-1.,  1.]])
    """
    t = as_tensor(input, weight, bias)
    if t.ndim < 2 or t.shape[1] % num_groups:
        raise ValueError(
            describe(
                "group_norm",
                f"input of shape {t.shape} must be (N, C, ...) with C divisible by "
                f"num_groups={num_groups}",
                user_location(),
                "choose num_groups dividing the channel count",
            )
        )
    n, c = t.shape[:2]
    grouped = _t.reshape(t, (n, num_groups, -1))
    y = _t.reshape(standardize(grouped, (2,), eps), t.shape)
    return _affine(y, weight, bias, (c,) + (1,) * (t.ndim - 2))


def rms_norm(
    input: Any,
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    eps: float | None = None,
) -> Tensor:
    """``x / sqrt(mean(x**2) + eps) * weight`` over the trailing ``normalized_shape``
    axes, as PyTorch's F.rms_norm; ``eps`` defaults to the dtype's machine epsilon.

    >>> rms_norm(Tensor([[3.0, 4.0]]), 2, eps=0.0).data.round(4)
    array([[0.8485, 1.1314]], dtype=float32)
    """
    t = as_tensor(input, weight)
    shape = _shape_of(normalized_shape)
    axes = _trailing_axes("rms_norm", t, shape)
    eps = float(np.finfo(t.dtype).eps) if eps is None else eps
    y = t / _t.sqrt((t * t).mean(axes, keepdims=True) + eps)
    return _affine(y, weight, None, shape)


def _affine_parameters(
    shape: tuple[int, ...], affine: bool, bias: bool, dtype: DTypeLike
) -> tuple[Tensor | None, Tensor | None]:
    """PyTorch's ``weight`` (ones) and ``bias`` (zeros) of a normalisation layer."""
    if not affine:
        return None, None
    weight = Tensor(init.ones(shape, dtype=dtype), requires_grad=True, name="weight")
    if not bias:
        return weight, None
    return weight, Tensor(init.zeros(shape, dtype=dtype), requires_grad=True, name="bias")


class GroupNorm(_Layer):
    """`group_norm` as a layer with per-channel ``weight`` and ``bias`` (``affine``).

    >>> GroupNorm(2, 6)
    GroupNorm(2, 6, eps=1e-05, affine=True)
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        *,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels={num_channels} is not divisible by "
                f"num_groups={num_groups}"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.weight, self.bias = _affine_parameters((num_channels,), affine, True, dtype)

    def forward(self, x: Any) -> Tensor:
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
            f"affine={self.weight is not None}"
        )


class RMSNorm(_Layer):
    """`rms_norm` as a layer with a ``weight`` (ones) when ``elementwise_affine``.

    >>> RMSNorm(4).weight.shape
    (4,)
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        *,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        self.normalized_shape = _shape_of(normalized_shape)
        self.eps = eps
        self.weight, _ = _affine_parameters(self.normalized_shape, elementwise_affine, False, dtype)

    def forward(self, x: Any) -> Tensor:
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"
        )


__all__ = ["GroupNorm", "RMSNorm", "group_norm", "rms_norm", "standardize"]
