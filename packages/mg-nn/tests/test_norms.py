"""GroupNorm, RMSNorm (and LayerNorm, which shares their code): PyTorch's formulas in
numpy, float64 gradchecks through input and parameters, compiled = eager."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from nn_support import check_compiled

from mg_nn import F, GroupNorm, LayerNorm, RMSNorm
from mg_tensor import Tensor
from mg_tensor.testing import gradcheck

rng = np.random.default_rng(3)


def group_norm_reference(x: Any, groups: int, w: Any, b: Any, eps: float) -> Any:
    n, c = x.shape[:2]
    g = x.reshape(n, groups, -1)
    y = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)
    shape = (c,) + (1,) * (x.ndim - 2)
    return y.reshape(x.shape) * w.reshape(shape) + b.reshape(shape)


def rms_norm_reference(x: Any, k: int, w: Any, eps: float) -> Any:
    axes = tuple(range(x.ndim - k, x.ndim))
    return x / np.sqrt((x * x).mean(axes, keepdims=True) + eps) * w


@pytest.mark.parametrize("shape", [(2, 6), (2, 6, 5), (3, 6, 2, 3)])
@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_group_norm(shape: tuple[int, ...], groups: int) -> None:
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    expected = group_norm_reference(x, groups, w, b, 1e-5)
    np.testing.assert_allclose(F.group_norm(Tensor(x), groups, w, b).data, expected, rtol=1e-10)
    small = x[:2, :, :2] if x.ndim > 2 else x
    assert gradcheck(lambda t, w, b: F.group_norm(t, groups, w, b), small, w, b)
    layer = GroupNorm(groups, 6, dtype=np.float64)
    layer.weight.assign(w)  # type: ignore[union-attr]
    layer.bias.assign(b)  # type: ignore[union-attr]
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-10)
    check_compiled(layer, [x], layer.parameters())


@pytest.mark.parametrize("normalized", [4, (3, 4)])
@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm(normalized: Any, eps: float | None) -> None:
    x = rng.standard_normal((2, 3, 4))
    k = 1 if isinstance(normalized, int) else 2
    w = rng.standard_normal(x.shape[-k:])
    expected = rms_norm_reference(x, k, w, np.finfo(np.float64).eps if eps is None else eps)
    np.testing.assert_allclose(F.rms_norm(Tensor(x), normalized, w, eps).data, expected)
    assert gradcheck(lambda t, w: F.rms_norm(t, normalized, w, eps), x, w)
    layer = RMSNorm(normalized, eps, dtype=np.float64)
    layer.weight.assign(w)  # type: ignore[union-attr]
    np.testing.assert_allclose(layer(x).data, expected)
    check_compiled(layer, [x], layer.parameters())
    assert list(layer.state_dict()) == ["weight"]


def test_rms_norm_default_eps_follows_the_dtype() -> None:
    x = np.full((1, 2), 1e-4, np.float32)
    eps32 = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(RMSNorm(2)(x).data, x / np.sqrt(1e-8 + eps32), rtol=1e-5)


def test_layer_norm_still_matches_after_sharing_code() -> None:
    x = rng.standard_normal((2, 3, 4))
    layer = LayerNorm((3, 4), dtype=np.float64)
    mean = x.mean((1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-10)
    assert list(layer.state_dict()) == ["weight", "bias"]


def test_errors_and_options() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        GroupNorm(4, 6)
    with pytest.raises(ValueError, match="divisible by num_groups=4"):
        F.group_norm(Tensor(np.zeros((2, 6))), 4)
    with pytest.raises(ValueError, match="does not end in normalized_shape"):
        F.rms_norm(Tensor(np.zeros((2, 3))), 4)
    assert GroupNorm(2, 4, affine=False).parameters() == []
    assert RMSNorm(3, elementwise_affine=False).parameters() == []
    assert repr(RMSNorm(3)) == "RMSNorm((3,), eps=None, elementwise_affine=True)"
