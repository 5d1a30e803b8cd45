"""What convolution and pooling share: int-or-pair arguments, output sizes and window
views of the last two axes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mg_tensor.oplib import Array

Pair = tuple[int, int]
IntPair = int | tuple[int, int]


def pair(value: IntPair, what: str, minimum: int = 0) -> Pair:
    """``value`` as a pair of ints at least ``minimum``; a ValueError naming ``what``.

    >>> pair(3, "kernel_size"), pair((1, 2), "stride", 1)
    ((3, 3), (1, 2))
    """
    both = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(both) != 2 or any(int(v) < minimum for v in both):
        kind = "positive" if minimum > 0 else "non-negative"
        raise ValueError(f"{what} must be a {kind} int or a pair of them, got {value!r}")
    return int(both[0]), int(both[1])


def out_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Windows of ``kernel`` at ``stride`` that fit in ``size`` padded by ``padding`` on
    both sides (floor mode).

    >>> out_size(28, 3, 1, 1), out_size(28, 2, 2)
    (28, 14)
    """
    return (size + 2 * padding - kernel) // stride + 1


def out_hw(hw: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair = (0, 0)) -> Pair:
    """`out_size` of both trailing axes ``hw`` (H, W)."""
    h, w = hw[-2:]
    return out_size(h, kernel[0], stride[0], padding[0]), out_size(
        w, kernel[1], stride[1], padding[1]
    )


def windows(x: Array, kernel: Pair, stride: Pair, padding: Pair) -> Array:
    """A strided view ``(N, C, Ho, Wo, kh, kw)`` of every window of the padded input."""
    ph, pw = padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    view: Array = sliding_window_view(x, kernel, axis=(2, 3))
    return view[:, :, :: stride[0], :: stride[1]]


def positions(kernel: Pair, stride: Pair, hw: Pair) -> Iterator[tuple[Any, ...]]:
    """For every kernel position, the index selecting it in every window: ``x[index]`` has
    the output's shape ``(..., *hw)``."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, hw
    for i in range(kh):
        for j in range(kw):
            yield (
                Ellipsis,
                slice(i, i + sh * (ho - 1) + 1, sh),
                slice(j, j + sw * (wo - 1) + 1, sw),
            )
