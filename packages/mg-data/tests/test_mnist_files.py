"""MNIST loading from tiny synthetic IDX files: layouts, directories and every error."""

from __future__ import annotations

import dataclasses
import gzip
import urllib.error
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from mg_data import (
    MNIST,
    CorruptFileError,
    DownloadError,
    MissingDataError,
    default_data_dir,
    download,
    load_mnist,
    load_split,
    resolve_data_dir,
)

WriteSplit = Callable[..., tuple[NDArray[np.uint8], NDArray[np.uint8]]]
Idx = Callable[[NDArray[np.generic]], bytes]

ALL = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def test_load_split_gz(tmp_path: Path, write_split: WriteSplit) -> None:
    images, labels = write_split(tmp_path, "test", 5)
    got_images, got_labels = load_split("test", tmp_path, verify=False, download=False)
    assert got_images.dtype == np.uint8 and got_labels.dtype == np.uint8
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.flags.writeable and got_labels.flags.writeable


def test_raw_files_work(tmp_path: Path, write_split: WriteSplit) -> None:
    images, labels = write_split(tmp_path, "train", 6, compress=False)
    assert not list(tmp_path.glob("*.gz"))
    got_images, got_labels = load_split("train", str(tmp_path), verify=False, download=False)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_raw_file_preferred_over_gz(tmp_path: Path, write_split: WriteSplit) -> None:
    write_split(tmp_path, "test", 5, compress=True, seed=1)
    images, _ = write_split(tmp_path, "test", 5, compress=False, seed=2)
    np.testing.assert_array_equal(load_split("test", tmp_path, verify=False)[0], images)


def test_load_mnist_dataclass(tmp_path: Path, write_split: WriteSplit) -> None:
    train = write_split(tmp_path, "train", 8, seed=1)
    test = write_split(tmp_path, "test", 3, seed=2, compress=False)
    ds = load_mnist(tmp_path, verify=False, download=False)
    assert isinstance(ds, MNIST)
    np.testing.assert_array_equal(ds.train_images, train[0])
    np.testing.assert_array_equal(ds.train_labels, train[1])
    np.testing.assert_array_equal(ds.test_images, test[0])
    np.testing.assert_array_equal(ds.test_labels, test[1])
    assert ds.train[0] is ds.train_images and ds.test[1] is ds.test_labels
    assert "train_images=uint8[8, 4, 3]" in repr(ds)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.train_images = ds.test_images  # type: ignore[misc]


def test_invalid_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'valid'"):
        load_split("valid", tmp_path)  # type: ignore[arg-type]


def test_checksum_mismatch_names_file(tmp_path: Path, write_split: WriteSplit) -> None:
    write_split(tmp_path, "test", 5)
    with pytest.raises(CorruptFileError) as info:
        load_split("test", tmp_path, download=False)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    message = str(info.value)
    assert info.value.path == path and str(path) in message
    assert "checksum mismatch" in message
    assert "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7" in message
    assert "Delete" in message and "verify=False" in message


def test_bad_magic_names_file(tmp_path: Path, write_split: WriteSplit, idx: Idx) -> None:
    write_split(tmp_path, "test", 5)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx(np.zeros(5, dtype=np.uint8))))  # a labels file
    with pytest.raises(CorruptFileError, match="bad magic number 2049") as info:
        load_split("test", tmp_path, verify=False)
    assert str(path) in str(info.value) and "Delete" in str(info.value)


def test_truncated_raw_file(tmp_path: Path, write_split: WriteSplit) -> None:
    write_split(tmp_path, "train", 5, compress=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(CorruptFileError, match="truncated") as info:
        load_split("train", tmp_path, verify=False)
    assert str(path) in str(info.value) and "train-labels-idx1-ubyte.gz" in str(info.value)


def test_truncated_gz_file(tmp_path: Path, write_split: WriteSplit) -> None:
    write_split(tmp_path, "train", 50)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CorruptFileError, match="gzip") as info:
        load_split("train", tmp_path, verify=False)
    assert str(path) in str(info.value)


def test_corrupt_gzip(tmp_path: Path, write_split: WriteSplit) -> None:
    write_split(tmp_path, "train", 5)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"this is not gzip data at all")
    with pytest.raises(CorruptFileError, match="gzip") as info:
        load_split("train", tmp_path, verify=False)
    assert str(path) in str(info.value)


def test_count_mismatch(tmp_path: Path, write_split: WriteSplit) -> None:
    write_split(tmp_path, "test", 5)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    write_split(tmp_path / "other", "test", 4)
    (tmp_path / "other" / "t10k-labels-idx1-ubyte.gz").rename(
        tmp_path / "t10k-labels-idx1-ubyte.gz"
    )
    with pytest.raises(CorruptFileError) as info:
        load_split("test", tmp_path, verify=False)
    message = str(info.value)
    assert "4 labels" in message and "5 images" in message
    assert str(tmp_path / "t10k-labels-idx1-ubyte.gz") in message
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in message


def _assert_lists(message: str, directory: Path, names: list[str]) -> None:
    assert str(directory) in message
    for name in names:
        assert f"{name}.gz" in message
    assert "MACROGRAD_DATA" in message and "--data-dir" in message


def test_missing_files_no_download(tmp_path: Path, write_split: WriteSplit) -> None:
    write_split(tmp_path, "train", 5)
    with pytest.raises(MissingDataError) as info:
        load_mnist(tmp_path, download=False)
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.missing == ALL[2:] and info.value.directory == tmp_path
    _assert_lists(str(info.value), tmp_path, ALL[2:])
    assert "train-images" not in str(info.value)


def test_missing_directory_no_download(tmp_path: Path) -> None:
    directory = tmp_path / "does" / "not" / "exist"
    with pytest.raises(MissingDataError) as info:
        load_split("train", directory, download=False)
    _assert_lists(str(info.value), directory, ALL[:2])
    assert not directory.exists()


def test_offline_download_lists_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    urls: list[str] = []

    def offline(url: str, timeout: float) -> download._Response:
        urls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(download, "_open_url", offline)
    directory = tmp_path / "mnist"
    with pytest.raises(DownloadError) as info:
        load_mnist(directory, progress=False)
    message = str(info.value)
    _assert_lists(message, directory, ALL)
    assert "name resolution" in message
    assert isinstance(info.value, MissingDataError) and info.value.missing == ALL
    assert urls == ["https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"]
    assert list(directory.iterdir()) == []


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_data_dir() == tmp_path / "home" / ".cache" / "macrograd" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert default_data_dir() == tmp_path / "home" / ".cache" / "macrograd" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "macrograd" / "mnist"
    monkeypatch.setenv("MACROGRAD_DATA", str(tmp_path / "env"))
    assert default_data_dir() == tmp_path / "env"
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir("~/x") == tmp_path / "home" / "x"


def test_env_var_is_used(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_split: WriteSplit,
) -> None:
    _, labels = write_split(tmp_path / "env", "test", 4)
    monkeypatch.setenv("MACROGRAD_DATA", str(tmp_path / "env"))
    np.testing.assert_array_equal(load_split("test", verify=False)[1], labels)


def test_default_cache_dir_is_used(tmp_path: Path, write_split: WriteSplit) -> None:
    # the autouse fixture points XDG_CACHE_HOME at tmp_path / "xdg-cache"
    _, labels = write_split(tmp_path / "xdg-cache" / "macrograd" / "mnist", "train", 4)
    np.testing.assert_array_equal(load_split("train", verify=False)[1], labels)
