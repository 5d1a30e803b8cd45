"""Hostile and odd inputs: overflowing headers, gzip bombs, unreadable folders and files,
odd paths, and the bundled copy's place in the lookup order."""

from __future__ import annotations

import errno
import gzip
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import mg_data.idx as idx_module
from mg_data import CorruptFileError, DatasetError, load_mnist, load_split, parse_idx, read_idx
from mg_data.mnist import MNIST_BYTES, resolve_data_dir

WriteSplit = Callable[..., tuple[NDArray[np.uint8], NDArray[np.uint8]]]
Idx = Callable[[NDArray[np.generic]], bytes]

# four dimensions of 2**16: their product is 2**64, which wraps to 0 in 64-bit integers
WRAPPING_HEADER = bytes([0, 0, 8, 4]) + np.full(4, 1 << 16, dtype=">u4").tobytes()


def test_dimensions_whose_product_wraps_64_bits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CorruptFileError, match="truncated"):
        parse_idx(WRAPPING_HEADER)
    (tmp_path / "f").write_bytes(WRAPPING_HEADER)
    with pytest.raises(CorruptFileError, match="truncated"):
        read_idx(tmp_path / "f")


def test_a_gzip_bomb_is_refused_while_streaming(tmp_path: Path, idx: Idx) -> None:
    bomb = tmp_path / "labels.gz"
    bomb.write_bytes(gzip.compress(idx(np.zeros(10, np.uint8)) + bytes(64 << 20), 9))
    assert bomb.stat().st_size < 1 << 20  # under 1 MB on disk, 64 MB decompressed
    tracemalloc.start()
    try:
        with pytest.raises(CorruptFileError, match="trailing data") as info:
            read_idx(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"reading the bomb took {peak} bytes"
    assert str(bomb) in str(info.value)


def test_a_header_declaring_more_than_the_known_size_is_refused_before_reading(
    tmp_path: Path, write_split: WriteSplit
) -> None:
    write_split(tmp_path, "test", 3)
    # a header only: 10,001 test images, one more than the canonical file holds
    header = bytes([0, 0, 8, 3]) + np.array([10_001, 28, 28], ">u4").tobytes()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(header))
    with pytest.raises(CorruptFileError, match="declares") as info:
        load_split("test", tmp_path, download=False)
    assert f"{MNIST_BYTES['t10k-images-idx3-ubyte']:,}" in str(info.value)


def test_an_unreadable_file_is_a_dataset_error(
    tmp_path: Path, write_split: WriteSplit, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_split(tmp_path, "train", 3)
    write_split(tmp_path, "test", 3)

    def denied(path: Path) -> object:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(idx_module, "_open", denied)  # tests run as root: chmod would not do
    with pytest.raises(CorruptFileError, match="Permission denied") as info:
        load_mnist(tmp_path, download=False, verify=False)
    assert "permissions" in str(info.value) and "train-images" in str(info.value)


def test_a_folder_that_cannot_be_entered_is_a_dataset_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(self: Path) -> bool:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", denied)
    with pytest.raises(DatasetError, match="Permission denied") as info:
        load_mnist(tmp_path / "locked", download=False)
    assert str(tmp_path / "locked") in str(info.value)


def test_a_too_long_path_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="too long"):
        load_mnist(tmp_path / ("x" * 5000), download=False)


def test_an_unknown_user_is_a_dataset_error() -> None:
    with pytest.raises(DatasetError, match="no such user"):
        resolve_data_dir("~no_such_user_for_macrograd/mnist")


def test_the_bundled_copy_comes_after_the_environment_and_before_the_cache(
    tmp_path: Path, write_split: WriteSplit, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = tmp_path / "bundled"
    write_split(bundled, "train", 3, seed=1)
    assert resolve_data_dir(bundled=bundled) != bundled  # incomplete: the cache instead
    write_split(bundled, "test", 2, seed=1)
    assert resolve_data_dir(bundled=bundled) == bundled
    assert load_mnist(bundled=bundled, verify=False).test_labels.shape == (2,)
    monkeypatch.setenv("MACROGRAD_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(bundled=bundled) == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg", bundled=bundled) == tmp_path / "arg"
