"""Downloading files over HTTP(S) with progress, checksum and atomic rename.

Uses only :mod:`urllib` from the standard library. Every download goes to a
temporary ``.part`` file in the destination directory, which is renamed onto the
final name only once complete and its MD5 checked, so no partial file is ever
left behind (whatever the failure, including ``KeyboardInterrupt``).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

from mg_data.errors import DownloadError

__all__ = ["download_file"]

_CHUNK = 1 << 16


class _Response(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


class _ChecksumMismatch(ValueError):
    pass


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follows redirects, except from https to anything else."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if req.full_url.startswith("https://") and not newurl.startswith("https://"):
            raise urllib.error.URLError(f"refused a redirect from https to {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open_url(url: str, timeout: float) -> _Response:
    """Open ``url`` for reading; the single network entry point (tests patch it)."""
    response: _Response = urllib.request.build_opener(_NoDowngrade).open(url, timeout=timeout)
    return response


def _content_length(response: _Response) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _fetch(
    url: str, dest: Path, *, md5: str | None, max_bytes: int | None, progress: bool, timeout: float
) -> None:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        with contextlib.closing(_open_url(url, timeout)) as response:
            total = _content_length(response)
            if max_bytes is not None and total is not None and total > max_bytes:
                raise _ChecksumMismatch(
                    f"the server offers {total} bytes, more than {max_bytes} bytes"
                )
            digest = hashlib.md5(usedforsecurity=False)
            size = 0
            with (
                tmp.open("xb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=dest.name,
                    disable=not progress,
                    leave=False,
                ) as bar,
            ):
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise _ChecksumMismatch(f"more than the expected {max_bytes} bytes arrived")
                    bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
        if total is not None and size != total:
            raise _ChecksumMismatch(f"incomplete download: got {size} of {total} bytes")
        if md5 is not None and digest.hexdigest() != md5.lower():
            raise _ChecksumMismatch(
                f"MD5 mismatch: got {digest.hexdigest()}, expected {md5.lower()}"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def download_file(
    filename: str,
    directory: str | Path,
    *,
    mirrors: Sequence[str],
    md5: str | None = None,
    max_bytes: int | None = None,
    progress: bool = True,
    timeout: float = 10.0,
    https_only: bool = True,
) -> Path:
    """Download ``filename`` into ``directory``, trying each mirror URL prefix in turn.

    The file is fetched as ``<mirror>/<filename>``, shown with a tqdm progress bar if
    ``progress``, and checked against ``md5`` (hex) before being atomically renamed
    into place. A download stops as soon as it exceeds ``max_bytes``; ``timeout`` (seconds)
    bounds the connection and every read, so an absent network fails within seconds.
    Only ``https://`` URLs are fetched unless ``https_only=False``. Returns the final
    path. If every mirror fails, raises
    :class:`DownloadError` listing each mirror's failure; no partial file remains.

    Example:
        >>> download_file("t10k-labels-idx1-ubyte.gz", "/tmp/mnist",
        ...               mirrors=["https://ossci-datasets.s3.amazonaws.com/mnist/"],
        ...               md5="ec29112dd5afa0611ce80d1b7f02629c")  # doctest: +SKIP
        PosixPath('/tmp/mnist/t10k-labels-idx1-ubyte.gz')
    """
    directory = Path(directory)
    dest = directory / filename
    failures: list[str] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        failures.append(f"cannot create directory {directory}: {err}")
        mirrors = ()
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        if https_only and not url.startswith("https://"):
            failures.append(f"{url}: refused, not https (pass https_only=False to allow it)")
            continue
        try:
            _fetch(url, dest, md5=md5, max_bytes=max_bytes, progress=progress, timeout=timeout)
        except (OSError, http.client.HTTPException, ValueError) as err:
            failures.append(f"{url}: {type(err).__name__}: {err}")
        else:
            return dest
    if not mirrors and not failures:
        failures.append("no mirror URLs given")
    details = "\n".join(f"  - {failure}" for failure in failures)
    raise DownloadError(
        directory, [filename], f"could not download {filename} into {directory}:\n{details}"
    )
