"""Mini-batch iteration over aligned numpy arrays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over equally long arrays in mini-batches of the same rows.

    Each iteration (epoch) yields tuples ``(a[idx], b[idx], ...)`` of batches of
    ``batch_size`` rows (the last one smaller unless ``drop_last``). Without
    ``shuffle`` the rows come in order and batches are views (no copy). With
    ``shuffle`` each epoch draws a fresh order from a generator held by the loader,
    ``np.random.default_rng(seed)``: epoch 0 visits rows in exactly the order
    ``np.random.default_rng(seed).permutation(n)``, epoch 1 in the next permutation
    drawn from that same generator, and so on, so two loaders built with the same
    seed yield identical sequences. ``len(loader)`` is the number of batches.

    ``shard=(rank, world_size)`` makes the loader yield only rank ``rank``'s part of
    every epoch, for data-parallel training: every rank draws the same order (give
    all ranks the same ``seed``), drops its last ``num_samples % world_size`` rows
    (other rows each epoch when shuffled) and takes every ``world_size``-th row from
    position ``rank`` on. The shards are disjoint and equally long, so every rank runs
    the same number of steps with batches of the same sizes, and at each step the
    ranks' batches together are the batch of ``world_size * batch_size`` rows that an
    unsharded loader yields (as PyTorch's ``DistributedSampler(drop_last=True)``).

    Example:
        >>> import numpy as np
        >>> x, y = np.arange(10).reshape(5, 2), np.arange(5)
        >>> [b[1].tolist() for b in DataLoader(x, y, batch_size=2)]
        [[0, 1], [2, 3], [4]]
        >>> len(DataLoader(x, y, batch_size=2, drop_last=True))
        2
        >>> [b[1].tolist() for b in DataLoader(x, y, batch_size=2, shard=(1, 2))]
        [[1, 3]]
    """

    def __init__(
        self,
        *arrays: ArrayLike,
        batch_size: int | np.integer[Any] = 64,
        shuffle: bool = False,
        seed: int | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> None:
        if not arrays:
            raise ValueError("DataLoader needs at least one array")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.arrays: tuple[NDArray[Any], ...] = tuple(np.asarray(a) for a in arrays)
        shapes = [a.shape for a in self.arrays]
        if any(len(shape) == 0 for shape in shapes):
            raise ValueError(f"arrays must have at least one dimension, got shapes {shapes}")
        if len({shape[0] for shape in shapes}) != 1:
            raise ValueError(
                f"arrays must have the same first dimension (number of samples), "
                f"got shapes {shapes}"
            )
        if shard is not None and not (len(shard) == 2 and 0 <= shard[0] < shard[1]):
            raise ValueError(
                f"shard must be (rank, world_size) with 0 <= rank < world_size, got {shard}"
            )
        self.shard = shard
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self._rng = np.random.default_rng(seed)

    @property
    def num_samples(self) -> int:
        """Number of rows in each array."""
        return int(self.arrays[0].shape[0])

    @property
    def epoch_samples(self) -> int:
        """Rows this loader yields per epoch (its shard's rows when sharded)."""
        n = self.num_samples
        return n if self.shard is None else n // self.shard[1]

    def __len__(self) -> int:
        n, b = self.epoch_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[NDArray[Any], ...]]:
        order = self._rng.permutation(self.num_samples) if self.shuffle else None
        if self.shard is not None:
            rank, world = self.shard
            order = np.arange(self.num_samples) if order is None else order
            order = order[: self.epoch_samples * world][rank::world]
        self.epoch += 1
        return self._batches(order)

    def _batches(self, order: NDArray[np.int64] | None) -> Iterator[tuple[NDArray[Any], ...]]:
        b = self.batch_size
        for start in range(0, len(self) * b, b):
            if order is None:
                yield tuple(a[start : start + b] for a in self.arrays)
            else:
                idx = order[start : start + b]
                yield tuple(a[idx] for a in self.arrays)

    def state_dict(self) -> dict[str, Any]:
        """The loader's position: epochs started and its shuffling generator's state
        (plain Python values, JSON-serialisable). Taken between epochs, it lets a resumed
        loader draw exactly the batches an uninterrupted one would.

        Example:
            >>> import numpy as np
            >>> a = DataLoader(np.arange(6), batch_size=3, shuffle=True, seed=0)
            >>> _ = list(a)
            >>> b = DataLoader(np.arange(6), batch_size=3, shuffle=True, seed=1)
            >>> b.load_state_dict(a.state_dict())
            >>> [x.tolist() for (x,) in a] == [x.tolist() for (x,) in b]
            True
        """
        return {"epoch": self.epoch, "rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (see there)."""
        if set(state) != {"epoch", "rng"}:
            raise ValueError(
                f"DataLoader.load_state_dict: expected the keys ['epoch', 'rng'] of "
                f"DataLoader.state_dict(), got {sorted(state)}"
            )
        self._rng.bit_generator.state = state["rng"]
        self.epoch = int(state["epoch"])

    def __repr__(self) -> str:
        return (
            f"DataLoader(num_samples={self.num_samples}, arrays={len(self.arrays)}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, seed={self.seed}, "
            f"drop_last={self.drop_last}, shard={self.shard})"
        )
