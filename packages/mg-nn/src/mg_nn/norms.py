"""Normalisation layers beside their functional forms: ``batch_norm`` / `BatchNorm1d`,
`BatchNorm2d`; ``group_norm`` / `GroupNorm`; ``rms_norm`` / `RMSNorm` (``layer_norm`` /
``LayerNorm`` share `standardize`).
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
from mg_nn.ops.batch_norm import RunningStats
from mg_tensor import Tensor
from mg_tensor import ops as _t
from mg_tensor.oplib import apply


def _shape_of(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(normalized_shape, int | np.integer):
        return (int(normalized_shape),)
    return tuple(int(n) for n in normalized_shape)


def standardize(t: Tensor, axes: tuple[int, ...], eps: float) -> Tensor:
    """``(t - mean) / sqrt(var + eps)`` over ``axes`` (biased variance).

    >>> standardize(Tensor([1.0, 3.0]), (0,), 0.0).data
    array([-1.,  1.], dtype=float32)
    """
    _, centred, variance = _moments(t, axes)
    return centred / _t.sqrt(variance + eps)


def _moments(t: Tensor, axes: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
    """Mean, ``t - mean`` and biased variance over ``axes`` (kept as length-1 axes)."""
    mean = t.mean(axes, keepdims=True)
    centred = t - mean
    return mean, centred, (centred * centred).mean(axes, keepdims=True)


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


def batch_norm(
    input: Any,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    num_batches_tracked: Tensor | None = None,
) -> Tensor:
    """Normalise ``(N, C, *)`` input per channel, as PyTorch's F.batch_norm: with the
    batch's statistics when ``training`` (biased variance), and then, if running
    statistics are given, update them in place (unbiased variance, factor ``momentum``,
    or a cumulative average when it is None) through an effect node that runs exactly
    once per computation; with the running statistics otherwise.

    >>> mean, var = Tensor.input(np.zeros(1)), Tensor.input(np.ones(1))
    >>> y = batch_norm(Tensor([[1.0], [3.0]]), mean, var, training=True, eps=0.0)
    >>> y.data.ravel(), mean.data, var.data
    (array([-1.,  1.], dtype=float32), array([0.2]), array([1.1]))
    """
    t = as_tensor(input, weight, bias)
    if t.ndim < 2 or (running_mean is not None and running_mean.shape != (t.shape[1],)):
        raise ValueError(
            describe(
                "batch_norm",
                f"input of shape {t.shape} must be (N, C, ...) with C matching the "
                f"running statistics {None if running_mean is None else running_mean.shape}",
                user_location(),
                "put the channels on axis 1",
            )
        )
    shape = (t.shape[1],) + (1,) * (t.ndim - 2)
    axes = (0, *range(2, t.ndim))
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation needs running_mean and running_var")
        y = (t - _t.reshape(running_mean, shape)) / _t.sqrt(_t.reshape(running_var, shape) + eps)
        return _affine(y, weight, bias, shape)
    count = t.size // t.shape[1]
    if count < 2:
        raise ValueError(
            describe(
                "batch_norm",
                f"expected more than 1 value per channel when training, got input {t.shape}",
                user_location(),
                "use a batch of at least 2 (or model.eval())",
            )
        )
    mean, centred, variance = _moments(t, axes)
    if running_mean is not None and running_var is not None:
        update = RunningStats(running_mean, running_var, num_batches_tracked, momentum, count)
        apply(update, mean, variance)  # an effect: runs once with this computation
    return _affine(centred / _t.sqrt(variance + eps), weight, bias, shape)


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


class _BatchNorm(_Layer):
    """`batch_norm` as a layer: ``weight``/``bias`` (``affine``) and the buffers
    ``running_mean`` (zeros), ``running_var`` (ones), ``num_batches_tracked``
    (``track_running_stats``), with PyTorch's names, defaults and update rule."""

    ranks: tuple[int, ...] = (2, 3)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.track_running_stats = track_running_stats
        self.weight, self.bias = _affine_parameters((num_features,), affine, True, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", init.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", init.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, np.int64))

    def forward(self, x: Any) -> Tensor:
        t = as_tensor(x, self.weight)
        if t.ndim not in self.ranks:
            raise ValueError(
                describe(
                    type(self).__name__,
                    f"expected {' or '.join(map(str, self.ranks))}-d input, got {t.shape}",
                    user_location(),
                    "BatchNorm1d takes (N, C) or (N, C, L), BatchNorm2d (N, C, H, W)",
                )
            )
        tracked = self.track_running_stats
        return batch_norm(
            t,
            self.running_mean if tracked else None,
            self.running_var if tracked else None,
            self.weight,
            self.bias,
            self.training or not tracked,
            self.momentum,
            self.eps,
            self.num_batches_tracked if tracked else None,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.weight is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` input over all but the channels.

    >>> bn = BatchNorm1d(2)
    >>> list(bn.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    >>> _ = bn(np.array([[0.0, 1.0], [2.0, 5.0]], np.float32)).data  # training: updates
    >>> bn.running_mean.data, int(bn.num_batches_tracked.data)
    (array([0.1, 0.3], dtype=float32), 1)
    """


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` input per channel.

    >>> bn = BatchNorm2d(3).eval()  # evaluation: the running statistics, no update
    >>> bn(np.ones((2, 3, 4, 4), np.float32)).data.max().round(4)
    np.float32(1.0)
    """

    ranks = (4,)


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


__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "GroupNorm",
    "RMSNorm",
    "batch_norm",
    "group_norm",
    "rms_norm",
    "standardize",
]
