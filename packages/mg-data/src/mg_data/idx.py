"""Reading the IDX file format used by MNIST (optionally gzip-compressed).

An IDX file is a 4-byte magic number ``0x00 0x00 <type code> <ndim>``, then ``ndim``
big-endian uint32 dimensions, then the array data in big-endian C order. MNIST
images have magic 2051 (uint8, 3-D) and labels magic 2049 (uint8, 1-D).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mg_data.errors import CorruptFileError

__all__ = ["IDX_DTYPES", "IMAGES_MAGIC", "LABELS_MAGIC", "parse_idx", "read_idx", "read_idx_bytes"]

IMAGES_MAGIC = 0x00000803  # 2051: unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 0x00000801  # 2049: unsigned bytes, 1 dimension (N,)

#: IDX type code -> numpy dtype of the stored (big-endian) data.
IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_DEFAULT_HINT = "Replace it with a good copy of the file."
_CHUNK = 1 << 20


def _open(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def _declared_length(header: bytes | bytearray) -> int | None:
    """Bytes in all that a complete IDX header declares, in Python integers (no
    overflow); ``None`` if ``header`` is not the start of an IDX file."""
    if len(header) < 4 or header[0] != 0 or header[1] != 0 or header[2] not in IDX_DTYPES:
        return None
    ndim = header[3]
    if len(header) < 4 + 4 * ndim:
        return None
    dims = [int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return 4 + 4 * ndim + math.prod(dims) * IDX_DTYPES[header[2]].itemsize


def _read_declared(
    stream: io.BufferedIOBase, path: Path, hint: str, max_bytes: int | None
) -> bytearray:
    """Read the header, then at most the declared length plus one byte (to see whether
    more follows): a decompression bomb is refused after one byte too many."""
    data = bytearray(stream.read(4))
    if len(data) == 4 and data[0] == 0 and data[1] == 0:
        data += stream.read(4 * data[3])
    declared = _declared_length(data)
    if declared is None:  # not IDX: parse_idx says what is wrong from these bytes
        return data
    if max_bytes is not None and declared > max_bytes:
        raise CorruptFileError(
            path,
            f"{path}: the IDX header declares {declared:,} bytes, more than the "
            f"{max_bytes:,} this file has. {hint}",
        )
    while len(data) <= declared:
        chunk = stream.read(min(_CHUNK, declared + 1 - len(data)))
        if not chunk:
            break
        data += chunk
    if len(data) > declared:
        raise CorruptFileError(
            path,
            f"{path}: has trailing data: the content is larger than the {declared:,} bytes "
            f"its IDX header declares. {hint}",
        )
    return data


def read_idx_bytes(
    path: str | Path, *, hint: str = _DEFAULT_HINT, max_bytes: int | None = None
) -> bytearray:
    """The (decompressed, if the name ends in ``.gz``) content of the IDX file ``path``.

    Streams the file and stops one byte past the length its header declares, so a file
    (or gzip bomb) larger than declared is refused without reading it all; with
    ``max_bytes``, a header declaring more is refused before reading any data. The
    result is a writable ``bytearray``. An unreadable file, or a bad or truncated gzip
    stream, raises :class:`CorruptFileError` naming the file.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "labels")
        >>> _ = open(path, "wb").write(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 8]))
        >>> list(read_idx_bytes(path)[-2:])
        [7, 8]
    """
    path = Path(path)
    try:
        with _open(path) as stream:
            return _read_declared(stream, path, hint, max_bytes)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise CorruptFileError(
            path, f"{path}: not a valid gzip file or truncated ({err}). {hint}"
        ) from err
    except OSError as err:
        raise CorruptFileError(
            path, f"{path}: cannot be read ({err.strerror or err}). Check its permissions."
        ) from err


def parse_idx(
    data: bytes | bytearray | memoryview,
    *,
    source: str | Path = "<bytes>",
    expected_magic: int | None = None,
    hint: str = _DEFAULT_HINT,
) -> NDArray[Any]:
    """Parse IDX content into an array of shape given by its header (no copy for uint8).

    ``source`` names the data in error messages. If ``expected_magic`` is given the
    magic number must match. The header's dimensions must account for exactly all
    bytes, otherwise :class:`CorruptFileError` is raised (truncated / trailing data).
    Multi-byte types are converted to native byte order (that copies).

    Example:
        >>> import numpy as np
        >>> raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
        >>> parse_idx(raw)
        array([7, 8, 9], dtype=uint8)
    """

    def corrupt(what: str) -> CorruptFileError:
        return CorruptFileError(source, f"{source}: {what}. {hint}")

    view = memoryview(data).cast("B")
    if len(view) < 4:
        raise corrupt(f"too short to be an IDX file ({len(view)} bytes)")
    magic = int.from_bytes(view[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise corrupt(
            f"bad magic number {magic} (0x{magic:08x}), expected {expected_magic} "
            f"(0x{expected_magic:08x}); this is not the expected IDX file"
        )
    if view[0] != 0 or view[1] != 0 or view[2] not in IDX_DTYPES:
        raise corrupt(f"bad magic number {magic} (0x{magic:08x}); not an IDX file")
    dtype = IDX_DTYPES[view[2]]
    ndim = view[3]
    header_len = 4 + 4 * ndim
    if len(view) < header_len:
        raise corrupt(
            f"truncated header: {ndim} dimensions need {header_len} bytes, file has {len(view)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(view, dtype=">u4", count=ndim, offset=4))
    # Python integers: a product of dimensions never wraps around
    expected_len = header_len + math.prod(shape) * dtype.itemsize
    if len(view) != expected_len:
        kind = "truncated" if len(view) < expected_len else "has trailing data"
        raise corrupt(
            f"{kind}: header says shape {shape} of {dtype.name} ({expected_len} bytes "
            f"in all) but the content is {len(view)} bytes"
        )
    array: NDArray[Any] = np.frombuffer(view, dtype=dtype, offset=header_len).reshape(shape)
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return array


def read_idx(
    path: str | Path,
    *,
    expected_magic: int | None = None,
    sha256: str | None = None,
    hint: str = _DEFAULT_HINT,
) -> NDArray[Any]:
    """Read an IDX file (raw, or gzip-compressed if its name ends in ``.gz``).

    With ``sha256`` the SHA-256 of the *decompressed* content must match, otherwise
    :class:`CorruptFileError` is raised. The returned array is writable.

    Example:
        >>> labels = read_idx("t10k-labels-idx1-ubyte.gz", expected_magic=LABELS_MAGIC)
        ... # doctest: +SKIP
    """
    path = Path(path)
    data = read_idx_bytes(path, hint=hint)
    array = parse_idx(data, source=path, expected_magic=expected_magic, hint=hint)
    if sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256.lower():
            raise CorruptFileError(
                path,
                f"{path}: checksum mismatch: SHA-256 of the decompressed content is "
                f"{digest}, expected {sha256.lower()}. {hint}",
            )
    return array
