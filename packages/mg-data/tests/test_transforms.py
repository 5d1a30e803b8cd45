"""scale, normalize, flatten and one_hot."""

from __future__ import annotations

import numpy as np
import pytest

from mg_data import flatten, normalize, one_hot, scale


def test_scale_values_and_dtype() -> None:
    images = np.array([[0, 128, 255]], dtype=np.uint8)
    out = scale(images)
    assert out.dtype == np.float32 and out.shape == (1, 3)
    np.testing.assert_array_equal(out, np.array([[0, 128, 255]], dtype=np.float32) / 255)
    assert out.min() == 0.0 and out.max() == 1.0


def test_scale_into_out_buffer() -> None:
    images = np.arange(12, dtype=np.uint8).reshape(3, 4)
    buf = np.empty((3, 4), dtype=np.float32)
    assert scale(images, out=buf) is buf
    np.testing.assert_allclose(buf, images / 255, rtol=1e-6)


def test_normalize_dtypes() -> None:
    x32 = np.array([0.0, 0.5, 1.0], dtype=np.float32)
    out = normalize(x32, 0.5, 0.25)
    assert out.dtype == np.float32 and out.tolist() == [-2.0, 0.0, 2.0]
    assert x32.tolist() == [0.0, 0.5, 1.0]  # input untouched
    assert normalize(np.array([1.0, 3.0]), 1.0, 2.0).dtype == np.float64
    ints = normalize(np.array([0, 255], dtype=np.uint8), 127.5, 127.5)
    assert ints.dtype == np.float32 and ints.tolist() == [-1.0, 1.0]


def test_normalize_in_place_and_broadcast() -> None:
    x = np.ones((2, 3), dtype=np.float32)
    assert normalize(x, np.array([1.0, 0.0, 2.0]), np.array([1.0, 2.0, 0.5]), out=x) is x
    np.testing.assert_array_equal(x, [[0.0, 0.5, -2.0]] * 2)
    assert x.dtype == np.float32


def test_normalize_zero_std() -> None:
    with pytest.raises(ValueError, match="std"):
        normalize(np.ones(3), 0.0, np.array([1.0, 0.0, 1.0]))


def test_flatten() -> None:
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    flat = flatten(images)
    assert flat.shape == (5, 784) and flat.dtype == np.uint8 and np.shares_memory(flat, images)
    assert flatten(np.zeros((0, 28, 28))).shape == (0, 784)
    assert flatten(np.arange(3)).shape == (3, 1)
    assert flatten(np.zeros((2, 3, 4, 5))).shape == (2, 60)
    np.testing.assert_array_equal(flatten(np.arange(8).reshape(2, 2, 2))[1], [4, 5, 6, 7])
    with pytest.raises(ValueError, match="scalar"):
        flatten(np.array(3))


def test_one_hot() -> None:
    out = one_hot(np.array([3, 0, 9], dtype=np.uint8), 10)
    assert out.dtype == np.float32 and out.shape == (3, 10)
    np.testing.assert_array_equal(out.argmax(axis=1), [3, 0, 9])
    np.testing.assert_array_equal(out.sum(axis=1), [1, 1, 1])
    assert one_hot([1, 0], 2).tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert one_hot(np.array([[0, 1], [2, 0]]), 3).shape == (2, 2, 3)
    assert one_hot(np.array([], dtype=np.int64), 4).shape == (0, 4)


def test_one_hot_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"\[0, 10\): 2 out of range, first labels\[1\] = 10"):
        one_hot(np.array([1, 10, 2, 11]), 10)
    with pytest.raises(ValueError, match=r"labels\[0\] = -1"):
        one_hot(np.array([-1, 2]), 10)
    with pytest.raises(ValueError, match=r"labels\[1, 0\] = 5"):
        one_hot(np.array([[0, 1], [5, 1]]), 3)


def test_one_hot_bad_arguments() -> None:
    with pytest.raises(TypeError, match="integer dtype"):
        one_hot(np.array([1.0, 2.0]), 3)
    with pytest.raises(ValueError, match="num_classes"):
        one_hot(np.array([0]), 0)
    with pytest.raises(TypeError, match="num_classes"):
        one_hot(np.array([0]), 2.0)  # type: ignore[arg-type]
