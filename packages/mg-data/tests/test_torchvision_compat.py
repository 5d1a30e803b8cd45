"""from_torchvision: fake datasets always; real torchvision only where installed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mg_data import from_torchvision

TV_REASON = "torchvision is not installed (optional extra: mg-data[torchvision])"


class DataTargets:
    """Mimics torchvision.datasets.MNIST's raw attributes (numpy instead of tensors)."""

    def __init__(self, n: int = 5) -> None:
        self.data = np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2)
        self.targets = np.arange(n) % 3

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        return self.data[i].astype(np.float32) / 255, int(self.targets[i]) + 100


class FakeTensor:
    """Duck-types the bits of torch.Tensor that from_torchvision relies on."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def detach(self) -> FakeTensor:
        return self

    def cpu(self) -> FakeTensor:
        return self

    def numpy(self) -> np.ndarray:
        return self.array

    def __len__(self) -> int:
        return len(self.array)


def test_uses_data_and_targets() -> None:
    ds = DataTargets()
    x, y = from_torchvision(ds)
    np.testing.assert_array_equal(x, ds.data)
    np.testing.assert_array_equal(y, ds.targets)
    assert x.dtype == np.uint8


def test_raw_false_iterates_items() -> None:
    ds = DataTargets(4)
    x, y = from_torchvision(ds, raw=False)
    assert x.dtype == np.float32 and x.shape == (4, 2, 2)
    assert y.tolist() == [100, 101, 102, 100]


def test_labels_attribute_and_list_targets() -> None:
    class Svhnish:
        data = np.zeros((3, 3, 8, 8), dtype=np.uint8)
        labels = (1, 2, 3)

    x, y = from_torchvision(Svhnish())
    assert x.shape == (3, 3, 8, 8) and y.tolist() == [1, 2, 3]


def test_tensor_like_attributes() -> None:
    class Tensors:
        data = FakeTensor(np.ones((2, 3, 3), dtype=np.uint8))
        targets = FakeTensor(np.array([4, 2], dtype=np.int64))

    x, y = from_torchvision(Tensors())
    assert isinstance(x, np.ndarray) and x.shape == (2, 3, 3)
    assert y.dtype == np.int64 and y.tolist() == [4, 2]


def test_length_mismatch() -> None:
    class Broken:
        data = np.zeros((3, 2))
        targets = np.zeros(2)

    with pytest.raises(ValueError, match=r"3 samples.*has 2"):
        from_torchvision(Broken())


def test_map_style_without_attributes() -> None:
    class MapStyle:
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            return FakeTensor(np.full((1, 2, 2), i, dtype=np.float32)), i % 2

    x, y = from_torchvision(MapStyle())
    assert x.shape == (3, 1, 2, 2) and x[2, 0, 0, 0] == 2
    assert y.tolist() == [0, 1, 0]


def test_empty_dataset() -> None:
    class Empty:
        def __len__(self) -> int:
            return 0

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            raise IndexError(i)

    x, y = from_torchvision(Empty())
    assert len(x) == 0 and len(y) == 0


def test_real_torchvision_fake_data_pil() -> None:
    datasets = pytest.importorskip("torchvision.datasets", reason=TV_REASON)
    ds = datasets.FakeData(size=6, image_size=(1, 8, 8), num_classes=3)
    x, y = from_torchvision(ds)
    assert x.shape == (6, 8, 8) and x.dtype == np.uint8
    assert y.shape == (6,) and set(y.tolist()) <= {0, 1, 2}


def test_real_torchvision_fake_data_tensors() -> None:
    tv = pytest.importorskip("torchvision", reason=TV_REASON)
    torch = pytest.importorskip("torch", reason=TV_REASON)
    datasets, transforms = tv.datasets, tv.transforms

    ds = datasets.FakeData(size=4, image_size=(1, 8, 8), transform=transforms.ToTensor())
    x, _ = from_torchvision(ds)
    assert x.shape == (4, 1, 8, 8) and x.dtype == np.float32

    class TensorMnist:
        data = torch.zeros((3, 28, 28), dtype=torch.uint8)
        targets = torch.tensor([1, 2, 3])

    x, y = from_torchvision(TensorMnist())
    assert x.shape == (3, 28, 28) and y.dtype == np.int64
