"""mg_data: MNIST loading and mini-batching for Macrograd (numpy only).

Example:
    >>> from mg_data import DataLoader, flatten, load_mnist, one_hot, scale
    >>> ds = load_mnist()  # doctest: +SKIP
    >>> x, y = flatten(scale(ds.train_images)), one_hot(ds.train_labels, 10)  # doctest: +SKIP
    >>> for xb, yb in DataLoader(x, y, batch_size=128, shuffle=True, seed=0):  # doctest: +SKIP
    ...     pass
"""

from mg_data.download import download_file
from mg_data.errors import CorruptFileError, DatasetError, DownloadError, MissingDataError
from mg_data.files import write_atomically
from mg_data.idx import parse_idx, read_idx
from mg_data.loader import DataLoader
from mg_data.mnist import (
    ENV_VAR,
    MNIST,
    MNIST_FILES,
    MNIST_MEAN,
    MNIST_SHA256,
    MNIST_STD,
    Split,
    default_data_dir,
    download_mnist,
    load_mnist,
    load_split,
    resolve_data_dir,
)
from mg_data.torchvision_compat import from_torchvision
from mg_data.transforms import flatten, normalize, one_hot, scale

__all__ = [
    "ENV_VAR",
    "MNIST",
    "MNIST_FILES",
    "MNIST_MEAN",
    "MNIST_SHA256",
    "MNIST_STD",
    "CorruptFileError",
    "DataLoader",
    "DatasetError",
    "DownloadError",
    "MissingDataError",
    "Split",
    "default_data_dir",
    "download_file",
    "download_mnist",
    "flatten",
    "from_torchvision",
    "load_mnist",
    "load_split",
    "normalize",
    "one_hot",
    "parse_idx",
    "read_idx",
    "resolve_data_dir",
    "scale",
    "write_atomically",
]
