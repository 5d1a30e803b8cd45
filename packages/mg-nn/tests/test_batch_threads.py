"""Convolution and pooling kernels split over two threads (`mg_tensor.parallel`) give
what one thread gives, for every option; and the ``max_pool(relu(x))`` ->
``relu(max_pool(x))`` rewrite keeps values and gradients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from mg_nn import F
from mg_tensor import Tensor, blas, compute_graph, grad, parallel

rng = np.random.default_rng(11)


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every kernel splits (no size threshold) into many small chunks."""
    monkeypatch.setattr(parallel, "MIN_COST", 0)
    monkeypatch.setattr(parallel, "CHUNK", 2048)
    before = parallel.get_num_threads()
    yield
    parallel.set_num_threads(before)


def on(count: int, fn: Any) -> Any:
    parallel.set_num_threads(count)
    return fn()


CONVS = [  # stride, padding, dilation, groups
    (1, 1, 1, 1),
    (1, 0, 1, 2),
    (2, 1, 1, 1),
    (1, "same", 2, 1),
    ((2, 1), (1, 2), 1, 4),
]


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups"), CONVS)
@pytest.mark.parametrize("use_blas", [True, False])
def test_convolution_on_two_threads_matches_one(
    threads: None,
    monkeypatch: pytest.MonkeyPatch,
    stride: Any,
    padding: Any,
    dilation: int,
    groups: int,
    use_blas: bool,
) -> None:
    if not use_blas:  # the input gradient's numpy path (col2im) splits too
        monkeypatch.setattr(blas, "gemm_kernel", lambda char: None)
    x = rng.standard_normal((7, 4, 11, 9))
    w = rng.standard_normal((8, 4 // groups, 3, 3))
    b = rng.standard_normal(8)

    def run() -> list[Any]:
        t, u, v = (Tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.conv2d(t, u, v, stride, padding, dilation, groups)
        g = np.cos(np.arange(y.size)).reshape(y.shape)
        return [y.data, *(d.data for d in grad((y * Tensor(g)).sum(), [t, u, v]))]

    for one, two in zip(on(1, run), on(2, run), strict=True):
        np.testing.assert_allclose(two, one, rtol=1e-12, atol=1e-12)


def test_transposed_convolution_on_two_threads_matches_one(threads: None) -> None:
    x, w = rng.standard_normal((5, 4, 6, 7)), rng.standard_normal((4, 3, 3, 3))

    def run() -> list[Any]:
        t, u = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = F.conv_transpose2d(t, u, stride=2, padding=1, output_padding=1)
        return [y.data, *(d.data for d in grad((y * y).sum(), [t, u]))]

    for one, two in zip(on(1, run), on(2, run), strict=True):
        np.testing.assert_allclose(two, one, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding"), [(2, 2, 0), (3, 3, 1), (3, 2, 1), ((2, 3), (2, 3), 0)]
)
def test_max_pooling_on_two_threads_matches_one(
    threads: None, kernel: Any, stride: Any, padding: int
) -> None:
    x = rng.integers(0, 3, (6, 3, 12, 12)).astype(np.float64)  # ties, as after a ReLU

    def run() -> list[Any]:
        t = Tensor(x, requires_grad=True)
        y = F.max_pool2d(t, kernel, stride, padding)
        g = np.sin(np.arange(y.size)).reshape(y.shape)
        return [y.data, grad((y * Tensor(g)).sum(), [t])[0].data]

    for one, two in zip(on(1, run), on(2, run), strict=True):
        np.testing.assert_array_equal(two, one)


def cnn_loss(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    h = F.max_pool2d(F.conv2d(x, w, b, padding=1).relu(), 2)
    return (h * h).sum()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_moves_after_max_pooling_with_the_same_values_and_gradients(dtype: Any) -> None:
    x = rng.standard_normal((4, 2, 8, 8)).astype(dtype)
    x[:, :, :4] = 0.0  # constant regions: the convolution gives ties and zeros
    w = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    b = np.array([0.0, -0.5, 0.5], dtype)

    def run(**options: Any) -> tuple[Any, list[Any], dict[str, int]]:
        params = [Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)]
        f = compute_graph(**options)(lambda images: cnn_loss(images, *params))
        loss = f(x)
        loss.backprop()
        return loss.data, [p.grad.data for p in params], f.graph.rewrites

    value, grads, rewrites = run()
    plain_value, plain_grads, plain_rewrites = run(passes=())
    assert rewrites.get("relu_after_max") == 1 and "relu_after_max" not in plain_rewrites
    np.testing.assert_allclose(value, plain_value, rtol=1e-6)
    for got, want in zip(grads, plain_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_relu_read_elsewhere_stays_before_the_pooling() -> None:
    def loss(x: Tensor) -> Tensor:
        r = x.relu()
        return F.max_pool2d(r, 2).sum() + r.sum()

    f = compute_graph(loss)
    x = rng.standard_normal((1, 1, 4, 4))
    np.testing.assert_allclose(f(x).data, loss(Tensor(x)).data)
    assert "relu_after_max" not in f.graph.rewrites


def test_images_larger_than_a_chunk_are_computed_one_at_a_time() -> None:
    """One image's columns (27 x 96 x 96 float64, 2 MB) and planes exceed the 1 MB chunk:
    each chunk then holds one image, and none is skipped."""
    x = rng.standard_normal((2, 3, 96, 96))
    w = rng.standard_normal((2, 3, 3, 3))
    y = F.conv2d(Tensor(x), Tensor(w)).data
    want = sum(
        np.einsum("nchw,oc->nohw", x[:, :, i : i + 94, j : j + 94], w[:, :, i, j])
        for i in range(3)
        for j in range(3)
    )
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10)
    big = rng.standard_normal((2, 1, 400, 400))  # a 1.3 MB plane
    pooled = F.max_pool2d(Tensor(big), 2).data
    np.testing.assert_array_equal(pooled, big.reshape(2, 1, 200, 2, 200, 2).max(axis=(3, 5)))
