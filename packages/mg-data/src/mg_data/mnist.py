"""The MNIST handwritten digits: locating, downloading, validating and loading.

Images come back as ``uint8`` arrays of shape ``(N, 28, 28)`` and labels as ``uint8``
arrays of shape ``(N,)`` (the dtype they are stored in; cast with
``labels.astype(np.int64)`` if you need wider integers). Both are writable.

The data directory is, in order: the ``data_dir`` argument, the ``MACROGRAD_DATA``
environment variable, a ``bundled`` read-only copy (an app's package data) if it holds all
four files, ``$XDG_CACHE_HOME/macrograd/mnist``, ``~/.cache/macrograd/mnist`` (missing
files are downloaded there). It holds the four canonical files, gzip-compressed (``.gz``)
or raw.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from mg_data.download import download_file
from mg_data.errors import CorruptFileError, DatasetError, DownloadError, MissingDataError
from mg_data.idx import IMAGES_MAGIC, LABELS_MAGIC, parse_idx, read_idx_bytes

__all__ = [
    "ENV_VAR",
    "MNIST",
    "MNIST_BYTES",
    "MNIST_FILES",
    "MNIST_GZ_BYTES",
    "MNIST_GZ_MD5",
    "MNIST_MEAN",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "MNIST_STD",
    "Split",
    "default_data_dir",
    "download_mnist",
    "load_mnist",
    "load_split",
    "resolve_data_dir",
]

Split = Literal["train", "test"]

#: Environment variable naming the directory that holds the MNIST files.
ENV_VAR = "MACROGRAD_DATA"

#: Canonical (uncompressed) file names of each split: (images, labels).
MNIST_FILES: dict[Split, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_ALL_NAMES = [name for pair in MNIST_FILES.values() for name in pair]

#: SHA-256 of the *decompressed* content of each canonical file.
MNIST_SHA256: dict[str, str] = {
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
}

#: Decompressed size of each canonical file (a larger header is refused before reading).
MNIST_BYTES: dict[str, int] = {
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
}

#: Mirrors tried in order (https only: torchvision's first mirror).
MNIST_MIRRORS: tuple[str, ...] = ("https://ossci-datasets.s3.amazonaws.com/mnist/",)

#: Size of the ``.gz`` files as served by the mirrors: a download stops past it.
MNIST_GZ_BYTES: dict[str, int] = {
    "train-images-idx3-ubyte.gz": 9_912_422,
    "train-labels-idx1-ubyte.gz": 28_881,
    "t10k-images-idx3-ubyte.gz": 1_648_877,
    "t10k-labels-idx1-ubyte.gz": 4_542,
}

#: MD5 of the ``.gz`` files as served by the mirrors (torchvision's published values).
MNIST_GZ_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Mean and standard deviation of the training pixels after :func:`mg_data.scale`.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


@dataclass(frozen=True, eq=False)
class MNIST:
    """Both MNIST splits: ``uint8`` images ``(N, 28, 28)`` and ``uint8`` labels ``(N,)``.

    Example:
        >>> ds = load_mnist()  # doctest: +SKIP
        >>> ds.train_images.shape, ds.test_labels.shape  # doctest: +SKIP
        ((60000, 28, 28), (10000,))
    """

    train_images: NDArray[np.uint8]
    train_labels: NDArray[np.uint8]
    test_images: NDArray[np.uint8]
    test_labels: NDArray[np.uint8]

    @property
    def train(self) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        """``(train_images, train_labels)``."""
        return self.train_images, self.train_labels

    @property
    def test(self) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        """``(test_images, test_labels)``."""
        return self.test_images, self.test_labels

    def __repr__(self) -> str:
        parts = (
            f"{name}={getattr(self, name).dtype}{list(getattr(self, name).shape)}"
            for name in ("train_images", "train_labels", "test_images", "test_labels")
        )
        return f"MNIST({', '.join(parts)})"


def default_data_dir() -> Path:
    """Return ``$MACROGRAD_DATA``, else ``$XDG_CACHE_HOME/macrograd/mnist``, else
    ``~/.cache/macrograd/mnist`` (empty variables count as unset).

    Example:
        >>> default_data_dir()  # doctest: +SKIP
        PosixPath('/home/me/.cache/macrograd/mnist')
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return _expand(env)
    cache = os.environ.get("XDG_CACHE_HOME")
    base = _expand(cache) if cache else _expand("~") / ".cache"
    return base / "macrograd" / "mnist"


def _expand(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``~`` or ``~user`` expanded; an unknown user is a DatasetError."""
    try:
        return Path(path).expanduser()
    except RuntimeError as err:  # pathlib's "Could not determine home directory"
        raise DatasetError(
            f"cannot expand {os.fspath(path)!r}: no such user or home directory; "
            "write the folder's full path"
        ) from err


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    bundled: str | os.PathLike[str] | None = None,
) -> Path:
    """Return ``data_dir`` (with ``~`` expanded) if given, else ``$MACROGRAD_DATA``, else
    ``bundled`` if it holds all four files, else the user cache (:func:`default_data_dir`).

    Example:
        >>> resolve_data_dir("~/data/mnist")  # doctest: +SKIP
        PosixPath('/home/me/data/mnist')
    """
    if data_dir is not None:
        return _expand(data_dir)
    if bundled is not None and not os.environ.get(ENV_VAR):
        names = _ALL_NAMES
        if all(_find(Path(bundled), name) for name in names):
            return Path(bundled)
    return default_data_dir()


def _find(directory: Path, name: str) -> Path | None:
    """The raw file if present, else the ``.gz`` one, else ``None``."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        try:
            if candidate.is_file():
                return candidate
        except OSError as err:  # a folder we may not enter, a name too long
            raise DatasetError(
                f"cannot look for {candidate}: {err.strerror or err}; check the folder's "
                "permissions, or choose another one with --data-dir or MACROGRAD_DATA"
            ) from err
    return None


def _how_to_fix(directory: Path, names: list[str]) -> str:
    files = "\n".join(f"    {name}.gz" for name in names)
    return (
        f"To fix this, put the file(s)\n{files}\ninto {directory} (gzip-compressed as named, "
        f"or decompressed without the .gz suffix; they are served at {MNIST_MIRRORS[0]}), "
        f"or point to a directory that holds them with the {ENV_VAR} environment variable, "
        "the data_dir argument or the apps' --data-dir option."
    )


def _ensure_files(
    directory: Path, names: list[str], *, download: bool, progress: bool
) -> dict[str, Path]:
    """Locate the named files, downloading missing ones if allowed."""
    found = {name: _find(directory, name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing and not download:
        raise MissingDataError(
            directory,
            missing,
            f"MNIST files missing from {directory}: {', '.join(missing)} "
            f"(and download=False).\n{_how_to_fix(directory, missing)}",
        )
    for i, name in enumerate(missing):
        try:
            found[name] = download_file(
                f"{name}.gz",
                directory,
                mirrors=MNIST_MIRRORS,
                md5=MNIST_GZ_MD5[f"{name}.gz"],
                max_bytes=MNIST_GZ_BYTES[f"{name}.gz"],
                progress=progress,
            )
        except DownloadError as err:
            still_missing = missing[i:]
            raise DownloadError(
                directory,
                still_missing,
                f"MNIST files missing from {directory}: {', '.join(still_missing)}, and "
                f"downloading failed (offline?): {err}\n{_how_to_fix(directory, still_missing)}",
            ) from err
    return {name: path for name, path in found.items() if path is not None}


def _load_file(path: Path, name: str, magic: int, *, verify: bool) -> NDArray[np.uint8]:
    hint = (
        f"Delete {path} and load again to download it afresh, or replace it with the "
        f"canonical MNIST file {name}.gz (or {name} decompressed)."
    )
    data = read_idx_bytes(path, hint=hint, max_bytes=MNIST_BYTES[name] if verify else None)
    array = parse_idx(data, source=path, expected_magic=magic, hint=hint)
    if verify:
        digest = hashlib.sha256(data).hexdigest()
        if digest != MNIST_SHA256[name]:
            raise CorruptFileError(
                path,
                f"{path}: checksum mismatch: SHA-256 of the decompressed content is {digest}, "
                f"expected {MNIST_SHA256[name]} for the canonical {name}. {hint} "
                "(For deliberately custom IDX data, pass verify=False to skip the checksum.)",
            )
    return array.astype(np.uint8, copy=False)


def _load_split_from(
    files: dict[str, Path], split: Split, *, verify: bool
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    images_name, labels_name = MNIST_FILES[split]
    images_path, labels_path = files[images_name], files[labels_name]
    images = _load_file(images_path, images_name, IMAGES_MAGIC, verify=verify)
    labels = _load_file(labels_path, labels_name, LABELS_MAGIC, verify=verify)
    if images.shape[0] != labels.shape[0]:
        raise CorruptFileError(
            labels_path,
            f"{labels_path}: has {labels.shape[0]} labels but {images_path} has "
            f"{images.shape[0]} images; the two files do not belong together. Replace both "
            f"with the canonical MNIST files {images_name}.gz and {labels_name}.gz.",
        )
    return images, labels


def _check_split(split: str) -> Split:
    if split == "train":
        return "train"
    if split == "test":
        return "test"
    raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def load_split(
    split: Split,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    bundled: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: bool = True,
    verify: bool = True,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Load one MNIST split as ``(images, labels)``: ``uint8 (N, 28, 28)`` and ``uint8 (N,)``.

    ``bundled`` names a read-only copy (say an app's package data) used when neither
    ``data_dir`` nor ``$MACROGRAD_DATA`` is given and it holds all four files.
    Missing files are downloaded into the data directory if ``download``. Every file's
    IDX header is validated and, if ``verify``, the SHA-256 of its decompressed content
    (pass ``verify=False`` for custom IDX data). Raises :class:`CorruptFileError` or
    :class:`MissingDataError` / :class:`DownloadError` with a message saying how to fix it.

    Example:
        >>> images, labels = load_split("test")  # doctest: +SKIP
        >>> images.shape, labels[:5]  # doctest: +SKIP
        ((10000, 28, 28), array([7, 2, 1, 0, 4], dtype=uint8))
    """
    split = _check_split(split)
    directory = resolve_data_dir(data_dir, bundled=bundled)
    files = _ensure_files(directory, list(MNIST_FILES[split]), download=download, progress=progress)
    return _load_split_from(files, split, verify=verify)


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    bundled: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: bool = True,
    verify: bool = True,
) -> MNIST:
    """Load both MNIST splits (see :func:`load_split` for the arguments and errors).

    Example:
        >>> ds = load_mnist(download=False)  # doctest: +SKIP
        >>> ds.train_images.shape, ds.train_labels.dtype  # doctest: +SKIP
        ((60000, 28, 28), dtype('uint8'))
    """
    directory = resolve_data_dir(data_dir, bundled=bundled)
    names = _ALL_NAMES
    files = _ensure_files(directory, names, download=download, progress=progress)
    train_images, train_labels = _load_split_from(files, "train", verify=verify)
    test_images, test_labels = _load_split_from(files, "test", verify=verify)
    return MNIST(train_images, train_labels, test_images, test_labels)


def download_mnist(
    data_dir: str | os.PathLike[str] | None = None, *, progress: bool = True
) -> Path:
    """Download whichever of the four MNIST files are missing; return the directory.

    Example:
        >>> download_mnist("/tmp/mnist")  # doctest: +SKIP
        PosixPath('/tmp/mnist')
    """
    directory = resolve_data_dir(data_dir)
    names = _ALL_NAMES
    _ensure_files(directory, names, download=True, progress=progress)
    return directory
