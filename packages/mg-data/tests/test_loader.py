"""DataLoader: batching, len, drop_last, shuffling and its reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mg_data import DataLoader


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n * 2).reshape(n, 2), np.arange(n)


def test_batches_in_order_as_views() -> None:
    x, y = _data(10)
    loader = DataLoader(x, y, batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(batches[2][0], x[8:])
    assert all(np.shares_memory(b[0], x) and np.shares_memory(b[1], y) for b in batches)


def test_drop_last() -> None:
    x, y = _data(10)
    loader = DataLoader(x, y, batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [b[1].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(x, batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(x, batch_size=11, drop_last=True)) == 0
    assert list(DataLoader(x, batch_size=11, drop_last=True)) == []


def test_batch_larger_than_data_and_empty_data() -> None:
    x, y = _data(3)
    [(_, yb)] = list(DataLoader(x, y, batch_size=64))
    assert yb.tolist() == [0, 1, 2]
    empty = DataLoader(np.zeros((0, 5)), batch_size=4, shuffle=True, seed=1)
    assert len(empty) == 0 and list(empty) == []


def test_single_array_and_lists() -> None:
    assert [b for (b,) in DataLoader([1, 2, 3], batch_size=2)][1].tolist() == [3]
    assert DataLoader(np.arange(5)).num_samples == 5


def test_default_batch_size() -> None:
    assert len(DataLoader(np.arange(129))) == 3


def test_mismatched_lengths_names_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[\(10, 2\), \(9,\)\]"):
        DataLoader(np.zeros((10, 2)), np.zeros(9))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one array"):
        DataLoader()
    with pytest.raises(ValueError, match="at least one dimension"):
        DataLoader(np.float32(1.0))
    for bad in (0, -3):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(np.arange(4), batch_size=bad)
    for wrong in (2.5, True, "4"):
        with pytest.raises(TypeError, match="batch_size"):
            DataLoader(np.arange(4), batch_size=wrong)  # type: ignore[arg-type]
    assert DataLoader(np.arange(4), batch_size=np.int64(2)).batch_size == 2


def _epoch(loader: DataLoader) -> np.ndarray:
    return np.concatenate([b[-1] for b in loader])


def test_first_epoch_matches_default_rng_permutation() -> None:
    x, y = _data(37)
    loader = DataLoader(x, y, batch_size=8, shuffle=True, seed=123)
    rng = np.random.default_rng(123)
    np.testing.assert_array_equal(_epoch(loader), rng.permutation(37))
    np.testing.assert_array_equal(_epoch(loader), rng.permutation(37))  # epoch 1: next draw
    assert loader.epoch == 2


def test_rows_stay_aligned_when_shuffled() -> None:
    x, y = _data(50)
    for xb, yb in DataLoader(x, y, batch_size=7, shuffle=True, seed=5):
        np.testing.assert_array_equal(xb, x[yb])


def test_same_seed_same_sequence_and_reshuffles() -> None:
    x, y = _data(40)
    a = DataLoader(x, y, batch_size=16, shuffle=True, seed=7)
    b = DataLoader(x, y, batch_size=16, shuffle=True, seed=7)
    epochs_a = [_epoch(a) for _ in range(3)]
    epochs_b = [_epoch(b) for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b, strict=True):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    other = DataLoader(x, y, batch_size=16, shuffle=True, seed=8)
    assert not np.array_equal(_epoch(other), epochs_a[0])


def test_abandoned_iterator_still_advances_epoch() -> None:
    x, y = _data(20)
    loader = DataLoader(x, y, batch_size=5, shuffle=True, seed=0)
    next(iter(loader))
    rng = np.random.default_rng(0)
    rng.permutation(20)
    np.testing.assert_array_equal(_epoch(loader), rng.permutation(20))


def test_shuffle_without_seed_is_a_permutation() -> None:
    assert sorted(_epoch(DataLoader(np.arange(30), batch_size=4, shuffle=True))) == list(range(30))


def test_repr() -> None:
    assert "batch_size=4" in repr(DataLoader(np.arange(3), batch_size=4))


@settings(max_examples=200, deadline=None, database=None)
@given(
    n=st.integers(0, 300),
    batch_size=st.integers(1, 80),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_index_once_per_epoch(
    n: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int
) -> None:
    x = np.arange(n)
    loader = DataLoader(
        x, x * 10, batch_size=batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last
    )
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        sizes = [len(b[0]) for b in batches]
        assert all(size == batch_size for size in sizes[:-1])
        assert all(0 < size <= batch_size for size in sizes)
        seen = np.concatenate([b[0] for b in batches]) if batches else np.array([], dtype=int)
        for xb, yb in batches:
            np.testing.assert_array_equal(yb, xb * 10)
        assert len(np.unique(seen)) == len(seen)
        if drop_last:
            assert len(seen) == (n // batch_size) * batch_size
        else:
            assert sorted(seen.tolist()) == list(range(n))


def test_state_dict_between_epochs_resumes_the_same_batches() -> None:
    import json

    x, y = _data(10)
    straight = DataLoader(x, y, batch_size=3, shuffle=True, seed=5)
    first = [b[1].tolist() for b in straight]
    rest = [[b[1].tolist() for b in straight] for _ in range(2)]

    interrupted = DataLoader(x, y, batch_size=3, shuffle=True, seed=5)
    assert [b[1].tolist() for b in interrupted] == first
    state = json.loads(json.dumps(interrupted.state_dict()))  # as a checkpoint stores it
    resumed = DataLoader(x, y, batch_size=3, shuffle=True, seed=99)
    resumed.load_state_dict(state)
    assert resumed.epoch == 1
    assert [[b[1].tolist() for b in resumed] for _ in range(2)] == rest
    with pytest.raises(ValueError, match="state_dict"):
        resumed.load_state_dict({"epoch": 1})
