"""`no_grad`: build nodes that carry no gradient (per thread), as PyTorch spells it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class _Mode(threading.local):
    disabled = 0


_mode = _Mode()


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Nodes built inside carry no gradient: `backprop` and `grad` do not flow through
    them, and compiled functions called inside see arguments as needing none.

    >>> from mg_tensor import Tensor
    >>> w = Tensor([1.0], requires_grad=True)
    >>> with no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    _mode.disabled += 1
    try:
        yield
    finally:
        _mode.disabled -= 1


def is_grad_enabled() -> bool:
    """False inside `no_grad` (in this thread).

    >>> is_grad_enabled()
    True
    """
    return _mode.disabled == 0
