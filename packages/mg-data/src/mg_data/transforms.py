"""Vectorised array helpers: scaling, normalisation, flattening, one-hot encoding."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["flatten", "normalize", "one_hot", "scale"]

_S = TypeVar("_S", bound=np.generic)


def scale(images: ArrayLike, *, out: NDArray[np.float32] | None = None) -> NDArray[np.float32]:
    """Return ``images / 255`` as ``float32`` (``uint8`` pixels map into ``[0, 1]``).

    The division happens in float32 directly (no float64 temporary); pass ``out`` (a
    float32 array of the same shape) to reuse a buffer.

    Example:
        >>> import numpy as np
        >>> scale(np.array([0, 51, 255], dtype=np.uint8))
        array([0. , 0.2, 1. ], dtype=float32)
    """
    result: NDArray[np.float32] = np.divide(images, np.float32(255), out=out, dtype=np.float32)
    return result


def normalize(
    x: ArrayLike,
    mean: ArrayLike,
    std: ArrayLike,
    *,
    out: NDArray[np.floating[Any]] | None = None,
) -> NDArray[np.floating[Any]]:
    """Return ``(x - mean) / std`` (broadcasting), in ``x``'s float dtype, else float32.

    Only one result array is allocated (or none: pass ``out``, which may be ``x`` itself
    for in-place). ``std`` must not contain zeros.

    Example:
        >>> import numpy as np
        >>> normalize(np.array([0.0, 0.5, 1.0], dtype=np.float32), 0.5, 0.25)
        array([-2.,  0.,  2.], dtype=float32)
    """
    x = np.asarray(x)
    std_array = np.asarray(std)
    if np.any(std_array == 0):
        raise ValueError(f"std must be nonzero everywhere, got {std_array!r}")
    if out is not None:
        dtype = out.dtype
    elif np.issubdtype(x.dtype, np.floating):
        dtype = x.dtype
    else:
        dtype = np.dtype(np.float32)
    result: NDArray[np.floating[Any]] = np.subtract(x, mean, out=out, dtype=dtype)
    np.divide(result, std_array, out=result)
    return result


def flatten(images: NDArray[_S]) -> NDArray[_S]:
    """Reshape ``(N, H, W, ...)`` to ``(N, H*W*...)``; a view when ``images`` is contiguous.

    Example:
        >>> import numpy as np
        >>> flatten(np.zeros((5, 28, 28), dtype=np.uint8)).shape
        (5, 784)
    """
    if images.ndim == 0:
        raise ValueError("flatten needs an array with a leading sample dimension, got a scalar")
    features = int(np.prod(images.shape[1:], dtype=np.int64))
    return images.reshape(images.shape[0], features)


def one_hot(labels: ArrayLike, num_classes: int) -> NDArray[np.float32]:
    """Encode integer labels ``(N,)`` as a float32 ``(N, num_classes)`` one-hot matrix.

    Labels must be integers in ``[0, num_classes)``; otherwise a ``ValueError`` names
    the first offending position and value. (Any label shape ``S`` gives ``S + (C,)``.)

    Example:
        >>> import numpy as np
        >>> one_hot(np.array([2, 0], dtype=np.uint8), 3)
        array([[0., 0., 1.],
               [1., 0., 0.]], dtype=float32)
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise TypeError(f"num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must have an integer dtype, got {labels.dtype}")
    flat = labels.reshape(-1)
    bad = (flat < 0) | (flat >= num_classes)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        position = np.unravel_index(first, labels.shape)
        raise ValueError(
            f"labels must be in [0, {num_classes}): {int(bad.sum())} out of range, first "
            f"labels[{', '.join(str(int(i)) for i in position)}] = {flat[first]}"
        )
    encoded = np.zeros((flat.size, num_classes), dtype=np.float32)
    encoded[np.arange(flat.size), flat] = 1.0
    return encoded.reshape(*labels.shape, num_classes)
