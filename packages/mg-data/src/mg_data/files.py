"""Writing a file so that readers see the old content or the new one, never a part."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["write_atomically"]


def _temporary_name(target: Path, token: str) -> str:
    return f".{target.name}.{token}.partial"


def write_atomically(
    path: str | os.PathLike[str], content: bytes | Callable[[BinaryIO], object]
) -> Path:
    """Write ``content`` (bytes, or a function writing to a binary file) to ``path``.

    The bytes go to a temporary file with a unique name, created exclusively in the same
    folder (so never through a symlink or over another file), flushed to disk and then
    renamed onto ``path``; on any failure, interrupts included, it is removed. After a
    success, temporaries of ``path`` left behind by earlier writes that were killed are
    removed too. Returns ``path``.

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> write_atomically(os.path.join(folder, "a.txt"), b"hello").read_bytes()
        b'hello'
        >>> os.listdir(folder)
        ['a.txt']
    """
    target = Path(path)
    temporary = target.with_name(_temporary_name(target, secrets.token_hex(4)))
    # O_EXCL: fails rather than follow a symlink or reuse a file; the mode honours umask
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(content, bytes | bytearray | memoryview):
                out.write(content)
            else:
                content(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _remove_orphans(target)
    return target


def _remove_orphans(target: Path) -> None:
    """Remove the temporaries of ``target`` that a killed write left behind."""
    pattern = re.compile(re.escape(_temporary_name(target, "@")).replace("@", "[0-9a-f]{8}"))
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            # OSError: another writer's file just renamed away, or no permission
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
