"""Layers and their ops against direct numpy references, and gradchecks (float64)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mg_graph import DTypeError, ShapeError
from mg_nn import (
    AvgPool2d,
    Conv2d,
    Embedding,
    F,
    Flatten,
    LayerNorm,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from mg_tensor import Tensor, compute_graph, grad
from mg_tensor.testing import gradcheck

rng = np.random.default_rng(1234)


# ----------------------------------------------------------------- numpy references
def conv_reference(
    x: Any, w: Any, b: Any, stride: tuple[int, int], padding: tuple[int, int]
) -> Any:
    """Direct convolution with explicit loops over every output element."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, ho, wo))
    for i in range(n):
        for j in range(o):
            for r in range(ho):
                for s in range(wo):
                    patch = xp[i, :, r * sh : r * sh + kh, s * sw : s * sw + kw]
                    out[i, j, r, s] = np.sum(patch * w[j]) + (0.0 if b is None else b[j])
    return out


def pool_reference(x: Any, k: tuple[int, int], s: tuple[int, int], reduce: Any) -> Any:
    *lead, h, w = x.shape
    ho, wo = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    out = np.zeros((*lead, ho, wo))
    for r in range(ho):
        for c in range(wo):
            window = x[..., r * s[0] : r * s[0] + k[0], c * s[1] : c * s[1] + k[1]]
            out[..., r, c] = reduce(window, axis=(-2, -1))
    return out


# ----------------------------------------------------------------- linear
def test_linear_matches_numpy_and_pytorch_layout() -> None:
    layer = Linear(3, 4, generator=0)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    w, b = layer.weight.data, layer.bias.data
    assert w.shape == (4, 3) and b.shape == (4,)
    np.testing.assert_allclose(layer(x).data, x @ w.T + b, rtol=1e-6)
    no_bias = Linear(3, 4, bias=False)
    assert no_bias.bias is None and len(no_bias.parameters()) == 1
    batched = rng.standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(layer(batched).data, batched @ w.T + b, rtol=1e-6)


def test_linear_kernel_on_batched_inputs_and_out_buffers() -> None:
    """N-d inputs run as one 2-d GEMM (into the out= buffer when given); non-contiguous
    inputs or buffers take numpy's stacked matmul; all agree with numpy."""
    from mg_nn.ops.linear import Linear as LinearOp

    w, b = rng.standard_normal((4, 3)), rng.standard_normal(4)
    x = rng.standard_normal((2, 5, 3))
    expected = x @ w.T + b
    np.testing.assert_allclose(LinearOp().forward(x, w, b), expected, rtol=1e-12)
    out = np.empty((2, 5, 4))
    assert LinearOp().forward(x, w, b, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    strided = rng.standard_normal((5, 2, 3)).transpose(1, 0, 2)
    np.testing.assert_allclose(LinearOp().forward(strided, w), strided @ w.T, rtol=1e-12)
    wide = np.empty((2, 5, 8))
    LinearOp().forward(x, w, b, out=wide[..., ::2])
    np.testing.assert_allclose(wide[..., ::2], expected, rtol=1e-12)
    layer = Linear(3, 4, generator=0)
    compiled = compute_graph(lambda t: layer(t))
    batched = rng.standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(compiled(batched).data, layer(batched).data, rtol=1e-6)


def test_linear_gradients() -> None:
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)
    assert gradcheck(lambda x, w, b: F.linear(x, w, b), x, w, b)
    assert gradcheck(lambda x, w: F.linear(x, w), rng.standard_normal((2, 4, 3)), w)
    assert gradcheck(lambda x, w: F.linear(x, w), rng.standard_normal(3), w)


def test_linear_second_derivatives() -> None:
    def f(x: Tensor, w: Tensor) -> Tensor:
        gx, gw = grad((F.linear(x, w) ** 2).sum(), [x, w])
        return (gx * gx).sum() + (gw * gw).sum()

    assert gradcheck(f, rng.standard_normal((4, 3)), rng.standard_normal((2, 3)))


def test_linear_shape_errors() -> None:
    with pytest.raises(ShapeError, match="linear"):
        Linear(3, 4)(np.ones((2, 5), np.float32))


# ----------------------------------------------------------------- conv2d
CONV_CASES = [((1, 1), (0, 0)), ((2, 2), (1, 1)), ((2, 1), (0, 2)), ((3, 2), (2, 1))]


@pytest.mark.parametrize(("stride", "padding"), CONV_CASES)
def test_conv2d_matches_loop_reference(stride: tuple[int, int], padding: tuple[int, int]) -> None:
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    got = F.conv2d(Tensor(x), Tensor(w), Tensor(b), stride, padding).data
    np.testing.assert_allclose(got, conv_reference(x, w, b, stride, padding), atol=1e-12)
    got = F.conv2d(Tensor(x), Tensor(w), None, stride, padding).data
    np.testing.assert_allclose(got, conv_reference(x, w, None, stride, padding), atol=1e-12)


@pytest.mark.parametrize(("stride", "padding"), CONV_CASES)
def test_conv2d_gradients(stride: tuple[int, int], padding: tuple[int, int]) -> None:
    x = rng.standard_normal((2, 2, 5, 6))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding), x, w, b)


def test_conv2d_second_derivatives() -> None:
    def f(x: Tensor, w: Tensor) -> Tensor:
        gx, gw = grad((F.conv2d(x, w, stride=2, padding=1) ** 2).sum(), [x, w])
        return (gx * gx).sum() + (gw * gw).sum()

    assert gradcheck(f, rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((2, 2, 3, 3)))


def test_conv2d_layer() -> None:
    conv = Conv2d(3, 5, 3, stride=2, padding=1, generator=0)
    assert conv.weight.shape == (5, 3, 3, 3) and conv.bias.shape == (5,)
    bound = 1 / np.sqrt(3 * 3 * 3)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    y = conv(x)
    assert y.shape == (2, 5, 4, 4) and y.dtype == np.float32
    expected = conv_reference(x, conv.weight.data, conv.bias.data, (2, 2), (1, 1))
    np.testing.assert_allclose(y.data, expected, rtol=1e-4, atol=1e-5)


def test_conv2d_errors() -> None:
    with pytest.raises(ShapeError, match="channels"):
        Conv2d(3, 2, 3)(np.ones((1, 2, 5, 5), np.float32))
    with pytest.raises(ShapeError, match="larger"):
        Conv2d(1, 2, 5)(np.ones((1, 1, 3, 3), np.float32))
    with pytest.raises(ShapeError, match="4-d"):
        Conv2d(1, 2, 3)(np.ones((1, 5, 5), np.float32))


# ----------------------------------------------------------------- pooling
POOL_CASES = [((2, 2), None), ((3, 3), (2, 2)), ((2, 3), (1, 2)), ((3, 2), (2, 3))]


@pytest.mark.parametrize(("kernel", "stride"), POOL_CASES)
def test_max_pool_matches_reference_and_gradchecks(
    kernel: tuple[int, int], stride: tuple[int, int] | None
) -> None:
    x = rng.standard_normal((2, 3, 7, 8))
    got = F.max_pool2d(Tensor(x), kernel, stride).data
    np.testing.assert_array_equal(got, pool_reference(x, kernel, stride or kernel, np.max))
    assert gradcheck(lambda x: F.max_pool2d(x, kernel, stride), x)


@pytest.mark.parametrize(("kernel", "stride"), POOL_CASES)
def test_avg_pool_matches_reference_and_gradchecks(
    kernel: tuple[int, int], stride: tuple[int, int] | None
) -> None:
    x = rng.standard_normal((2, 3, 7, 8))
    got = F.avg_pool2d(Tensor(x), kernel, stride).data
    np.testing.assert_allclose(got, pool_reference(x, kernel, stride or kernel, np.mean))
    assert gradcheck(lambda x: F.avg_pool2d(x, kernel, stride), x)


def test_max_pool_gradient_goes_to_the_first_maximum() -> None:
    x = Tensor(np.array([[[[1.0, 3.0], [3.0, 0.0]]]]), requires_grad=True)
    (gx,) = grad(F.max_pool2d(x, 2).sum(), [x])
    np.testing.assert_array_equal(gx.data, [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_pool_second_derivatives() -> None:
    x = rng.standard_normal((1, 2, 5, 6))

    def max_twice(x: Tensor) -> Tensor:
        return grad((F.max_pool2d(x, 2, 1) ** 2).sum(), [x])[0]

    def avg_twice(x: Tensor) -> Tensor:
        return grad((F.avg_pool2d(x, (2, 3), 1) ** 2).sum(), [x])[0]

    assert gradcheck(max_twice, x)
    assert gradcheck(avg_twice, x)


def test_pool_layers_accept_unbatched_input() -> None:
    x = rng.standard_normal((3, 4, 4)).astype(np.float32)
    assert MaxPool2d(2)(x).shape == (3, 2, 2)
    assert AvgPool2d(2, stride=1)(x).shape == (3, 3, 3)
    with pytest.raises(ShapeError, match="larger"):
        MaxPool2d(5)(x)


# ----------------------------------------------------------------- layer norm
def layer_norm_reference(x: Any, axes: tuple[int, ...], w: Any, b: Any, eps: float) -> Any:
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def test_layer_norm_matches_reference_and_gradchecks() -> None:
    x = rng.standard_normal((2, 3, 4, 5))
    w, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    got = F.layer_norm(Tensor(x), (4, 5), Tensor(w), Tensor(b), 1e-5).data
    np.testing.assert_allclose(got, layer_norm_reference(x, (2, 3), w, b, 1e-5), rtol=1e-10)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (4, 5), w, b), x, w, b)
    assert gradcheck(lambda x: F.layer_norm(x, 5), x[0, 0])


def test_layer_norm_layer() -> None:
    norm = LayerNorm(6, eps=1e-3)
    assert [n for n, _ in norm.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(norm.weight.data, np.ones(6))
    np.testing.assert_array_equal(norm.bias.data, np.zeros(6))
    x = rng.standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_allclose(
        norm(x).data, layer_norm_reference(x, (1,), 1.0, 0.0, 1e-3), rtol=1e-5, atol=1e-6
    )
    assert LayerNorm(6, elementwise_affine=False).parameters() == []
    with pytest.raises(ValueError, match="normalized_shape"):
        norm(np.ones((3, 5), np.float32))


# ----------------------------------------------------------------- embedding
def test_embedding_matches_numpy_and_gradients_add_up() -> None:
    table = Embedding(5, 3, generator=0)
    assert table.weight.shape == (5, 3)
    index = np.array([[0, 2, 2], [4, 0, 2]])
    np.testing.assert_array_equal(table(index).data, table.weight.data[index])
    table(index).sum().backprop()
    counts = np.bincount(index.ravel(), minlength=5)[:, None] * np.ones((1, 3))
    np.testing.assert_array_equal(table.weight.grad.data, counts)  # type: ignore[union-attr]
    assert gradcheck(lambda w: F.embedding(index, w) ** 2, rng.standard_normal((5, 3)))
    with pytest.raises(DTypeError, match="integers"):
        table(np.array([0.5]))


def test_embedding_with_tensor_indices() -> None:
    weight = rng.standard_normal((4, 2))
    index = Tensor(np.array([3, 1, 3]))
    np.testing.assert_array_equal(F.embedding(index, Tensor(weight)).data, weight[[3, 1, 3]])


# ----------------------------------------------------------------- small layers
def test_activation_layers_and_flatten() -> None:
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(ReLU()(x).data, np.maximum(x, 0))
    np.testing.assert_allclose(Tanh()(x).data, np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(Sigmoid()(x).data, 1 / (1 + np.exp(-x)), rtol=1e-6)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(Softmax(axis=1)(x).data, e / e.sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(
        LogSoftmax()(x).data, np.log(Softmax()(x).data), rtol=1e-5, atol=1e-6
    )
    assert Flatten()(x).shape == (2, 12)
    assert Flatten(0)(x).shape == (24,)


def test_sequential_runs_layers_in_order() -> None:
    net = Sequential(Linear(4, 3, generator=0), ReLU(), Linear(3, 2, generator=1))
    x = rng.standard_normal((5, 4)).astype(np.float32)
    h = np.maximum(x @ net[0].weight.data.T + net[0].bias.data, 0)
    np.testing.assert_allclose(
        net(x).data, h @ net[2].weight.data.T + net[2].bias.data, rtol=1e-5, atol=1e-6
    )


def test_float64_layers() -> None:
    layer = Linear(3, 2, dtype=np.float64)
    assert layer.weight.dtype == np.float64
    assert Conv2d(1, 1, 2, dtype=np.float64).bias.dtype == np.float64  # type: ignore[union-attr]
    assert Embedding(2, 2, dtype=np.float64).weight.dtype == np.float64


# ----------------------------------------------------------------- frozen graphs
FROZEN_CASES: dict[str, tuple[Any, tuple[int, ...], tuple[int, ...]]] = {
    "conv": (lambda a, b: F.conv2d(a, b), (2, 3, 6, 5), (4, 3, 3, 2)),
    "conv_strided": (lambda a, b: F.conv2d(a, b, b[:, 0, 0, 0], 2, 1), (2, 3, 6, 5), (2, 3, 3, 3)),
    "max_pool": (lambda a, b: F.max_pool2d(a * b, 3, 1), (2, 2, 6, 6), (6,)),
    "avg_pool": (lambda a, b: F.avg_pool2d(a * b, (2, 3), (2, 1)), (2, 2, 6, 6), (6,)),
    "linear": (lambda a, b: F.linear(a, b, b[:, 0]), (2, 3, 4), (5, 4)),
    "layer_norm": (lambda a, b: F.layer_norm(a, 4, b, b), (3, 4), (4,)),
    "embedding": (lambda a, b: F.embedding(np.array([[1, 0], [1, 1]]), a) * b, (2, 3), (3,)),
    "cross_entropy": (
        lambda a, b: F.cross_entropy(a * b, np.array([0, 2, 1]), reduction="none"),
        (3, 4),
        (4,),
    ),
    "cross_entropy_soft": (
        lambda a, b: F.cross_entropy(a, F.softmax(b), reduction="none"),
        (3, 4),
        (3, 4),
    ),
    "bce": (
        lambda a, b: F.binary_cross_entropy_with_logits(a, F.sigmoid(b), reduction="none"),
        (3, 4),
        (3, 4),
    ),
}


@pytest.mark.parametrize("case", sorted(FROZEN_CASES))
def test_frozen_graphs_compute_what_eager_graphs_compute(case: str) -> None:
    """Every op's kernels write into planned buffers in a frozen graph: same results."""
    fn, shape_a, shape_b = FROZEN_CASES[case]
    a = Tensor(rng.standard_normal(shape_a), requires_grad=True)
    b = Tensor(rng.standard_normal(shape_b), requires_grad=True)
    direction = rng.standard_normal(fn(a, b).shape)
    eager = (fn(a, b) * direction).sum()
    expected = [eager.data, *(g.data for g in grad(eager, [a, b]))]
    step = compute_graph(lambda d: (fn(a, b) * d).sum())
    for _ in range(2):
        loss = step(direction)
        loss.backprop()
        got = [loss.data, a.grad.data, b.grad.data]  # type: ignore[union-attr]
        for want, have in zip(expected, got, strict=True):
            np.testing.assert_allclose(have, want, rtol=1e-10, atol=1e-12)
