"""BatchNorm1d/2d: PyTorch's formulas and running-statistics update in numpy, exactly
one update per forward computation eagerly and in frozen graphs (loss read before or
after backprop), evaluation mode, buffers in the state dict, float64 gradchecks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mg_nn import BatchNorm1d, BatchNorm2d, Conv2d, F, Model, Sequential
from mg_tensor import Tensor, compute_graph
from mg_tensor.testing import gradcheck

rng = np.random.default_rng(41)


class Reference:
    """PyTorch's documented BatchNorm in numpy: batch statistics (biased variance) in
    training, running statistics updated with the unbiased variance."""

    def __init__(self, channels: int, momentum: float | None = 0.1) -> None:
        self.mean, self.var = np.zeros(channels), np.ones(channels)
        self.momentum, self.batches = momentum, 0

    def train(self, x: Any, w: Any, b: Any, eps: float = 1e-5) -> Any:
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean, var = x.mean(axes), x.var(axes)
        n = x.size // x.shape[1]
        self.batches += 1
        f = 1 / self.batches if self.momentum is None else self.momentum
        self.mean = (1 - f) * self.mean + f * mean
        self.var = (1 - f) * self.var + f * var * n / (n - 1)
        y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
        return y * w.reshape(shape) + b.reshape(shape)

    def eval(self, x: Any, w: Any, b: Any, eps: float = 1e-5) -> Any:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        y = (x - self.mean.reshape(shape)) / np.sqrt(self.var.reshape(shape) + eps)
        return y * w.reshape(shape) + b.reshape(shape)


def _layer(cls: Any, channels: int, momentum: float | None = 0.1) -> Any:
    bn = cls(channels, momentum=momentum)
    bn.weight.assign(rng.standard_normal(channels))
    bn.bias.assign(rng.standard_normal(channels))
    return bn


def _check_state(bn: Any, ref: Reference, batches: int) -> None:
    np.testing.assert_allclose(bn.running_mean.data, ref.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.data, ref.var, rtol=1e-5, atol=1e-6)
    assert int(bn.num_batches_tracked.data) == batches


CASES = [(BatchNorm1d, (8, 3)), (BatchNorm1d, (6, 3, 5)), (BatchNorm2d, (4, 3, 5, 6))]


@pytest.mark.parametrize(("cls", "shape"), CASES)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_eager_training_and_evaluation(cls: Any, shape: tuple[int, ...], momentum: Any) -> None:
    bn, ref = _layer(cls, 3, momentum), Reference(3, momentum)
    w, b = bn.weight.data.astype(np.float64), bn.bias.data.astype(np.float64)
    for step in range(4):
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        y = bn(x)
        y.data  # noqa: B018  (the computation runs, and the update with it)
        y.data  # noqa: B018  (reading again runs nothing)
        np.testing.assert_allclose(y.data, ref.train(x, w, b), rtol=1e-4, atol=1e-5)
        _check_state(bn, ref, step + 1)
    bn.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(bn(x).data, ref.eval(x, w, b), rtol=1e-4, atol=1e-5)
    _check_state(bn, ref, 4)  # evaluation does not update


def test_an_unread_forward_updates_nothing_yet() -> None:
    bn = BatchNorm1d(2)
    y = bn(np.array([[0.0, 1.0], [2.0, 3.0]], np.float32))
    assert int(bn.num_batches_tracked.data) == 0  # lazy: nothing computed
    y.data  # noqa: B018
    assert int(bn.num_batches_tracked.data) == 1


@pytest.mark.parametrize("read_before_backprop", [True, False])
def test_compiled_steps_update_exactly_once_per_call(read_before_backprop: bool) -> None:
    net = Sequential(Conv2d(2, 3, 3, padding=1, generator=0), BatchNorm2d(3))
    bn = net[1]
    ref = Reference(3)

    @compute_graph
    def loss_of(x: Any) -> Tensor:
        return (net(x) ** 2).mean()

    for step in range(5):
        x = rng.standard_normal((4, 2, 5, 5)).astype(np.float32)
        conv = F.conv2d(x, net[0].weight, net[0].bias, padding=1).data.astype(np.float64)
        w, b = bn.weight.data.astype(np.float64), bn.bias.data.astype(np.float64)
        expected = float((ref.train(conv, w, b) ** 2).mean())
        loss = loss_of(x)
        if read_before_backprop:
            assert float(loss.data) == pytest.approx(expected, rel=1e-5)
        loss.backprop()
        assert float(loss.data) == pytest.approx(expected, rel=1e-5)
        for p in net.parameters():
            p.assign(p.data - 0.1 * p.grad.data)  # type: ignore[union-attr]
        _check_state(bn, ref, step + 1)
    net.eval()  # the mode is a guard: evaluation traces again and reads the statistics
    x = rng.standard_normal((4, 2, 5, 5)).astype(np.float32)
    conv = F.conv2d(x, net[0].weight, net[0].bias, padding=1).data.astype(np.float64)
    w, b = bn.weight.data.astype(np.float64), bn.bias.data.astype(np.float64)
    evaluated = float((ref.eval(conv, w, b) ** 2).mean())
    assert float(loss_of(x).data) == pytest.approx(evaluated, rel=1e-5)
    _check_state(bn, ref, 5)


def test_state_dict_names_and_round_trip() -> None:
    net = Sequential(Conv2d(1, 2, 3), BatchNorm2d(2))
    assert list(net.state_dict()) == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    ]
    assert [n for n, _ in net.named_parameters()][-2:] == ["1.weight", "1.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    ]
    net(rng.standard_normal((2, 1, 4, 4)).astype(np.float32)).data  # noqa: B018
    other = Sequential(Conv2d(1, 2, 3), BatchNorm2d(2))
    other.load_state_dict(net.state_dict())
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value)
    assert other.state_dict()["1.num_batches_tracked"].dtype == np.int64
    assert net.to(np.float64)[1].running_var.dtype == np.float64
    assert net[1].num_batches_tracked.dtype == np.int64


def test_options_without_statistics_or_affine() -> None:
    x = rng.standard_normal((5, 4)).astype(np.float32)
    free = BatchNorm1d(4, affine=False, track_running_stats=False).eval()
    assert free.parameters() == [] and free.state_dict() == {}
    expected = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    np.testing.assert_allclose(free(x).data, expected, rtol=1e-4, atol=1e-5)  # batch stats
    assert repr(BatchNorm2d(3)) == (
        "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    )


def test_gradients_in_training_mode() -> None:
    x = rng.standard_normal((4, 3, 2))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), x, w, b)


def test_errors_are_named() -> None:
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm1d(3)(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="expected 4-d input"):
        BatchNorm2d(3)(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="channels on axis 1"):
        BatchNorm1d(3)(np.zeros((2, 4), np.float32))


def test_a_model_can_register_its_own_buffers() -> None:
    class Counter(Model):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("scale", np.full(2, 3.0, np.float32))

        def forward(self, x: Any) -> Tensor:
            return x * self.scale

    counter = Counter()
    assert counter(np.ones(2, np.float32)).data.tolist() == [3.0, 3.0]
    counter.scale = np.full(2, 5.0, np.float32)  # assigning replaces the buffer
    assert list(counter.state_dict()) == ["scale"] and counter.parameters() == []
    assert counter(np.ones(2, np.float32)).data.tolist() == [5.0, 5.0]
