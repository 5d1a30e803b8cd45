"""Find the user's own source line, skipping frames inside Macrograd packages."""

from __future__ import annotations

import os
import sys

_internal_dirs: list[str] = []


def register_internal(path: str) -> None:
    """Mark a package directory as internal: its frames are skipped by `user_location`.

    >>> register_internal(os.path.dirname(__file__))
    """
    directory = os.path.dirname(os.path.abspath(path)) if path.endswith(".py") else path
    directory = os.path.abspath(directory) + os.sep
    if directory not in _internal_dirs:
        _internal_dirs.append(directory)


register_internal(__file__)
_INTERNAL_PREFIXES = ("<frozen ", "<string>")


def user_location(skip: int = 1) -> str:
    """Return ``file:line`` of the innermost frame outside Macrograd's packages.

    >>> user_location()  # doctest: +ELLIPSIS
    '...'
    """
    frame = sys._getframe(skip)
    prefixes = tuple(_internal_dirs)
    fallback = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(prefixes):
            if not filename.startswith(_INTERNAL_PREFIXES) and "/functools.py" not in filename:
                return f"{filename}:{frame.f_lineno}"
            fallback = fallback or f"{filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return fallback or "<unknown>"
