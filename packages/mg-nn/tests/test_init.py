"""Initialisers: PyTorch's formulas, bounds, statistics and bit-for-bit reproducibility."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import mg_nn
from mg_nn import Conv2d, Embedding, Linear, init

RANDOM: list[Callable[..., Any]] = [
    init.uniform,
    init.normal,
    init.xavier_uniform,
    init.xavier_normal,
    init.kaiming_uniform,
    init.kaiming_normal,
    init.default_weight,
]


@pytest.mark.parametrize("fn", RANDOM)
def test_seeded_draws_are_reproducible(fn: Callable[..., Any]) -> None:
    mg_nn.manual_seed(11)
    a = fn((6, 5))
    mg_nn.manual_seed(11)
    b = fn((6, 5))
    assert a.tobytes() == b.tobytes()
    assert a.dtype == np.float32 and a.shape == (6, 5)
    assert fn((6, 5), generator=3).tobytes() == fn((6, 5), generator=3).tobytes()
    g1, g2 = np.random.default_rng(4), np.random.default_rng(4)
    assert fn((6, 5), generator=g1).tobytes() == fn((6, 5), generator=g2).tobytes()
    assert fn((6, 5), generator=g1).tobytes() != fn((6, 5), generator=g1).tobytes()
    assert fn((6, 5), dtype=np.float64, generator=0).dtype == np.float64


def test_generator_argument_validation() -> None:
    with pytest.raises(TypeError, match="generator"):
        init.uniform(3, generator="seed")  # type: ignore[arg-type]
    assert init.as_generator(None) is init.default_generator()
    g = np.random.default_rng(0)
    assert init.as_generator(g) is g


def test_fans_and_gains_follow_pytorch() -> None:
    assert init.fan_in_and_fan_out((4, 3)) == (3, 4)
    assert init.fan_in_and_fan_out((8, 3, 5, 5)) == (75, 200)
    with pytest.raises(ValueError, match="2 dimensions"):
        init.fan_in_and_fan_out((4,))
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform((3, 3), mode="fan_avg")


def test_uniform_bounds() -> None:
    shape = (200, 300)
    fan_in, fan_out = 300, 200
    cases = {
        "xavier_uniform": (init.xavier_uniform(shape, generator=0), math.sqrt(6 / 500)),
        "kaiming_uniform": (
            init.kaiming_uniform(shape, nonlinearity="relu", generator=0),
            math.sqrt(2) * math.sqrt(3 / fan_in),
        ),
        "kaiming_uniform_fan_out": (
            init.kaiming_uniform(shape, mode="fan_out", nonlinearity="relu", generator=0),
            math.sqrt(2) * math.sqrt(3 / fan_out),
        ),
        "default_weight": (init.default_weight(shape, generator=0), 1 / math.sqrt(fan_in)),
        "default_bias": (init.default_bias(60_000, fan_in, generator=0), 1 / math.sqrt(fan_in)),
        "uniform": (init.uniform(shape, -0.5, 0.5, generator=0), 0.5),
    }
    for name, (values, bound) in cases.items():
        assert np.abs(values).max() <= np.float32(bound), name
        assert np.abs(values).max() > 0.98 * bound, name  # the whole range is used
        assert abs(values.mean()) < 5 * bound / math.sqrt(3 * values.size), name
        assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.03), name


def test_normal_statistics() -> None:
    shape = (400, 250)
    cases = {
        "normal": (init.normal(shape, 1.5, 0.5, generator=0), 1.5, 0.5),
        "xavier_normal": (
            init.xavier_normal(shape, gain=2.0, generator=0),
            0,
            2 * math.sqrt(2 / 650),
        ),
        "kaiming_normal": (
            init.kaiming_normal(shape, nonlinearity="relu", generator=0),
            0,
            math.sqrt(2 / 250),
        ),
    }
    for name, (values, mean, std) in cases.items():
        assert values.mean() == pytest.approx(mean, abs=0.01 * std + 1e-3), name
        assert values.std() == pytest.approx(std, rel=0.02), name


def test_constant_initialisers() -> None:
    np.testing.assert_array_equal(init.zeros((2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(init.ones(4, dtype=np.float64), np.ones(4))
    assert init.zeros(3).dtype == np.float32


def test_layers_use_pytorch_defaults_and_are_reproducible() -> None:
    mg_nn.manual_seed(0)
    a = Linear(50, 20)
    mg_nn.manual_seed(0)
    b = Linear(50, 20)
    assert a.weight.data.tobytes() == b.weight.data.tobytes()
    assert a.bias.data.tobytes() == b.bias.data.tobytes()  # type: ignore[union-attr]
    assert Linear(50, 20, generator=1).weight.data.tobytes() != a.weight.data.tobytes()
    # weight then bias, drawn from one stream, as in PyTorch
    rng = np.random.default_rng(9)
    expected_w = init.default_weight((20, 50), generator=rng)
    expected_b = init.default_bias(20, 50, generator=rng)
    c = Linear(50, 20, generator=9)
    assert c.weight.data.tobytes() == expected_w.tobytes()
    assert c.bias.data.tobytes() == expected_b.tobytes()  # type: ignore[union-attr]
    conv = Conv2d(4, 6, 3, generator=2)
    bound = 1 / math.sqrt(4 * 9)
    assert np.abs(conv.weight.data).max() <= bound
    assert np.abs(conv.bias.data).max() <= bound  # type: ignore[union-attr]
    table = Embedding(1000, 50, generator=0).weight.data
    assert table.std() == pytest.approx(1.0, rel=0.02)
    assert a.weight.dtype == np.float32
