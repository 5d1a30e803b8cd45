"""F.pad, F.one_hot and F.normalize against numpy, with float64 gradchecks and
compiled = eager."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from nn_support import check_compiled

from mg_graph import ShapeError
from mg_nn import F
from mg_tensor import Tensor, grad
from mg_tensor.testing import gradcheck

rng = np.random.default_rng(11)
NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def numpy_pad(x: Any, pad: tuple[int, ...], mode: str, value: float = 0.0) -> Any:
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    if mode == "constant":
        return np.pad(x, widths, constant_values=value)
    return np.pad(x, widths, mode=NUMPY_MODES[mode])  # type: ignore[call-overload]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(1, 2), (2, 0, 1, 3), (0, 1, 2, 1, 1, 0)])
def test_pad_matches_numpy(mode: str, pad: tuple[int, ...]) -> None:
    x = rng.standard_normal((2, 3, 4, 5))
    expected = numpy_pad(x, pad, mode, 0.5)
    out = F.pad(Tensor(x), pad, mode=mode, value=0.5 if mode == "constant" else None)
    np.testing.assert_array_equal(out.data, expected)
    assert gradcheck(lambda t: F.pad(t, pad, mode=mode), x[:1, :2])
    check_compiled(lambda t: F.pad(t, pad, mode=mode), [x])


def test_constant_pad_crops_with_negative_widths() -> None:
    x = np.arange(20.0).reshape(4, 5)
    np.testing.assert_array_equal(F.pad(Tensor(x), (-1, 2, 1, -2)).data[1:, :4], x[:2, 1:])
    assert F.pad(Tensor(x), (-1, 2, 1, -2)).shape == (3, 6)


def test_pad_errors_name_the_problem() -> None:
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="even length"):
        F.pad(x, (1,))
    with pytest.raises(ValueError, match="reflect padding"):
        F.pad(x, (3, 0), mode="reflect")  # at most length - 1
    with pytest.raises(ValueError, match="mode must be one of"):
        F.pad(x, (1, 1), mode="mirror")


def test_one_hot() -> None:
    labels = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(F.one_hot(labels).data, np.eye(4, dtype=np.int64)[labels])
    assert F.one_hot(labels, 6).shape == (2, 2, 6) and F.one_hot(labels).dtype == np.int64
    check_compiled(lambda t: F.one_hot(t, 5), [labels])
    with pytest.raises(ValueError, match="class values must be in"):
        F.one_hot(labels, 3)
    with pytest.raises(TypeError, match="integer class indices"):
        F.one_hot(np.array([0.5]))
    with pytest.raises(ValueError, match="pass num_classes"):
        F.one_hot(Tensor(labels) + 0)  # computed by the graph: values unknown now


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5, float("inf")])
@pytest.mark.parametrize("dim", [1, -1, 0])
def test_normalize_matches_formula(p: float, dim: int) -> None:
    x = rng.standard_normal((3, 4, 2))
    norm = np.linalg.norm(np.moveaxis(x, dim, -1), ord=p, axis=-1)[..., None]
    expected = x / np.moveaxis(np.maximum(norm, 1e-12), -1, dim)
    np.testing.assert_allclose(F.normalize(Tensor(x), p, dim).data, expected, rtol=1e-12)
    assert gradcheck(lambda t: F.normalize(t, p, dim), x)
    check_compiled(lambda t: F.normalize(t, p, dim), [x])


def test_normalize_of_zero_has_a_finite_gradient() -> None:
    x = Tensor(np.zeros((2, 3)), requires_grad=True)
    y = F.normalize(x)
    np.testing.assert_array_equal(y.data, 0.0)
    (g,) = grad(y.sum(), [x])
    assert np.isfinite(g.data).all()


def test_normalize_rejects_bad_p_and_axes() -> None:
    with pytest.raises(ValueError, match="p must be positive"):
        F.normalize(Tensor(np.ones((2, 2))), p=0.0)
    with pytest.raises(ShapeError):
        F.normalize(Tensor(np.ones(2)), dim=3)
