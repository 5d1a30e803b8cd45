"""Find the user's own source line, skipping frames inside Macrograd packages."""

from __future__ import annotations

import os
import sys

_internal_dirs: list[str] = []
_kinds: dict[str, int] = {}  # file name -> _USER, _HIDDEN or _INTERNAL (memo)
_USER, _HIDDEN, _INTERNAL = 0, 1, 2


def register_internal(path: str) -> None:
    """Mark a package directory as internal: its frames are skipped by `user_location`.

    >>> register_internal(os.path.dirname(__file__))
    """
    directory = os.path.dirname(os.path.abspath(path)) if path.endswith(".py") else path
    directory = os.path.abspath(directory) + os.sep
    if directory not in _internal_dirs:
        _internal_dirs.append(directory)
        _kinds.clear()


register_internal(__file__)
_INTERNAL_PREFIXES = ("<frozen ", "<string>")


def user_location(skip: int = 1) -> str:
    """Return ``file:line`` of the innermost frame outside Macrograd's packages.

    >>> user_location()  # doctest: +ELLIPSIS
    '...'
    """
    frame = sys._getframe(skip)
    fallback = None
    while frame is not None:
        filename = frame.f_code.co_filename
        kind = _kinds.get(filename)
        if kind is None:  # every node asks: classify each file once
            kind = _kinds[filename] = _kind(filename)
        if kind == _USER:
            return f"{filename}:{frame.f_lineno}"
        if kind == _HIDDEN:
            fallback = fallback or f"{filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return fallback or "<unknown>"


def _kind(filename: str) -> int:
    if filename.startswith(tuple(_internal_dirs)):
        return _INTERNAL
    if filename.startswith(_INTERNAL_PREFIXES) or "/functools.py" in filename:
        return _HIDDEN  # generated code, functools wrappers: only if nothing else
    return _USER
