"""Activation functions and layers: PyTorch's formulas in numpy, float64 gradchecks (also
second order), stability at +-1000, and compiled = eager."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from nn_support import check_compiled, sigmoid

from mg_nn import ELU, GELU, F, Identity, LeakyReLU, SiLU, Softplus
from mg_tensor import Tensor, grad
from mg_tensor.testing import gradcheck

rng = np.random.default_rng(5)
X = np.concatenate([rng.standard_normal(20) * 3, [0.0, 1e-3, -1e-3, 25.0, -25.0]])
erf = np.vectorize(math.erf)


def softplus_reference(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    with np.errstate(over="ignore"):
        return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


CASES: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "gelu": (F.gelu, lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2)))),
    "gelu_tanh": (
        lambda x: F.gelu(x, approximate="tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    ),
    "silu": (F.silu, lambda x: x * sigmoid(x)),
    "leaky_relu": (F.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x)),
    "leaky_relu_0.2": (
        lambda x: F.leaky_relu(x, 0.2),
        lambda x: np.where(x > 0, x, 0.2 * x),
    ),
    "elu": (F.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
    "elu_alpha": (
        lambda x: F.elu(x, 0.5),
        lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0))),
    ),
    "softplus": (F.softplus, softplus_reference),
    "softplus_beta": (
        lambda x: F.softplus(x, beta=2.0, threshold=5.0),
        lambda x: softplus_reference(x, 2.0, 5.0),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_values_match_pytorchs_formulas(name: str) -> None:
    ours, reference = CASES[name]
    np.testing.assert_allclose(ours(Tensor(X)).data, reference(X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        ours(Tensor(X.astype(np.float32))).data, reference(X), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("name", CASES)
def test_gradients_first_and_second_order(name: str) -> None:
    ours, _ = CASES[name]
    x = X[np.abs(X) > 1e-2]  # away from kinks, where central differences are exact
    x = x[np.abs(x - 5.0 / 2.0) > 1e-2]  # softplus_beta switches at beta * x = 5
    assert gradcheck(ours, x)
    if name.startswith(("gelu", "silu", "softplus")):  # smooth: second order too
        assert gradcheck(lambda t: grad(ours(t).sum(), [t])[0], x)


@pytest.mark.parametrize("name", CASES)
def test_stable_at_plus_minus_1000(name: str) -> None:
    ours, reference = CASES[name]
    x = Tensor(np.array([-1000.0, 1000.0], np.float32), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # not even unused
        y = ours(x)
        (g,) = grad(y.sum(), [x])
        values, slopes = y.data, g.data
    np.testing.assert_allclose(values, reference(np.array([-1000.0, 1000.0])), atol=1e-6)
    assert np.isfinite(slopes).all()
    np.testing.assert_allclose(slopes[1], 1.0)


def test_kinks_take_pytorchs_one_sided_gradients() -> None:
    x = Tensor(np.zeros(1), requires_grad=True)
    (g,) = grad(F.leaky_relu(x, 0.1).sum(), [x])
    assert g.data[0] == pytest.approx(0.1)  # PyTorch: x > 0 is false at 0
    (g,) = grad(F.elu(x, 0.5).sum(), [x])
    assert g.data[0] == pytest.approx(0.5)  # PyTorch: alpha * exp(0)


@pytest.mark.parametrize("name", CASES)
def test_compiled_equals_eager(name: str) -> None:
    ours, _ = CASES[name]
    check_compiled(ours, [X.reshape(5, 5)])


@pytest.mark.parametrize(
    ("layer", "name"),
    [
        (GELU(), "gelu"),
        (GELU("tanh"), "gelu_tanh"),
        (SiLU(), "silu"),
        (LeakyReLU(), "leaky_relu"),
        (LeakyReLU(0.2, inplace=True), "leaky_relu_0.2"),
        (ELU(), "elu"),
        (ELU(alpha=0.5), "elu_alpha"),
        (Softplus(), "softplus"),
        (Softplus(beta=2.0, threshold=5.0), "softplus_beta"),
    ],
)
def test_layers_apply_their_function(layer: Any, name: str) -> None:
    np.testing.assert_allclose(layer(X).data, CASES[name][1](X), rtol=1e-12, atol=1e-15)
    assert layer.parameters() == []


def test_identity_and_repr() -> None:
    x = Tensor([1.0, 2.0])
    assert Identity()(x) is x
    assert Identity(3, some="thing")(x) is x
    assert repr(LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(ELU()) == "ELU(alpha=1.0)"


def test_bad_gelu_form_is_named() -> None:
    with pytest.raises(ValueError, match="approximate must be one of"):
        F.gelu(Tensor([1.0]), approximate="sigmoid")
    with pytest.raises(ValueError, match="approximate must be one of"):
        GELU("fast")
