"""What convolution and pooling share: int-or-pair arguments, output sizes and the
windows of the last two axes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

Pair = tuple[int, int]
Pads = tuple[Pair, Pair]  # ((top, bottom), (left, right))
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


def out_size(
    size: int, kernel: int, stride: int, pad: Pair = (0, 0), dilation: int = 1, ceil: bool = False
) -> int:
    """How many windows of ``kernel`` (spread by ``dilation``) at ``stride`` fit in
    ``size`` padded by ``pad`` (before, after), as PyTorch counts them: rounding up with
    ``ceil`` (ceil_mode), but never a window that starts in the trailing padding.

    >>> out_size(28, 3, 1, (1, 1)), out_size(28, 2, 2), out_size(5, 2, 2, ceil=True)
    (28, 14, 3)
    """
    span = size + pad[0] + pad[1] - dilation * (kernel - 1) - 1
    count = (span + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (count - 1) * stride >= size + pad[0]:
        count -= 1
    return count


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
