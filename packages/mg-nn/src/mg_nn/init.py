"""Parameter initialisers: numpy arrays drawn with PyTorch's formulas.

Every function takes a ``shape`` and returns a new array (float32 unless ``dtype`` says
otherwise). Random ones draw from ``generator``: a `numpy.random.Generator`, an int seed
(a fresh generator seeded with it) or None, the module's default generator, which
`manual_seed` re-seeds; so a run is reproducible bit for bit. To re-initialise a
parameter, assign the array: ``layer.weight.assign(init.xavier_uniform(layer.weight.shape))``.

>>> import mg_nn
>>> _ = mg_nn.manual_seed(0)
>>> a = xavier_uniform((3, 2))
>>> _ = mg_nn.manual_seed(0)
>>> bool((a == xavier_uniform((3, 2))).all()), a.dtype
(True, dtype('float32'))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from mg_tensor import random

GeneratorLike = np.random.Generator | int | None
ShapeLike = int | Sequence[int]


def manual_seed(seed: int) -> np.random.Generator:
    """Seed Macrograd (`mg_tensor.random.manual_seed`: random ops, dropout, and the
    default generator of initialisers given no ``generator``) and return that generator.

    >>> g = manual_seed(42)
    >>> g is default_generator()
    True
    """
    random.manual_seed(seed)
    return random.default_generator()


def default_generator() -> np.random.Generator:
    """The module's default generator (see `manual_seed`).

    >>> isinstance(default_generator(), np.random.Generator)
    True
    """
    return random.default_generator()


def as_generator(generator: GeneratorLike = None) -> np.random.Generator:
    """A Generator from a Generator (returned as is), an int seed or None (the default).

    >>> float(as_generator(3).random()) == float(np.random.default_rng(3).random())
    True
    """
    if generator is None:
        return random.default_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, int | np.integer) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(
        f"generator must be a numpy Generator, an int seed or None, not {type(generator).__name__}"
    )


def _shape(shape: ShapeLike) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(n) for n in shape)


def fan_in_and_fan_out(shape: ShapeLike) -> tuple[int, int]:
    """PyTorch's fans: ``(shape[1] * receptive, shape[0] * receptive)`` where receptive is
    the product of ``shape[2:]`` (a Linear weight is (out, in), a Conv2d weight
    (out, in, kh, kw)).

    >>> fan_in_and_fan_out((16, 3, 5, 5))
    (75, 400)
    """
    dims = _shape(shape)
    if len(dims) < 2:
        raise ValueError(f"fan in and fan out need at least 2 dimensions, got shape {dims}")
    receptive = math.prod(dims[2:])
    return dims[1] * receptive, dims[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``.

    >>> round(calculate_gain("relu"), 4)
    1.4142
    """
    linear = {"linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"}
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _fan(shape: ShapeLike, mode: str) -> int:
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode must be 'fan_in' or 'fan_out', not {mode!r}")


def uniform(
    shape: ShapeLike,
    a: float = 0.0,
    b: float = 1.0,
    *,
    generator: GeneratorLike = None,
    dtype: DTypeLike = np.float32,
) -> NDArray[Any]:
    """Values drawn from U(a, b).

    >>> w = uniform((2, 2), -1, 1, generator=0); bool((abs(w) <= 1).all())
    True
    """
    return as_generator(generator).uniform(a, b, _shape(shape)).astype(dtype)


def normal(
    shape: ShapeLike,
    mean: float = 0.0,
    std: float = 1.0,
    *,
    generator: GeneratorLike = None,
    dtype: DTypeLike = np.float32,
) -> NDArray[Any]:
    """Values drawn from N(mean, std**2).

    >>> normal(3, generator=0).shape
    (3,)
    """
    return as_generator(generator).normal(mean, std, _shape(shape)).astype(dtype)


def zeros(
    shape: ShapeLike, *, generator: GeneratorLike = None, dtype: DTypeLike = np.float32
) -> NDArray[Any]:
    """All zeros (``generator`` is accepted for a uniform signature and ignored).

    >>> zeros(2)
    array([0., 0.], dtype=float32)
    """
    return np.zeros(_shape(shape), dtype)


def ones(
    shape: ShapeLike, *, generator: GeneratorLike = None, dtype: DTypeLike = np.float32
) -> NDArray[Any]:
    """All ones (``generator`` is accepted for a uniform signature and ignored).

    >>> ones(2)
    array([1., 1.], dtype=float32)
    """
    return np.ones(_shape(shape), dtype)


def xavier_uniform(
    shape: ShapeLike,
    gain: float = 1.0,
    *,
    generator: GeneratorLike = None,
    dtype: DTypeLike = np.float32,
) -> NDArray[Any]:
    """Glorot uniform: U(-b, b) with ``b = gain * sqrt(6 / (fan_in + fan_out))``.

    >>> bool((abs(xavier_uniform((4, 2), generator=0)) <= 1).all())
    True
    """
    fan_in, fan_out = fan_in_and_fan_out(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, -bound, bound, generator=generator, dtype=dtype)


def xavier_normal(
    shape: ShapeLike,
    gain: float = 1.0,
    *,
    generator: GeneratorLike = None,
    dtype: DTypeLike = np.float32,
) -> NDArray[Any]:
    """Glorot normal: N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    >>> xavier_normal((4, 2), generator=0).shape
    (4, 2)
    """
    fan_in, fan_out = fan_in_and_fan_out(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return normal(shape, 0.0, std, generator=generator, dtype=dtype)


def kaiming_uniform(
    shape: ShapeLike,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    generator: GeneratorLike = None,
    dtype: DTypeLike = np.float32,
) -> NDArray[Any]:
    """He uniform: U(-b, b) with ``b = gain * sqrt(3 / fan)``; ``a`` is the leaky-ReLU slope.
    With ``a=sqrt(5)`` this is PyTorch's default Linear/Conv2d weight, U(+-1/sqrt(fan_in)).

    >>> w = kaiming_uniform((8, 4), a=5 ** 0.5, generator=0)
    >>> bool((abs(w) <= 0.5).all())
    True
    """
    gain = calculate_gain(nonlinearity, a)
    bound = gain * math.sqrt(3.0 / _fan(shape, mode))
    return uniform(shape, -bound, bound, generator=generator, dtype=dtype)


def kaiming_normal(
    shape: ShapeLike,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    generator: GeneratorLike = None,
    dtype: DTypeLike = np.float32,
) -> NDArray[Any]:
    """He normal: N(0, std**2) with ``std = gain / sqrt(fan)``.

    >>> kaiming_normal((8, 4), nonlinearity="relu", generator=0).shape
    (8, 4)
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    return normal(shape, 0.0, std, generator=generator, dtype=dtype)


def default_weight(
    shape: ShapeLike, *, generator: GeneratorLike = None, dtype: DTypeLike = np.float32
) -> NDArray[Any]:
    """PyTorch's default Linear/Conv2d weight: kaiming_uniform with ``a=sqrt(5)``, i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    >>> bool((abs(default_weight((3, 16), generator=0)) <= 0.25).all())
    True
    """
    return kaiming_uniform(shape, a=math.sqrt(5.0), generator=generator, dtype=dtype)


def default_bias(
    shape: ShapeLike,
    fan_in: int,
    *,
    generator: GeneratorLike = None,
    dtype: DTypeLike = np.float32,
) -> NDArray[Any]:
    """PyTorch's default Linear/Conv2d bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    >>> bool((abs(default_bias(3, 16, generator=0)) <= 0.25).all())
    True
    """
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform(shape, -bound, bound, generator=generator, dtype=dtype)


__all__ = [
    "GeneratorLike",
    "ShapeLike",
    "as_generator",
    "calculate_gain",
    "default_bias",
    "default_generator",
    "default_weight",
    "fan_in_and_fan_out",
    "kaiming_normal",
    "kaiming_uniform",
    "manual_seed",
    "normal",
    "ones",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]
