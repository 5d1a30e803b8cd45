"""Loss functions with PyTorch's signatures, defaults and formulas (``F.cross_entropy``,
``F.nll_loss``, ``F.mse_loss``, ``F.l1_loss``, ``F.smooth_l1_loss``, ``F.huber_loss``,
``F.kl_div``, ``F.binary_cross_entropy``, ``F.binary_cross_entropy_with_logits``).

Classification losses take logits or log-probabilities ``(N, C)``, ``(N, C, d1, ...)``
or unbatched ``(C,)``. Cross-entropy's per-position losses come from one fused, stable op
(logsumexp inside: finite at logits of +-1000), whose gradient is one fused kernel; class
weights, ``ignore_index`` and label smoothing are composed around it as PyTorch defines
them, so the mean is taken over the weights of the positions not ignored.

>>> import numpy as np
>>> from mg_tensor import Tensor
>>> logits = Tensor(np.array([[1000.0, -1000.0], [0.0, 0.0]]))
>>> cross_entropy(logits, np.array([1, -100])).data  # the second row is ignored
array(2000.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mg_graph import DTypeError, Role, describe, user_location
from mg_nn import ops as _ops
from mg_nn.model import Model
from mg_nn.operands import as_tensor
from mg_tensor import Tensor
from mg_tensor import ops as _t
from mg_tensor.oplib import apply, shape_error

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str, allowed: tuple[str, ...] = _REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, not {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    _check_reduction(reduction)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _target(target: Any, like: Tensor) -> Tensor:
    """The target as a Tensor in ``like``'s graph: float (and bool) arrays take its dtype;
    Tensors and integer arrays are kept."""
    if isinstance(target, Tensor):
        return target
    array = np.asarray(target)
    if array.dtype.kind == "f" or array.dtype == np.bool_:
        array = array.astype(like.dtype, copy=False)
    elif array.dtype.kind not in "iu":
        raise DTypeError(
            describe(
                "loss",
                f"targets of dtype {array.dtype} are not supported",
                user_location(),
                "pass integer class indices or float probabilities",
            )
        )
    return as_tensor(array, like)


def _weight(weight: Any, like: Tensor, op: str) -> Tensor | None:
    """A per-element or per-class weight as a Tensor; a string is a reduction passed
    positionally, which PyTorch's signature (weight third) would misread."""
    if weight is None:
        return None
    if isinstance(weight, str):
        raise TypeError(
            describe(
                op,
                f"weight must be a tensor, not the string {weight!r}",
                user_location(),
                f"pass reduction by keyword: {op}(input, target, reduction={weight!r})",
            )
        )
    return _target(weight, like)


def _class_weights(weight: Any, like: Tensor, classes: int, op: str) -> Tensor | None:
    w = _weight(weight, like, op)
    if w is None:
        return None
    if w.shape != (classes,):
        raise shape_error(
            op,
            [like.node, w.node],
            f"weight must have one entry per class, shape ({classes},)",
            "pass a 1-d weight of length C",
        )
    return w


# --------------------------------------------------------------------------- classification
def _class_rows(x: Tensor) -> Tensor:
    """(N, C, d1, ...) -> (N * d1 * ..., C): one row per position, classes last."""
    if x.ndim == 2:
        return x
    moved = _t.transpose(x, (0, *range(2, x.ndim), 1))
    return _t.reshape(moved, (-1, x.shape[1]))


def _classification(op: str, input: Any, target: Any) -> tuple[Tensor, Tensor, bool]:
    """Logits (or log-probabilities) and targets with a batch axis, checked: class
    indices of shape (N, d1, ...) or probabilities of the input's shape."""
    x = as_tensor(input, target)
    t = _target(target, x)
    unbatched = x.ndim == 1
    if unbatched:
        x, t = _t.expand_dims(x, 0), _t.expand_dims(t, 0)
    indices = t.dtype.kind in "iu"
    expected = (x.shape[0], *x.shape[2:]) if indices else x.shape
    if x.ndim < 2 or t.shape != expected:
        raise shape_error(
            op,
            [x.node, t.node],
            "needs input (N, C, d1, ...) or (C,) with class indices (N, d1, ...) or "
            "probabilities of the input's shape",
            "put the classes on axis 1 (e.g. logits.transpose(0, 2, 1) for (N, L, C))",
        )
    return x, t, unbatched


def _positions(loss: Tensor, t: Tensor, unbatched: bool) -> Tensor:
    """Per-row losses (M,) back in the targets' shape (N, d1, ...), or () unbatched."""
    return _t.reshape(loss, () if unbatched else t.shape)


def _may_hold(t: Tensor, value: int) -> bool:
    """Whether class targets ``t`` may contain ``value``: False only for a constant whose
    every entry differs (an input buffer or a computed target may hold anything)."""
    node = t.node
    if node.op is not None or node.role is not Role.CONSTANT or node.value is None:
        return True
    return bool(np.any(node.value == value))


def _by_index(
    per_row: Callable[[Tensor], Tensor],
    rows: Tensor,
    t: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    unbatched: bool,
    smoothing: Tensor | None = None,
    label_smoothing: float = 0.0,
) -> Tensor:
    """PyTorch's class-index losses: ``per_row(safe_targets)`` (M,) times the class
    weight, zero where the target is ``ignore_index``; the mean divides by the summed
    weights of the positions kept. ``smoothing`` (M,) is label smoothing's uniform term."""
    flat = _t.reshape(t, (-1,))
    kept = _t.not_equal(flat, ignore_index)
    safe = _t.where(kept, flat, 0)  # an ignored position may hold any value
    scale = kept.astype(rows.dtype) if weight is None else weight[safe] * kept
    loss = per_row(safe) * scale
    if smoothing is not None:
        classes = rows.shape[1]
        uniform = smoothing * kept
        loss = (1.0 - label_smoothing) * loss + (label_smoothing / classes) * uniform
    _check_reduction(reduction)
    if reduction == "none":
        return _positions(loss, t, unbatched)
    total = loss.sum()
    return total / scale.sum() if reduction == "mean" else total


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy of logits ``(N, C, d1, ...)`` (or ``(N, C)``, ``(C,)``) against class
    indices ``(N, d1, ...)`` or class probabilities of the logits' shape, as PyTorch's
    ``F.cross_entropy``: class ``weight`` (C,), ``ignore_index`` (class targets only),
    ``reduction`` "mean", "sum" or "none", and ``label_smoothing`` in [0, 1].

    >>> loss = cross_entropy(Tensor([[0.0, 0.0]]), np.array([[0.5, 0.5]]))
    >>> round(float(loss.data), 4)
    0.6931
    >>> logits, classes = Tensor(np.zeros((2, 3, 4))), np.zeros((2, 4), np.int64)
    >>> cross_entropy(logits, classes, reduction="none").shape
    (2, 4)
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], not {label_smoothing}")
    _check_reduction(reduction)
    x, t, unbatched = _classification("cross_entropy", input, target)
    rows = _class_rows(x)
    classes = rows.shape[1]
    w = _class_weights(weight, x, classes, "cross_entropy")

    def fused(targets: Tensor) -> Tensor:
        loss: Tensor = apply(_ops.CrossEntropy("none"), rows, targets)
        return loss

    if t.dtype.kind in "iu":
        if w is None and label_smoothing == 0 and not _may_hold(t, ignore_index):
            flat = _t.reshape(t, (-1,))  # no weights, nothing ignored: the one fused op
            if reduction == "none":
                return _positions(fused(flat), t, unbatched)
            fused_total: Tensor = apply(_ops.CrossEntropy(reduction), rows, flat)
            return fused_total
        smoothing = None
        if label_smoothing > 0:  # -sum_c w_c log p_c: cross-entropy against the weights
            spread = as_tensor(np.ones(classes, rows.dtype), rows) if w is None else w
            smoothing = fused(_t.broadcast_to(spread, rows.shape))
        return _by_index(
            fused, rows, t, w, ignore_index, reduction, unbatched, smoothing, label_smoothing
        )
    q = _class_rows(t)
    if label_smoothing > 0:
        q = q * (1.0 - label_smoothing) + label_smoothing / classes
    if w is not None:
        q = q * w
    loss = fused(q)
    if reduction == "none":
        return _t.reshape(loss, () if unbatched else (x.shape[0], *x.shape[2:]))
    return loss.mean() if reduction == "mean" else loss.sum()


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``(N, C, d1, ...)`` (or ``(N, C)``,
    ``(C,)``) at class indices ``(N, d1, ...)``, as PyTorch's ``F.nll_loss``: class
    ``weight``, ``ignore_index`` and ``reduction`` as in `cross_entropy`.

    >>> nll_loss(Tensor([[-0.5, -1.0]]), np.array([1])).data
    array(1., dtype=float32)
    """
    _check_reduction(reduction)
    x, t, unbatched = _classification("nll_loss", input, target)
    if t.dtype.kind not in "iu":
        raise DTypeError(
            describe(
                "nll_loss",
                f"needs integer class indices, not {t.dtype}",
                user_location(),
                "use cross_entropy for probability targets",
            )
        )
    rows = _class_rows(x)
    w = _class_weights(weight, x, rows.shape[1], "nll_loss")
    positions = np.arange(rows.shape[0])
    return _by_index(
        lambda safe: -rows[positions, safe], rows, t, w, ignore_index, reduction, unbatched
    )


def binary_cross_entropy(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy of probabilities in [0, 1]:
    ``-weight * (t * log(p) + (1 - t) * log(1 - p))`` with each log clamped at -100, as
    PyTorch's ``F.binary_cross_entropy`` (finite at p = 0 and 1). Prefer
    `binary_cross_entropy_with_logits`, which is exact for any logit.

    >>> binary_cross_entropy(Tensor([1.0, 0.5]), np.array([0.0, 1.0]), reduction="none").data
    array([100.       ,   0.6931472], dtype=float32)
    """
    p = as_tensor(input, target)
    t = _target(target, p)
    w = _weight(weight, p, "binary_cross_entropy")
    log_p = apply(_ops.ClampedLog(-100.0), p)
    log_q = apply(_ops.ClampedLog(-100.0), 1.0 - p)
    loss = -(t * log_p + (1.0 - t) * log_q)
    return _reduce(loss if w is None else loss * w, reduction)


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Binary cross-entropy of logits against targets in [0, 1], as PyTorch's: computed
    as ``softplus(x) - x * t`` (no overflow for large ``|x|``; exact gradient
    ``sigmoid(x) - t``), or with ``pos_weight`` (weights the positive term, broadcast over
    the last axis) ``(1 - t) * softplus(x) + pos_weight * t * softplus(-x)``.

    >>> loss = binary_cross_entropy_with_logits(Tensor([0.0]), np.array([1.0]))
    >>> round(float(loss.data), 4)
    0.6931
    """
    x = as_tensor(input, target, pos_weight)
    t = _target(target, x)
    w = _weight(weight, x, "binary_cross_entropy_with_logits")
    if pos_weight is None:
        loss = _t.softplus(x) - x * t
    else:
        positive = _target(pos_weight, x) * t
        loss = (1.0 - t) * _t.softplus(x) + positive * _t.softplus(-x)
    return _reduce(loss if w is None else loss * w, reduction)


# --------------------------------------------------------------------------- regression
def _difference(input: Any, target: Any) -> Tensor:
    x = as_tensor(input, target)
    return x - _target(target, x)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error (``reduction`` "mean", "sum" or "none").

    >>> mse_loss(Tensor([1.0, 3.0]), np.array([0.0, 0.0])).data
    array(5., dtype=float32)
    """
    d = _difference(input, target)
    return _reduce(d * d, reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|x - y|`` (gradient 0 where they are equal, as PyTorch).

    >>> l1_loss(Tensor([1.0, -3.0]), np.array([0.0, 0.0])).data
    array(2., dtype=float32)
    """
    return _reduce(_t.absolute(_difference(input, target)), reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = x - y``);
    ``beta = 0`` is `l1_loss`. As PyTorch's ``F.smooth_l1_loss``.

    >>> smooth_l1_loss(Tensor([0.5, 3.0]), np.array([0.0, 0.0]), reduction="none").data
    array([0.125, 2.5  ], dtype=float32)
    """
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, not {beta}")
    a = _t.absolute(_difference(input, target))
    if beta == 0:
        return _reduce(a, reduction)
    return _reduce(_t.where(a < beta, (0.5 / beta) * (a * a), a - 0.5 * beta), reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """``0.5 d**2`` where ``|d| < delta``, else ``delta * (|d| - 0.5 delta)``
    (``d = x - y``), as PyTorch's ``F.huber_loss``.

    >>> huber_loss(Tensor([0.5, 3.0]), np.array([0.0, 0.0]), reduction="none", delta=2.0).data
    array([0.125, 4.   ], dtype=float32)
    """
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, not {delta}")
    a = _t.absolute(_difference(input, target))
    return _reduce(_t.where(a < delta, 0.5 * (a * a), delta * (a - 0.5 * delta)), reduction)


# --------------------------------------------------------------------------- distributions
def _exp_or_xlogy(t: Tensor, log_target: bool) -> Tensor:
    """``target * log(target)`` of `kl_div`, from the target or its log."""
    if log_target:
        return _t.exp(t) * t
    return t * _t.log(_t.where(t > 0, t, 1.0))  # xlogy: 0 at 0, with a finite gradient


def kl_div(input: Any, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence of log-probabilities ``input`` from ``target``, as
    PyTorch's ``F.kl_div``: pointwise ``target * (log(target) - input)`` (0 where
    target = 0), or ``exp(target) * (target - input)`` with ``log_target``.
    ``reduction`` "batchmean" (sum / N: the true KL divergence), "mean" (over every
    element, PyTorch's default), "sum" or "none".

    >>> p = np.array([[0.5, 0.5]])
    >>> round(float(kl_div(Tensor(np.log([[0.25, 0.75]])), p, reduction="batchmean")), 4)
    0.1438
    """
    _check_reduction(reduction, (*_REDUCTIONS, "batchmean"))
    x = as_tensor(input, target)
    t = _target(target, x)
    xlogy = _exp_or_xlogy(t, log_target)
    pointwise = xlogy - (_t.exp(t) if log_target else t) * x
    if reduction == "batchmean":
        return pointwise.sum() / (x.shape[0] if x.ndim else 1)
    return _reduce(pointwise, reduction)


# --------------------------------------------------------------------------- layers
class _Loss(Model):
    """A loss as a model, as ``torch.nn``'s loss classes: the options given at
    construction are passed to the function at every call."""

    function: Callable[..., Tensor]

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self._mg_options = options
        for key, value in options.items():
            setattr(self, key, value)

    def forward(self, input: Any, target: Any) -> Tensor:
        return type(self).function(input, target, **self._mg_options)

    def extra_repr(self) -> str:
        shown = {
            k: v for k, v in self._mg_options.items() if not isinstance(v, np.ndarray | Tensor)
        }
        return ", ".join(f"{key}={value!r}" for key, value in shown.items())


class CrossEntropyLoss(_Loss):
    """`cross_entropy` as a model.

    >>> loss = CrossEntropyLoss(label_smoothing=0.1)
    >>> loss
    CrossEntropyLoss(weight=None, ignore_index=-100, reduction='mean', label_smoothing=0.1)
    >>> round(float(loss(Tensor([[0.0, 0.0]]), np.array([1]))), 4)
    0.6931
    """

    function = staticmethod(cross_entropy)

    def __init__(
        self,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )


class NLLLoss(_Loss):
    """`nll_loss` as a model."""

    function = staticmethod(nll_loss)

    def __init__(
        self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(weight=weight, ignore_index=ignore_index, reduction=reduction)


class BCELoss(_Loss):
    """`binary_cross_entropy` as a model."""

    function = staticmethod(binary_cross_entropy)

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(weight=weight, reduction=reduction)


class BCEWithLogitsLoss(_Loss):
    """`binary_cross_entropy_with_logits` as a model."""

    function = staticmethod(binary_cross_entropy_with_logits)

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(weight=weight, reduction=reduction, pos_weight=pos_weight)


class MSELoss(_Loss):
    """`mse_loss` as a model.

    >>> MSELoss(reduction="sum")(Tensor([1.0, 2.0]), np.zeros(2)).data
    array(5., dtype=float32)
    """

    function = staticmethod(mse_loss)

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class L1Loss(_Loss):
    """`l1_loss` as a model."""

    function = staticmethod(l1_loss)

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class SmoothL1Loss(_Loss):
    """`smooth_l1_loss` as a model."""

    function = staticmethod(smooth_l1_loss)

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction=reduction, beta=beta)


class HuberLoss(_Loss):
    """`huber_loss` as a model."""

    function = staticmethod(huber_loss)

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction, delta=delta)


class KLDivLoss(_Loss):
    """`kl_div` as a model."""

    function = staticmethod(kl_div)

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction=reduction, log_target=log_target)


__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "MSELoss",
    "NLLLoss",
    "SmoothL1Loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]
