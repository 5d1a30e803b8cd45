"""The losses of issue 13 against PyTorch's documented formulas written out in numpy:
class-index targets over (N, C, d1, ...), ignore_index, label smoothing, class weights,
every reduction; float64 gradchecks; stability at logits of +-1000; compiled = eager."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from nn_support import check_compiled, sigmoid

from mg_graph import DTypeError, ShapeError
from mg_nn import F
from mg_tensor import Tensor, grad
from mg_tensor.testing import gradcheck

rng = np.random.default_rng(31)
REDUCTIONS = ["mean", "sum", "none"]


def log_softmax(x: Any, axis: int = 1) -> Any:
    top = x.max(axis=axis, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(axis=axis, keepdims=True))


def reduce(loss: Any, reduction: str) -> Any:
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


def class_weights(weight: Any, x: Any) -> Any:
    """Per-class weights broadcast along axis 1 of x (ones when None)."""
    w = np.ones(x.shape[1]) if weight is None else weight
    return w.reshape((1, -1) + (1,) * (x.ndim - 2))


def cross_entropy_reference(
    x: Any,
    t: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Any:
    """PyTorch's documented cross-entropy, batched input (N, C, d1, ...)."""
    logp, c, eps = log_softmax(x), x.shape[1], label_smoothing
    w = class_weights(weight, x)
    if t.dtype.kind == "f":  # probabilities: -sum_c w_c q_c log p_c, mean over positions
        q = t * (1 - eps) + eps / c
        return reduce(-(logp * q * w).sum(1), reduction)
    kept = t != ignore_index
    safe = np.where(kept, t, 0)
    wt = w.reshape(-1)[safe] * kept
    nll = -np.take_along_axis(logp, safe[:, None], 1)[:, 0] * wt
    smooth = -(logp * w).sum(1) * kept
    loss = (1 - eps) * nll + eps / c * smooth
    if reduction == "mean":
        return loss.sum() / wt.sum()
    return reduce(loss, reduction)


def nll_reference(
    logp: Any, t: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
) -> Any:
    kept = t != ignore_index
    safe = np.where(kept, t, 0)
    wt = class_weights(weight, logp).reshape(-1)[safe] * kept
    loss = -np.take_along_axis(logp, safe[:, None], 1)[:, 0] * wt
    return loss.sum() / wt.sum() if reduction == "mean" else reduce(loss, reduction)


SHAPES = [(6, 4), (3, 4, 2, 3)]


def class_targets(shape: tuple[int, ...], ignore_index: int) -> Any:
    t = rng.integers(0, shape[1], (shape[0], *shape[2:]))
    t.reshape(-1)[::3] = ignore_index  # some positions are ignored
    return t


# ----------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_cross_entropy_class_indices(
    shape: tuple[int, ...],
    reduction: str,
    label_smoothing: float,
    weighted: bool,
    ignore_index: int,
) -> None:
    x = rng.standard_normal(shape) * 3
    t = class_targets(shape, ignore_index)
    weight = rng.random(shape[1]) + 0.5 if weighted else None
    kwargs = dict(
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    expected = cross_entropy_reference(x, t, **kwargs)  # type: ignore[arg-type]
    loss = functools.partial(F.cross_entropy, target=t, **kwargs)
    np.testing.assert_allclose(loss(Tensor(x)).data, expected, rtol=1e-10)
    assert gradcheck(loss, x)
    check_compiled(lambda x, t: F.cross_entropy(x, t, **kwargs), [x, t])  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probabilities(
    shape: tuple[int, ...], reduction: str, label_smoothing: float, weighted: bool
) -> None:
    x = rng.standard_normal(shape)
    p = np.moveaxis(rng.dirichlet(np.ones(shape[1]), (shape[0], *shape[2:])), -1, 1)
    p = np.ascontiguousarray(p)  # gradcheck perturbs a flat view: non-contiguous would copy
    weight = rng.random(shape[1]) + 0.5 if weighted else None
    kwargs = dict(weight=weight, reduction=reduction, label_smoothing=label_smoothing)
    expected = cross_entropy_reference(x, p, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), p, **kwargs).data, expected, rtol=1e-10)  # type: ignore[arg-type]
    assert gradcheck(lambda x, p: F.cross_entropy(x, p, **kwargs), x, p)  # type: ignore[arg-type]


def test_cross_entropy_unbatched() -> None:
    x = rng.standard_normal(5)
    np.testing.assert_allclose(
        F.cross_entropy(Tensor(x), np.array(3), reduction="none").data, -log_softmax(x, 0)[3]
    )
    assert F.cross_entropy(Tensor(x), np.array(3), reduction="none").shape == ()
    soft = rng.dirichlet(np.ones(5))
    np.testing.assert_allclose(
        F.cross_entropy(Tensor(x), soft).data, -(soft * log_softmax(x, 0)).sum()
    )


def test_second_derivatives_with_the_new_options() -> None:
    x = rng.standard_normal((4, 3))
    t = np.array([0, -100, 2, 1])
    w = np.array([0.5, 1.0, 2.0])

    def hessian_vector(x: Tensor) -> Tensor:
        loss = F.cross_entropy(x, t, weight=w, label_smoothing=0.1)
        return grad(loss, [x])[0]

    assert gradcheck(hessian_vector, x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_stable_at_logits_of_plus_minus_1000(reduction: str) -> None:
    x64 = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [0.0, 0.0, -1000.0]])
    t = np.array([1, 2, 0])
    p = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    w = np.array([1.0, 2.0, 0.5])
    b = (np.arange(9).reshape(3, 3) % 2).astype(np.float64)
    losses = {
        "ce": (
            lambda x: F.cross_entropy(x, t, weight=w, label_smoothing=0.1, reduction=reduction),
            cross_entropy_reference(x64, t, w, reduction=reduction, label_smoothing=0.1),
        ),
        "ce_soft": (
            lambda x: F.cross_entropy(x, p, reduction=reduction),
            cross_entropy_reference(x64, p, reduction=reduction),
        ),
        "nll": (
            lambda x: F.nll_loss(F.log_softmax(x, axis=1), t, reduction=reduction),
            nll_reference(log_softmax(x64), t, reduction=reduction),
        ),
        "bce_logits": (
            lambda x: F.binary_cross_entropy_with_logits(x, b, pos_weight=w, reduction=reduction),
            reduce(bce_logits_reference(x64, b, w), reduction),
        ),
    }
    for name, (loss, expected) in losses.items():
        x = Tensor(x64.astype(np.float32), requires_grad=True)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            value = loss(x)
            (g,) = grad(value.sum(), [x])
            got, slope = value.data, g.data
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=name)
        assert np.isfinite(slope).all(), name


def test_everything_ignored_gives_nan_like_pytorch() -> None:
    with np.errstate(invalid="ignore"):
        loss = F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([-100, -100])).data
    assert np.isnan(loss)
    assert (
        F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([-100, -100]), reduction="sum").data == 0
    )


# ----------------------------------------------------------------- nll_loss
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(shape: tuple[int, ...], reduction: str, weighted: bool) -> None:
    logp = log_softmax(rng.standard_normal(shape))
    t = class_targets(shape, -100)
    weight = rng.random(shape[1]) + 0.5 if weighted else None
    expected = nll_reference(logp, t, weight, reduction=reduction)
    np.testing.assert_allclose(
        F.nll_loss(Tensor(logp), t, weight, reduction=reduction).data, expected, rtol=1e-12
    )
    assert gradcheck(lambda x: F.nll_loss(x, t, weight, reduction=reduction), logp)
    check_compiled(lambda x, t: F.nll_loss(x, t, weight, reduction=reduction), [logp, t])


# ----------------------------------------------------------------- binary
def bce_logits_reference(x: Any, t: Any, pos_weight: Any = None) -> Any:
    log_p = -np.logaddexp(0, -x)  # log sigmoid(x), PyTorch's formula evaluated stably
    log_q = -np.logaddexp(0, x)
    pw = 1.0 if pos_weight is None else pos_weight
    return -(pw * t * log_p + (1 - t) * log_q)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, np.array([0.5, 2.0, 1.0])])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_with_logits(reduction: str, pos_weight: Any, weighted: bool) -> None:
    x, t = rng.standard_normal((4, 3)) * 3, rng.random((4, 3))
    weight = rng.random((4, 3)) if weighted else None
    expected = bce_logits_reference(x, t, pos_weight) * (1.0 if weight is None else weight)
    bce = functools.partial(
        F.binary_cross_entropy_with_logits,
        weight=weight,
        reduction=reduction,
        pos_weight=pos_weight,
    )
    np.testing.assert_allclose(bce(Tensor(x), t).data, reduce(expected, reduction), rtol=1e-10)
    assert gradcheck(bce, x, t)
    check_compiled(bce, [x, t])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_on_probabilities(reduction: str) -> None:
    p, t, w = sigmoid(rng.standard_normal((4, 3))), rng.random((4, 3)), rng.random((4, 3))
    expected = -w * (t * np.log(p) + (1 - t) * np.log(1 - p))
    loss = functools.partial(F.binary_cross_entropy, weight=w, reduction=reduction)
    np.testing.assert_allclose(loss(Tensor(p), t).data, reduce(expected, reduction), rtol=1e-10)
    assert gradcheck(loss, p, t)
    check_compiled(loss, [p, t])


def test_binary_cross_entropy_clamps_its_logs_at_minus_100() -> None:
    p = Tensor(np.array([0.0, 1.0, 0.0, 1.0], np.float32), requires_grad=True)
    t = np.array([1.0, 0.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_array_equal(loss.data, [100.0, 100.0, 0.0, 0.0])
    (g,) = grad(loss.sum(), [p])
    assert np.isfinite(g.data).all()


# ----------------------------------------------------------------- regression and KL
def huber_reference(d: Any, delta: float) -> Any:
    a = np.abs(d)
    return np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))


REGRESSION = {
    "l1": (F.l1_loss, lambda d: np.abs(d)),
    "mse": (F.mse_loss, lambda d: d * d),
    "smooth_l1": (
        functools.partial(F.smooth_l1_loss, beta=0.7),
        lambda d: np.where(np.abs(d) < 0.7, 0.5 * d * d / 0.7, np.abs(d) - 0.35),
    ),
    "smooth_l1_beta0": (functools.partial(F.smooth_l1_loss, beta=0.0), lambda d: np.abs(d)),
    "huber": (functools.partial(F.huber_loss, delta=1.5), lambda d: huber_reference(d, 1.5)),
}


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(name: str, reduction: str) -> None:
    loss, pointwise = REGRESSION[name]
    x, y = rng.standard_normal((3, 4)) * 2, rng.standard_normal((3, 4))
    expected = reduce(pointwise(x - y), reduction)
    np.testing.assert_allclose(loss(Tensor(x), y, reduction=reduction).data, expected, rtol=1e-12)
    assert gradcheck(lambda x, y: loss(x, y, reduction=reduction), x, y)
    check_compiled(lambda x, y: loss(x, y, reduction=reduction), [x, y])


@pytest.mark.parametrize("reduction", [*REDUCTIONS, "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction: str, log_target: bool) -> None:
    logq = log_softmax(rng.standard_normal((3, 4)))
    p = rng.dirichlet(np.ones(4), 3)
    p[0] = [0.0, 0.5, 0.5, 0.0]  # zeros contribute nothing (xlogy)
    target = np.log(p + 0.1) if log_target else p
    prob = np.exp(target) if log_target else p
    with np.errstate(divide="ignore", invalid="ignore"):
        pointwise = np.where(prob > 0, prob * (np.log(prob) - logq), 0.0)
    expected = pointwise.sum() / 3 if reduction == "batchmean" else reduce(pointwise, reduction)
    kl = functools.partial(F.kl_div, reduction=reduction, log_target=log_target)
    np.testing.assert_allclose(kl(Tensor(logq), target).data, expected, rtol=1e-12, atol=1e-15)
    assert gradcheck(kl, logq, target if log_target else target + 0.01)
    x = Tensor(logq, requires_grad=True)
    t = Tensor(target, requires_grad=True)
    assert all(np.isfinite(g.data).all() for g in grad(kl(x, t).sum(), [x, t]))
    check_compiled(kl, [logq, target])


# ----------------------------------------------------------------- errors
def test_wrong_uses_are_named() -> None:
    x = Tensor(np.zeros((2, 3)))
    t = np.array([0, 1])
    with pytest.raises(TypeError, match=r"pass reduction by keyword: cross_entropy\(input"):
        F.cross_entropy(x, t, "sum")
    with pytest.raises(TypeError, match="binary_cross_entropy_with_logits"):
        F.binary_cross_entropy_with_logits(x, np.zeros((2, 3)), "none")
    with pytest.raises(ShapeError, match="one entry per class"):
        F.cross_entropy(x, t, weight=np.ones(4))
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ShapeError, match="classes on axis 1"):
        F.cross_entropy(Tensor(np.zeros((2, 5, 3))), np.zeros((2, 5), np.int64))
    with pytest.raises(DTypeError, match="integer class indices"):
        F.nll_loss(x, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.kl_div(x, np.zeros((2, 3)), reduction="avg")
    with pytest.raises(ValueError, match="beta must be non-negative"):
        F.smooth_l1_loss(x, np.zeros((2, 3)), beta=-1.0)
    with pytest.raises(IndexError, match="class 5 is out of range"):
        _ = F.cross_entropy(x, np.array([0, 5])).data


# ----------------------------------------------------------------- loss classes
def test_loss_classes_call_their_functions_with_their_options() -> None:
    import mg_nn

    x, y = rng.standard_normal((4, 3)), rng.random((4, 3))
    t = np.array([0, 2, -100, 1])
    w = np.array([1.0, 0.5, 2.0])
    pairs = [
        (
            mg_nn.CrossEntropyLoss(w, label_smoothing=0.1),
            F.cross_entropy(Tensor(x), t, w, label_smoothing=0.1),
            t,
        ),
        (mg_nn.NLLLoss(reduction="sum"), F.nll_loss(Tensor(x), t, reduction="sum"), t),
        (
            mg_nn.BCEWithLogitsLoss(pos_weight=w),
            F.binary_cross_entropy_with_logits(Tensor(x), y, pos_weight=w),
            y,
        ),
        (mg_nn.BCELoss(), F.binary_cross_entropy(Tensor(sigmoid(x)), y), y),
        (mg_nn.MSELoss(), F.mse_loss(Tensor(x), y), y),
        (mg_nn.L1Loss(reduction="none"), F.l1_loss(Tensor(x), y, reduction="none"), y),
        (mg_nn.SmoothL1Loss(beta=0.5), F.smooth_l1_loss(Tensor(x), y, beta=0.5), y),
        (mg_nn.HuberLoss(delta=0.5), F.huber_loss(Tensor(x), y, delta=0.5), y),
        (mg_nn.KLDivLoss(reduction="batchmean"), F.kl_div(Tensor(x), y, reduction="batchmean"), y),
    ]
    for layer, expected, target in pairs:
        inputs = sigmoid(x) if isinstance(layer, mg_nn.BCELoss) else x
        np.testing.assert_array_equal(
            layer(inputs, target).data, expected.data, err_msg=repr(layer)
        )
        assert layer.parameters() == []
    assert repr(mg_nn.HuberLoss(delta=0.5)) == "HuberLoss(reduction='mean', delta=0.5)"
    assert mg_nn.CrossEntropyLoss(reduction="sum").reduction == "sum"


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_constant_class_targets_take_the_fused_op_with_the_same_values(reduction: str) -> None:
    logits = rng.standard_normal((6, 4)).astype(np.float32)
    classes = np.array([0, 3, 1, 1, 2, 0])
    results = []
    for weight in (None, np.ones(4, np.float32)):  # ones: the general (weighted) path
        x = Tensor(logits, requires_grad=True)
        loss = F.cross_entropy(x, classes, weight=weight, reduction=reduction)
        (gx,) = grad(loss.sum(), [x])
        results.append((loss, gx.data))
    (fused, fused_grad), (general, general_grad) = results
    if reduction != "none":
        assert fused.node.op is not None and fused.node.op.name == "cross_entropy"
    np.testing.assert_allclose(fused.data, general.data, rtol=1e-6)
    np.testing.assert_allclose(fused_grad, general_grad, rtol=1e-6, atol=1e-7)
    with_ignored = np.array([0, -100, 1, 1, 2, 0])  # an ignored entry: the general path
    ignored = F.cross_entropy(Tensor(logits), with_ignored, reduction="sum")
    rows = [0, 2, 3, 4, 5]
    kept = F.cross_entropy(Tensor(logits[rows]), classes[rows], reduction="sum")
    np.testing.assert_allclose(ignored.data, kept.data, rtol=1e-6)
