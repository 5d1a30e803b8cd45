"""``F.pad``, ``F.one_hot`` and ``F.normalize``: tensor utilities that PyTorch files under
``torch.nn.functional``, composed of mg-tensor ops (slices, gathers, concatenation), so
their gradients come for free.

>>> import numpy as np
>>> from mg_tensor import Tensor
>>> pad(Tensor(np.array([[1.0, 2.0, 3.0]])), (2, 1), mode="reflect").data
array([[3., 2., 1., 2., 3., 2.]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mg_graph import Role, describe, user_location
from mg_nn.operands import as_tensor
from mg_tensor import Tensor
from mg_tensor import ops as _t

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _index_for(mode: str, n: int, before: int, after: int) -> Any:
    """Source positions along one axis for the padded positions ``-before .. n + after``."""
    i = np.arange(-before, n + after)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    period = 2 * (n - 1)  # reflect: mirror about the edges, not repeating them
    j = np.abs(i) % period if period else np.zeros_like(i)
    return np.where(j < n, j, period - j)


def _pad_axis(t: Tensor, axis: int, before: int, after: int, mode: str, value: float) -> Tensor:
    n = t.shape[axis]
    lead = (slice(None),) * axis
    if mode != "constant":
        return t[(*lead, _index_for(mode, n, before, after))]
    if before < 0 or after < 0:  # negative pads crop
        t = t[(*lead, slice(max(-before, 0), n - max(-after, 0)))]
    if before <= 0 and after <= 0:
        return t
    widths = [(0, 0)] * t.ndim
    widths[axis] = (max(before, 0), max(after, 0))
    return _t.pad(t, widths, constant_values=value)


def pad(
    input: Any, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> Tensor:
    """Pad the last ``len(pad) // 2`` axes, as PyTorch's ``F.pad``: ``pad`` lists
    (before, after) widths starting from the LAST axis, e.g. ``(left, right, top,
    bottom)``. ``mode`` is "constant" (fill ``value``, default 0; negative widths crop),
    "reflect" (mirror without repeating the edge), "replicate" (repeat the edge) or
    "circular" (wrap around).

    >>> x = Tensor(np.arange(4.0).reshape(2, 2))
    >>> pad(x, (1, 0, 0, 1), value=9.0).data
    array([[9., 0., 1.],
           [9., 2., 3.],
           [9., 9., 9.]])
    >>> pad(x, (1, 1), mode="circular").data
    array([[1., 0., 1., 0.],
           [3., 2., 3., 2.]])
    """
    t = as_tensor(input)
    widths = [int(w) for w in pad]
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, not {mode!r}")
    if len(widths) % 2 or len(widths) // 2 > t.ndim:
        raise ValueError(
            describe(
                "pad",
                f"pad {tuple(widths)} needs an even length of at most 2 * {t.ndim} "
                f"for an input of shape {t.shape}",
                user_location(),
                "give (before, after) pairs, starting from the last axis",
            )
        )
    for k in range(len(widths) // 2):
        axis = t.ndim - 1 - k
        before, after = widths[2 * k], widths[2 * k + 1]
        n = t.shape[axis]
        limit = {"reflect": n - 1, "circular": n, "replicate": None, "constant": None}[mode]
        too_wide = limit is not None and max(before, after) > limit
        if mode != "constant" and (min(before, after) < 0 or too_wide or n == 0):
            raise ValueError(
                describe(
                    "pad",
                    f"{mode} padding ({before}, {after}) does not fit axis {axis} of "
                    f"length {n} (input shape {t.shape})",
                    user_location(),
                    f"keep {mode} widths non-negative"
                    + ("" if limit is None else f" and at most {limit}"),
                )
            )
        if before or after:
            t = _pad_axis(t, axis, before, after, mode, 0.0 if value is None else value)
    return t


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """``(..., num_classes)`` int64 with a 1 at each integer's position, as PyTorch's
    ``F.one_hot``. ``num_classes=-1`` means ``max + 1``, which needs a known value (an
    array or constant, not a tensor computed by the graph).

    >>> one_hot(np.array([0, 2])).data
    array([[1, 0, 0],
           [0, 0, 1]])
    """
    known = not isinstance(tensor, Tensor) or tensor.role is Role.CONSTANT
    t = as_tensor(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(
            describe(
                "one_hot",
                f"needs integer class indices, not {t.dtype}",
                user_location(),
                "cast with .astype(np.int64)",
            )
        )
    values = np.asarray(t.data) if known else None
    if num_classes < 0:
        if values is None:
            raise ValueError(
                describe(
                    "one_hot",
                    "num_classes=-1 needs the indices' values, which are computed later",
                    user_location(),
                    "pass num_classes explicitly",
                )
            )
        num_classes = int(values.max()) + 1 if values.size else 0
    if values is not None and values.size and (values.min() < 0 or values.max() >= num_classes):
        raise ValueError(
            describe(
                "one_hot",
                f"class values must be in [0, {num_classes}), got {values.min()}..{values.max()}",
                user_location(),
                "pass a larger num_classes",
            )
        )
    return _t.one_hot(t, num_classes)


def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(||x||_p, eps)`` along ``dim``, as PyTorch's ``F.normalize``; ``p`` may
    be ``float("inf")``. The clamp is applied inside the root, ``max(sum |x|^p, eps^p)``
    (the same value), so an all-zero vector has a zero gradient, not NaN.

    >>> normalize(Tensor([[3.0, 4.0]])).data
    array([[0.6, 0.8]], dtype=float32)
    """
    t = as_tensor(input)
    if p == float("inf"):
        norm = _t.maximum(_t.absolute(t).max(dim, keepdims=True), eps)
    elif p == 2:
        norm = _t.sqrt(_t.maximum((t * t).sum(dim, keepdims=True), eps * eps))
    elif p == 1:
        norm = _t.maximum(_t.absolute(t).sum(dim, keepdims=True), eps)
    elif p > 0:
        total = (_t.absolute(t) ** p).sum(dim, keepdims=True)
        norm = _t.maximum(total, eps**p) ** (1.0 / p)
    else:
        raise ValueError(f"normalize: p must be positive or inf, not {p}")
    return t / norm


__all__ = ["normalize", "one_hot", "pad"]
