"""Random numbers as graph nodes: fresh draws at every computation, eager and compiled.

A random node draws from its own *stream*, a Philox key ``(seed, n)`` where ``n``
counts the streams taken since `manual_seed`. A node takes its stream when a new
computation of it begins: when it is created in eager code, and at every call of a
compiled function (in the order the nodes were created). So draws depend on the seed
and on creation order, never on the order values are read: the same program gives the
same draws eager and under ``compute_graph``. Recomputing a node within one
computation (``realize()``) repeats its draw.

numpy randomness inside a compiled function is different: it runs once, while
tracing, and its values are frozen into the graph as constants.

>>> manual_seed(0)
>>> a = randn(3)
>>> manual_seed(0)
>>> bool((randn(3).data == a.data).all())
True
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import DTypeLike, NDArray

from mg_graph import Node
from mg_tensor.ops.base import Spec, TensorOp, is_float, shape_error
from mg_tensor.ops.core import apply
from mg_tensor.tensor import Tensor

Array = NDArray[Any]
_MASK = (1 << 64) - 1


class _Seed:
    """The process-wide seed, the stream counter and the initialisers' generator."""

    def __init__(self, seed: int | None) -> None:
        self.seed = int(np.random.SeedSequence(seed).entropy) & _MASK  # type: ignore[arg-type]
        self.streams = itertools.count()
        self.generator = np.random.default_rng(self.seed)


_state = _Seed(None)


class _Local(threading.local):
    def __init__(self) -> None:
        self.bits = np.random.Philox(0)
        self.rng = np.random.Generator(self.bits)


_local = _Local()


def manual_seed(seed: int) -> None:
    """Seed Macrograd's random ops and initialisers (as ``torch.manual_seed``).

    >>> manual_seed(1); x = rand(2).data; manual_seed(1); bool((rand(2).data == x).all())
    True
    """
    global _state
    _state = _Seed(int(seed) & _MASK)


def get_rng_state() -> dict[str, Any]:
    """Macrograd's random state (seed, streams taken, the initialisers' generator), as
    plain values: `set_rng_state` restores it, as ``torch.get_rng_state``.

    >>> state = get_rng_state(); a = randn(2).data
    >>> set_rng_state(state); bool((randn(2).data == a).all())
    True
    """
    taken = next(_state.streams)  # a count is read by taking its next value
    _state.streams = itertools.count(taken)
    return {
        "seed": _state.seed,
        "streams": taken,
        "generator": _state.generator.bit_generator.state,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state from `get_rng_state`."""
    global _state
    restored = _Seed(int(state["seed"]))
    restored.streams = itertools.count(int(state["streams"]))
    restored.generator.bit_generator.state = state["generator"]
    _state = restored


def default_generator() -> np.random.Generator:
    """The numpy Generator behind initialisers that are given no generator of their own
    (re-seeded by `manual_seed`).

    >>> isinstance(default_generator(), np.random.Generator)
    True
    """
    return _state.generator


def _generator(key: tuple[int, int]) -> np.random.Generator:
    """A Generator positioned at the start of stream ``key`` (state set, not built)."""
    _local.bits.state = {
        "bit_generator": "Philox",
        "state": {"counter": np.zeros(4, np.uint64), "key": np.array(key, np.uint64)},
        "buffer": np.zeros(4, np.uint64),
        "buffer_pos": 4,
        "has_uint32": 0,
        "uinteger": 0,
    }
    return _local.rng


class Stream:
    """The stream a random node draws from in its current computation."""

    __slots__ = ("key",)

    def __init__(self) -> None:
        self.key: tuple[int, int] | None = None

    def renew(self) -> None:
        self.key = (_state.seed, next(_state.streams))

    def generator(self) -> np.random.Generator:
        if self.key is None:
            self.renew()
        assert self.key is not None
        return _generator(self.key)


@dataclasses.dataclass(frozen=True, eq=False)
class Random(TensorOp):
    """Draws of one distribution: ``normal(a, b)``, ``uniform[a, b)``, ``integers[a, b)``
    or ``bernoulli`` (ones with probability ``a``; with an input, its values are the
    probabilities).

    >>> manual_seed(0); sorted(set(bernoulli(0.5, (50,)).data.tolist()))
    [0.0, 1.0]
    """

    dist: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    a: float = 0.0
    b: float = 1.0
    stream: Stream = dataclasses.field(default_factory=Stream, repr=False)
    name: ClassVar[str] = "random"
    pure: ClassVar[bool] = False
    differentiable: ClassVar[bool] = False

    def label(self) -> str:
        return f"{self.dist}{self.shape}"

    def renew(self) -> None:
        self.stream.renew()

    def infer(self, *inputs: Node) -> Spec:
        return (inputs[0].shape if inputs else self.shape), self.dtype

    def forward(self, *arrays: Array, out: Array | None = None) -> Array:
        rng = self.stream.generator()
        shape = arrays[0].shape if arrays else self.shape
        if self.dist == "normal":
            value: Array = rng.standard_normal(shape, dtype=_draw_dtype(self.dtype))
            if self.b != 1.0 or self.a != 0.0:
                value = value * self.b + self.a
        elif self.dist == "uniform":
            value = rng.random(shape, dtype=_draw_dtype(self.dtype))
            if self.b - self.a != 1.0 or self.a != 0.0:
                value = value * (self.b - self.a) + self.a
        elif self.dist == "integers":
            value = rng.integers(int(self.a), int(self.b), shape)
        else:  # bernoulli
            p = arrays[0] if arrays else self.a
            value = rng.random(shape) < p
        if out is None:
            return value.astype(self.dtype, copy=False)
        np.copyto(out, value, casting="unsafe")
        return out


def _draw_dtype(dtype: np.dtype[Any]) -> type[np.floating[Any]]:
    return np.float32 if dtype == np.float32 else np.float64


def _shape(size: Sequence[Any]) -> tuple[int, ...]:
    if len(size) == 1 and not isinstance(size[0], int | np.integer):
        return tuple(int(s) for s in size[0])
    return tuple(int(s) for s in size)


def _draw(dist: str, shape: tuple[int, ...], dtype: DTypeLike, a: float, b: float) -> Tensor:
    return apply(Random(dist, shape, np.dtype(dtype), float(a), float(b)))


def randn(*size: Any, dtype: DTypeLike = np.float32) -> Tensor:
    """Standard normal draws of shape ``size`` (``randn(2, 3)`` or ``randn((2, 3))``).

    >>> randn(2, 3).shape
    (2, 3)
    """
    return _draw("normal", _shape(size), dtype, 0.0, 1.0)


def rand(*size: Any, dtype: DTypeLike = np.float32) -> Tensor:
    """Uniform draws in [0, 1).

    >>> bool(((rand(4).data >= 0) & (rand(4).data < 1)).all())
    True
    """
    return _draw("uniform", _shape(size), dtype, 0.0, 1.0)


def randint(low: int, high: int, size: Sequence[int], dtype: DTypeLike = np.int64) -> Tensor:
    """Integers drawn uniformly from [low, high).

    >>> bool((randint(0, 3, (10,)).data < 3).all())
    True
    """
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    return _draw("integers", tuple(size), dtype, low, high)


def normal(
    mean: Any = 0.0,
    std: Any = 1.0,
    size: Sequence[int] | None = None,
    dtype: DTypeLike | None = None,
) -> Tensor:
    """Normal draws. With tensor ``mean``/``std`` it is ``mean + std * randn(shape)``,
    differentiable in both (the reparameterisation trick).

    >>> normal(2.0, 0.0, (3,)).data
    array([2., 2., 2.], dtype=float32)
    """
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        noise = _draw("normal", like.shape if size is None else tuple(size), like.dtype, 0, 1)
        result: Tensor = mean + std * noise
        return result
    if size is None:
        raise ValueError("normal: give size=... when mean and std are numbers")
    return _draw("normal", tuple(size), dtype or np.float32, mean, std)


def uniform(
    low: float = 0.0, high: float = 1.0, size: Sequence[int] = (), dtype: DTypeLike = np.float32
) -> Tensor:
    """Uniform draws in [low, high).

    >>> bool((uniform(2, 3, (5,)).data >= 2).all())
    True
    """
    return _draw("uniform", tuple(size), dtype, low, high)


def bernoulli(p: Any, size: Sequence[int] | None = None, dtype: DTypeLike | None = None) -> Tensor:
    """Ones with probability ``p`` (a number with ``size``, or a tensor of
    probabilities), zeros otherwise; no gradient flows through the draw.

    >>> bernoulli(1.0, (3,)).data
    array([1., 1., 1.], dtype=float32)
    """
    if isinstance(p, Tensor):
        if not is_float(p.dtype):
            raise shape_error("bernoulli", [p.node], "probabilities must be floats", "cast them")
        return apply(Random("bernoulli", p.shape, np.dtype(dtype or p.dtype)), p)
    if size is None:
        raise ValueError("bernoulli: give size=... when p is a number")
    return _draw("bernoulli", tuple(size), dtype or np.float32, float(p), 0.0)


def randn_like(t: Tensor) -> Tensor:
    """`randn` of ``t``'s shape and dtype.

    >>> randn_like(Tensor([[1.0, 2.0]])).shape
    (1, 2)
    """
    return randn(t.shape, dtype=t.dtype)


def rand_like(t: Tensor) -> Tensor:
    """`rand` of ``t``'s shape and dtype.

    >>> rand_like(Tensor([1.0])).dtype
    dtype('float32')
    """
    return rand(t.shape, dtype=t.dtype)


def randint_like(t: Tensor, low: int, high: int) -> Tensor:
    """`randint` of ``t``'s shape (and dtype).

    >>> randint_like(Tensor([1, 2]), 0, 5).dtype
    dtype('float32')
    """
    return randint(low, high, t.shape, dtype=t.dtype)


def normal_like(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """`normal` of ``t``'s shape and dtype.

    >>> normal_like(Tensor([1.0]), 5.0, 0.0).data
    array([5.], dtype=float32)
    """
    return normal(mean, std, t.shape, t.dtype)


def uniform_like(t: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    """`uniform` of ``t``'s shape and dtype.

    >>> uniform_like(Tensor([1.0, 2.0]), 3, 4).shape
    (2,)
    """
    return uniform(low, high, t.shape, t.dtype)


def bernoulli_like(t: Tensor, p: float) -> Tensor:
    """`bernoulli` of ``t``'s shape and dtype.

    >>> bernoulli_like(Tensor([1.0, 2.0]), 0.0).data
    array([0., 0.], dtype=float32)
    """
    return bernoulli(p, t.shape, t.dtype)
