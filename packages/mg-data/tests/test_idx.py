"""IDX parsing and reading: formats, no-copy views and every corruption case."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from mg_data import CorruptFileError, DatasetError, parse_idx, read_idx
from mg_data.idx import IMAGES_MAGIC, LABELS_MAGIC

Idx = Callable[[NDArray[np.generic]], bytes]


def test_parse_uint8_images_and_labels(idx: Idx) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = parse_idx(idx(images), expected_magic=IMAGES_MAGIC)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, images)
    labels = np.array([3, 1, 4], dtype=np.uint8)
    np.testing.assert_array_equal(parse_idx(idx(labels), expected_magic=LABELS_MAGIC), labels)


def test_parse_is_a_writable_view_of_a_bytearray(idx: Idx) -> None:
    buf = bytearray(idx(np.arange(12, dtype=np.uint8).reshape(3, 4)))
    out = parse_idx(buf)
    assert np.shares_memory(out, np.frombuffer(buf, dtype=np.uint8))
    out[0, 0] = 99
    assert out.flags.writeable


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_parse_multibyte_types_big_endian(idx: Idx, dtype: type[np.generic]) -> None:
    array = (np.arange(6) - 3).astype(dtype).reshape(2, 3)
    out = parse_idx(idx(array))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_read_raw_and_gz_agree(tmp_path: Path, idx: Idx) -> None:
    data = idx(np.arange(10, dtype=np.uint8))
    (tmp_path / "a").write_bytes(data)
    (tmp_path / "a.gz").write_bytes(gzip.compress(data))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), read_idx(tmp_path / "a.gz"))
    assert read_idx(tmp_path / "a").flags.writeable


def _corrupt(
    path: Path,
    data: bytes,
    *,
    expected_magic: int | None = None,
    sha256: str | None = None,
    hint: str = "Fix it.",
) -> CorruptFileError:
    path.write_bytes(data)
    with pytest.raises(CorruptFileError) as info:
        read_idx(path, expected_magic=expected_magic, sha256=sha256, hint=hint)
    assert str(path) in str(info.value)
    assert info.value.path == path
    assert isinstance(info.value, DatasetError) and isinstance(info.value, ValueError)
    return info.value


def test_too_short(tmp_path: Path) -> None:
    assert "too short" in str(_corrupt(tmp_path / "f", b"\x00\x00"))


def test_bad_magic_against_expected(tmp_path: Path, idx: Idx) -> None:
    labels = idx(np.zeros(3, dtype=np.uint8))
    err = _corrupt(tmp_path / "f", labels, expected_magic=IMAGES_MAGIC)
    assert "bad magic number 2049" in str(err) and "2051" in str(err)


def test_not_idx_at_all(tmp_path: Path) -> None:
    assert "not an IDX file" in str(_corrupt(tmp_path / "f", b"<html>not found</html>"))


def test_unknown_type_code(tmp_path: Path) -> None:
    assert "not an IDX file" in str(_corrupt(tmp_path / "f", bytes([0, 0, 0x42, 1, 0, 0, 0, 0])))


def test_truncated_header(tmp_path: Path) -> None:
    assert "truncated header" in str(_corrupt(tmp_path / "f", bytes([0, 0, 8, 3, 0, 0, 0, 1])))


def test_truncated_data(tmp_path: Path, idx: Idx) -> None:
    data = idx(np.zeros((4, 5, 5), dtype=np.uint8))
    err = _corrupt(tmp_path / "f", data[:-7])
    assert "truncated" in str(err) and "(4, 5, 5)" in str(err)


def test_trailing_data(tmp_path: Path, idx: Idx) -> None:
    err = _corrupt(tmp_path / "f", idx(np.zeros(4, dtype=np.uint8)) + b"junk")
    assert "trailing data" in str(err)


def test_bad_gzip(tmp_path: Path, idx: Idx) -> None:
    err = _corrupt(tmp_path / "f.gz", idx(np.zeros(4, dtype=np.uint8)))
    assert "gzip" in str(err)


def test_truncated_gzip(tmp_path: Path, idx: Idx) -> None:
    data = gzip.compress(idx(np.arange(1000, dtype=np.int32)))
    assert "gzip" in str(_corrupt(tmp_path / "f.gz", data[: len(data) // 2]))


def test_corrupt_gzip_payload(tmp_path: Path, idx: Idx) -> None:
    data = bytearray(gzip.compress(idx(np.arange(1000, dtype=np.int32))))
    data[len(data) // 2] ^= 0xFF
    assert "gzip" in str(_corrupt(tmp_path / "f.gz", bytes(data)))


def test_sha256_mismatch(tmp_path: Path, idx: Idx) -> None:
    err = _corrupt(tmp_path / "f", idx(np.zeros(4, dtype=np.uint8)), sha256="0" * 64)
    assert "checksum mismatch" in str(err)


def test_sha256_match(tmp_path: Path, idx: Idx) -> None:
    import hashlib

    data = idx(np.arange(4, dtype=np.uint8))
    (tmp_path / "f.gz").write_bytes(gzip.compress(data))
    out = read_idx(tmp_path / "f.gz", sha256=hashlib.sha256(data).hexdigest().upper())
    np.testing.assert_array_equal(out, np.arange(4))


def test_custom_hint_in_message(tmp_path: Path) -> None:
    err = _corrupt(tmp_path / "f", b"xx", hint="Do the thing.")
    assert str(err).endswith("Do the thing.")
