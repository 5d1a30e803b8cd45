"""DataLoader(shard=(rank, world_size)): disjoint, equally long shards whose batches
together are an unsharded loader's batches of world_size times the size."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mg_data import DataLoader


def _epochs(loader: DataLoader, k: int) -> list[list[list[int]]]:
    return [[b[0].tolist() for b in loader] for _ in range(k)]


@given(
    n=st.integers(1, 60),
    batch=st.integers(1, 9),
    world=st.integers(1, 4),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
)
def test_shards_together_are_the_unsharded_batches(
    n: int, batch: int, world: int, shuffle: bool, drop_last: bool
) -> None:
    x = np.arange(n)
    shards = [
        _epochs(
            DataLoader(
                x, batch_size=batch, shuffle=shuffle, seed=3, shard=(r, world), drop_last=drop_last
            ),
            2,
        )
        for r in range(world)
    ]
    kept = n // world * world  # the remainder is dropped
    for epoch in range(2):
        steps = {len(shard[epoch]) for shard in shards}
        assert len(steps) == 1  # every rank runs the same number of steps
        seen = [i for shard in shards for b in shard[epoch] for i in b]
        assert len(seen) == len(set(seen))  # disjoint
        if not drop_last:
            assert len(seen) == kept
        for step in range(steps.pop()):
            sizes = {len(shard[epoch][step]) for shard in shards}
            assert len(sizes) == 1  # equal batch sizes at every step
    # at each step the ranks' batches make up the unsharded loader's bigger batch
    # (less the dropped remainder)
    whole = DataLoader(x, batch_size=batch * world, shuffle=shuffle, seed=3)
    order = np.random.default_rng(3).permutation(n) if shuffle else np.arange(n)
    kept_rows = set(order[:kept].tolist())
    for step, (big,) in enumerate(whole):
        if step >= len(shards[0][0]):
            break
        union = sorted(i for shard in shards for i in shard[0][step])
        assert union == sorted(set(big.tolist()) & kept_rows)


def test_interleaved_shards_of_the_same_shuffled_order() -> None:
    x = np.arange(10)
    order = np.random.default_rng(7).permutation(10)
    r0 = [b[0].tolist() for b in DataLoader(x, batch_size=2, shuffle=True, seed=7, shard=(0, 3))]
    r2 = [b[0].tolist() for b in DataLoader(x, batch_size=2, shuffle=True, seed=7, shard=(2, 3))]
    assert np.concatenate(r0).tolist() == order[:9][0::3].tolist()
    assert np.concatenate(r2).tolist() == order[:9][2::3].tolist()
    loader = DataLoader(x, batch_size=2, shard=(0, 3))
    assert (len(loader), loader.epoch_samples, loader.num_samples) == (2, 3, 10)


@pytest.mark.parametrize("shard", [(2, 2), (-1, 2), (0, 0), (1,)])
def test_invalid_shards(shard: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="shard must be"):
        DataLoader(np.arange(4), shard=shard)  # type: ignore[arg-type]
