"""Facts about the real MNIST (skipped unless $MACROGRAD_DATA or ../shared/mnist has it)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from mg_data import (
    MNIST,
    MNIST_MEAN,
    MNIST_SHA256,
    MNIST_STD,
    CorruptFileError,
    DataLoader,
    load_mnist,
    load_split,
    scale,
)

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture
def ds(mnist_dir: Path) -> MNIST:
    return load_mnist(mnist_dir, download=False)


def test_shapes_and_dtypes(ds: MNIST) -> None:
    assert ds.train_images.shape == (60000, 28, 28) and ds.train_images.dtype == np.uint8
    assert ds.train_labels.shape == (60000,) and ds.train_labels.dtype == np.uint8
    assert ds.test_images.shape == (10000, 28, 28) and ds.test_images.dtype == np.uint8
    assert ds.test_labels.shape == (10000,) and ds.test_labels.dtype == np.uint8


def test_label_counts(ds: MNIST) -> None:
    assert np.bincount(ds.train_labels, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(ds.test_labels, minlength=10).tolist() == TEST_COUNTS


def test_mean_pixel(ds: MNIST) -> None:
    assert round(float(ds.train_images.mean()), 3) == 33.318
    scaled = scale(ds.train_images)
    assert scaled.dtype == np.float32
    assert float(scaled.mean(dtype=np.float64)) == pytest.approx(MNIST_MEAN, abs=5e-5)
    assert float(scaled.std(dtype=np.float64)) == pytest.approx(MNIST_STD, abs=5e-5)


def test_first_test_labels(ds: MNIST) -> None:
    assert ds.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert ds.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_load_split_matches_load_mnist(ds: MNIST, mnist_dir: Path) -> None:
    images, labels = load_split("test", mnist_dir, download=False)
    np.testing.assert_array_equal(images, ds.test_images)
    np.testing.assert_array_equal(labels, ds.test_labels)


def test_env_var(ds: MNIST, mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MACROGRAD_DATA", str(mnist_dir))
    np.testing.assert_array_equal(load_split("test", download=False)[1], ds.test_labels)


def _copy_decompressed(mnist_dir: Path, name: str, dest: Path) -> bytes:
    gz_path = mnist_dir / f"{name}.gz"
    data = (
        gzip.decompress(gz_path.read_bytes())
        if gz_path.is_file()
        else (mnist_dir / name).read_bytes()
    )
    (dest / name).write_bytes(data)
    return data


def test_raw_decompressed_files_verify(ds: MNIST, mnist_dir: Path, tmp_path: Path) -> None:
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        _copy_decompressed(mnist_dir, name, tmp_path)
    images, labels = load_split("test", tmp_path, download=False)  # verify=True
    np.testing.assert_array_equal(images, ds.test_images)
    np.testing.assert_array_equal(labels, ds.test_labels)


def test_one_changed_label_fails_checksum(mnist_dir: Path, tmp_path: Path) -> None:
    _copy_decompressed(mnist_dir, "t10k-images-idx3-ubyte", tmp_path)
    data = bytearray(_copy_decompressed(mnist_dir, "t10k-labels-idx1-ubyte", tmp_path))
    data[8] = (data[8] + 1) % 10  # first label: valid IDX, wrong content
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="checksum mismatch") as info:
        load_split("test", tmp_path, download=False)
    assert str(tmp_path / "t10k-labels-idx1-ubyte") in str(info.value)
    labels = load_split("test", tmp_path, download=False, verify=False)[1]
    assert labels[0] == data[8]


def test_shared_sha256sums_match_constants(mnist_dir: Path) -> None:
    sums = mnist_dir / "SHA256SUMS"
    if not sums.is_file():
        pytest.skip(f"no SHA256SUMS file in {mnist_dir}")
    listed = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            listed[name] = digest
    assert listed == MNIST_SHA256


def test_loader_first_epoch_is_default_rng_permutation(ds: MNIST) -> None:
    loader = DataLoader(ds.train_images, ds.train_labels, batch_size=128, shuffle=True, seed=0)
    order = np.random.default_rng(0).permutation(60000)
    xb, yb = next(iter(loader))
    np.testing.assert_array_equal(xb, ds.train_images[order[:128]])
    np.testing.assert_array_equal(yb, ds.train_labels[order[:128]])
    assert len(loader) == 469
