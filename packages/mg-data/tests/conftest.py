"""Shared fixtures for mg_data tests. No test may touch the network."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from mg_data import download

MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# Captured before the autouse fixture below rewrites the environment.
_ENV_DATA = os.environ.get("MACROGRAD_DATA")
REAL_OPEN_URL = download._open_url


def real_mnist_dir() -> Path | None:
    """The directory with the real MNIST files: $MACROGRAD_DATA, else <repo>/../shared/mnist."""
    repo_root = Path(__file__).resolve().parents[3]
    candidates = [Path(_ENV_DATA)] if _ENV_DATA else []
    candidates.append(repo_root.parent / "shared" / "mnist")
    for directory in candidates:
        if all(
            (directory / name).is_file() or (directory / f"{name}.gz").is_file()
            for name in MNIST_NAMES
        ):
            return directory
    return None


@pytest.fixture
def mnist_dir() -> Path:
    directory = real_mnist_dir()
    if directory is None:
        pytest.skip(
            "real MNIST not found: set MACROGRAD_DATA or put the four files in ../shared/mnist "
            "next to the repository root"
        )
    return directory


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No network, and no default data directory outside tmp_path."""

    def no_network(url: str, timeout: float) -> download._Response:
        raise AssertionError(f"test tried to open {url}; tests must not use the network")

    monkeypatch.setattr(download, "_open_url", no_network)
    monkeypatch.delenv("MACROGRAD_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    yield


def idx_bytes(array: NDArray[np.generic]) -> bytes:
    """Encode an array in IDX format (big-endian)."""
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    code = codes[f"{array.dtype.kind}{array.dtype.itemsize}"]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


WriteSplit = Callable[..., tuple[NDArray[np.uint8], NDArray[np.uint8]]]


@pytest.fixture
def write_split() -> WriteSplit:
    """write_split(directory, split, n=7, *, compress=True, seed=0) -> (images, labels)."""

    def write(
        directory: Path, split: str, n: int = 7, *, compress: bool = True, seed: int = 0
    ) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(n, 4, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        prefix = "train" if split == "train" else "t10k"
        directory.mkdir(parents=True, exist_ok=True)
        for name, array in (
            (f"{prefix}-images-idx3-ubyte", images),
            (f"{prefix}-labels-idx1-ubyte", labels),
        ):
            data = idx_bytes(array)
            if compress:
                (directory / f"{name}.gz").write_bytes(gz(data))
            else:
                (directory / name).write_bytes(data)
        return images, labels

    return write


@pytest.fixture
def real_open_url() -> Callable[[str, float], download._Response]:
    """The unpatched URL opener, for file:// and 127.0.0.1 tests only."""

    def opener(url: str, timeout: float) -> download._Response:
        assert url.startswith(("file:", "http://127.0.0.1:")), url
        return REAL_OPEN_URL(url, timeout)

    return opener


@pytest.fixture
def idx() -> Callable[[NDArray[np.generic]], bytes]:
    return idx_bytes
