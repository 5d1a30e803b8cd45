"""PyTorch's convolution and pooling options against loop references written from
PyTorch's documented formulas, and float64 gradchecks: conv2d with asymmetric/"same"
padding, dilation and groups; conv_transpose2d; pooling with padding and ceil_mode;
adaptive average pooling."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from mg_graph import Graph, ShapeError
from mg_nn import AdaptiveAvgPool2d, AvgPool2d, Conv2d, ConvTranspose2d, F, MaxPool2d
from mg_tensor import Tensor, compute_graph, grad
from mg_tensor.testing import gradcheck

rng = np.random.default_rng(7)


# ----------------------------------------------------------------- references
def conv_ref(
    x: Any, w: Any, stride: Any, pads: Any, dilation: Any = (1, 1), groups: int = 1
) -> Any:
    """Every output element as an explicit sum over its (dilated) window and group."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), ((pt, pb), (pl, pr)), (dh, dw) = stride, pads, dilation
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xp[:, :, pt : pt + h, pl : pl + wd] = x
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for b in range(n):
        for j in range(o):
            chans = slice(j // og * cg, (j // og + 1) * cg)
            for r in range(ho):
                for s in range(wo):
                    rows = slice(r * sh, r * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(s * sw, s * sw + dw * (kw - 1) + 1, dw)
                    out[b, j, r, s] = np.sum(xp[b, chans, rows, cols] * w[j])
    return out


def conv_transpose_ref(
    x: Any, w: Any, stride: Any, padding: Any, output_padding: Any, groups: int, dilation: Any
) -> Any:
    """Scatter each input element times the kernel into the output (PyTorch's definition)."""
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    (sh, sw), (ph, pw), (eh, ew), (dh, dw) = stride, padding, output_padding, dilation
    ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + eh + 1
    wo = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + ew + 1
    full = np.zeros((n, og * groups, ho + 2 * ph + kh * dh, wo + 2 * pw + kw * dw))
    cg = c // groups
    for b in range(n):
        for i in range(c):
            outs = slice(i // cg * og, (i // cg + 1) * og)
            for r in range(h):
                for s in range(wd):
                    for a in range(kh):
                        for e in range(kw):
                            full[b, outs, r * sh + a * dh, s * sw + e * dw] += (
                                x[b, i, r, s] * w[i, :, a, e]
                            )
    return full[:, :, ph : ph + ho, pw : pw + wo]


def pool_out(size: int, k: int, s: int, p: int, ceil: bool) -> int:
    out = (size + 2 * p - k + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool_ref(x: Any, k: Any, s: Any, p: Any, ceil: bool, kind: str, include: bool = True) -> Any:
    """PyTorch's pooling loops: windows clipped to the input, averages divided by the
    window clipped to the padded input (or to the input without count_include_pad)."""
    *lead, h, w = x.shape
    ho, wo = pool_out(h, k[0], s[0], p[0], ceil), pool_out(w, k[1], s[1], p[1], ceil)
    out = np.zeros((*lead, ho, wo))
    for r in range(ho):
        for c in range(wo):
            h0, w0 = r * s[0] - p[0], c * s[1] - p[1]
            h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
            area = (h1 - h0) * (w1 - w0)
            window = x[..., max(h0, 0) : min(h1, h), max(w0, 0) : min(w1, w)]
            if kind == "max":
                out[..., r, c] = window.max(axis=(-2, -1))
            else:
                count = area if include else window.shape[-2] * window.shape[-1]
                out[..., r, c] = window.sum(axis=(-2, -1)) / count
    return out


def adaptive_ref(x: Any, out: tuple[int, int]) -> Any:
    *lead, h, w = x.shape
    y = np.zeros((*lead, *out))
    for r in range(out[0]):
        for c in range(out[1]):
            rows = slice(r * h // out[0], math.ceil((r + 1) * h / out[0]))
            cols = slice(c * w // out[1], math.ceil((c + 1) * w / out[1]))
            y[..., r, c] = x[..., rows, cols].mean(axis=(-2, -1))
    return y


# ----------------------------------------------------------------- conv2d options
CONV_OPTIONS = [  # (stride, padding, dilation, groups)
    ((1, 1), 0, (2, 1), 1),
    ((1, 1), "same", (1, 1), 1),
    ((1, 1), "same", (2, 3), 2),
    ((2, 1), (1, 2), (2, 2), 2),
    ((1, 2), "valid", (1, 1), 4),
    ((3, 2), 1, (1, 2), 1),
]


def _pads(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int]) -> Any:
    if padding == "same":
        totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        return tuple((t // 2, t - t // 2) for t in totals)
    if padding == "valid":
        return ((0, 0), (0, 0))
    p = (padding, padding) if isinstance(padding, int) else padding
    return ((p[0], p[0]), (p[1], p[1]))


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups"), CONV_OPTIONS)
def test_conv2d_options_match_reference(
    stride: Any, padding: Any, dilation: Any, groups: int
) -> None:
    x = rng.standard_normal((2, 4, 9, 8))
    w = rng.standard_normal((4, 4 // groups, 3, 2))
    b = rng.standard_normal(4)
    got = F.conv2d(Tensor(x), Tensor(w), Tensor(b), stride, padding, dilation, groups).data
    want = conv_ref(x, w, stride, _pads(padding, (3, 2), dilation), dilation, groups)
    np.testing.assert_allclose(got, want + b.reshape(4, 1, 1), atol=1e-12)
    if padding == "same":
        assert got.shape[2:] == x.shape[2:]


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups"), CONV_OPTIONS)
def test_conv2d_options_gradcheck(stride: Any, padding: Any, dilation: Any, groups: int) -> None:
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((4, 4 // groups, 2, 3))
    b = rng.standard_normal(4)
    f = lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups)  # noqa: E731
    assert gradcheck(f, x, w, b)


def test_conv2d_options_second_derivatives() -> None:
    def f(x: Tensor, w: Tensor) -> Tensor:
        y = F.conv2d(x, w, stride=(2, 1), padding="valid", dilation=2, groups=2)
        gx, gw = grad((y**2).sum(), [x, w])
        return (gx * gx).sum() + (gw * gw).sum()

    assert gradcheck(f, rng.standard_normal((1, 4, 7, 7)), rng.standard_normal((2, 2, 2, 2)))


def test_conv2d_bias_second_derivatives() -> None:
    """The weight and bias gradients come from one op (`Conv2dWeightGrad(bias=True)`);
    gradients of those gradients go through its own vjp."""

    def f(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        y = F.conv2d(x, w, b, padding=1, groups=2)
        gx, gw, gb = grad((y * y * y).sum(), [x, w, b])
        return (gx * gx).sum() + (gw * gw).sum() + (gb * gb * gb).sum()

    x, w, b = (rng.standard_normal(s) for s in ((2, 4, 5, 4), (4, 2, 3, 3), (4,)))
    assert gradcheck(f, x, w, b)


@pytest.mark.parametrize("trained", [(True, True), (True, False), (False, True)])
def test_conv2d_weight_and_bias_gradients(trained: tuple[bool, bool]) -> None:
    """Weight and bias trained together share the weight gradient's matmuls (no sum of
    its own over g); either one frozen, the other's gradient is the same."""
    x, w, b = (rng.standard_normal(s) for s in ((3, 4, 6, 5), (6, 2, 3, 2), (6,)))
    graph = Graph()
    tw = Tensor(w, graph=graph, requires_grad=trained[0])
    tb = Tensor(b, graph=graph, requires_grad=trained[1])
    y = F.conv2d(Tensor(x, graph=graph), tw, tb, padding=(1, 0), groups=2)
    g = rng.standard_normal(y.shape)
    wanted = [t for t, on in zip((tw, tb), trained, strict=True) if on]
    got = grad((y * Tensor(g, graph=graph)).sum(), wanted)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    want_w = np.zeros_like(w)
    for i in range(3):
        for j in range(2):
            patch = xp[:, :, i : i + 6, j : j + 4]
            for k in range(2):  # group k: out channels 3k..3k+2 read in channels 2k, 2k+1
                part = np.einsum(
                    "nohw,nchw->oc", g[:, 3 * k : 3 * k + 3], patch[:, 2 * k : 2 * k + 2]
                )
                want_w[3 * k : 3 * k + 3, :, i, j] = part
    wants = [v for v, on in zip((want_w, g.sum((0, 2, 3))), trained, strict=True) if on]
    for have, want in zip(got, wants, strict=True):
        np.testing.assert_allclose(have.data, want, atol=1e-10)
    sums = [
        n for n in tw.graph.nodes if n.op is not None and n.op.name == "sum" and n.shape == (6,)
    ]
    assert len(sums) == (trained == (False, True))


def test_conv2d_layer_options_and_init() -> None:
    conv = Conv2d(4, 6, (3, 2), padding="same", dilation=2, groups=2, generator=0)
    assert conv.weight.shape == (6, 2, 3, 2) and conv.bias is not None
    bound = 1 / math.sqrt(2 * 3 * 2)  # PyTorch: fan_in = in / groups * kh * kw
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    want = conv_ref(x, conv.weight.data, (1, 1), ((2, 2), (1, 1)), (2, 2), 2)
    np.testing.assert_allclose(
        conv(x).data, want + conv.bias.data.reshape(6, 1, 1), rtol=1e-5, atol=1e-5
    )
    assert "dilation=(2, 2), groups=2" in repr(conv)


def test_conv2d_option_errors() -> None:
    with pytest.raises(ValueError, match="same"):
        F.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), stride=2, padding="same")
    with pytest.raises(ValueError, match="padding"):
        F.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), padding="full")
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ShapeError, match="groups"):
        _ = F.conv2d(Tensor(np.ones((1, 4, 5, 5))), Tensor(np.ones((2, 4, 3, 3))), groups=2)
    with pytest.raises(ShapeError, match="dilated"):
        _ = F.conv2d(Tensor(np.ones((1, 1, 4, 4))), Tensor(np.ones((1, 1, 3, 3))), dilation=2)


# ----------------------------------------------------------------- conv_transpose2d
TRANSPOSE_OPTIONS = [  # (stride, padding, output_padding, groups, dilation)
    ((1, 1), (0, 0), (0, 0), 1, (1, 1)),
    ((2, 2), (1, 0), (1, 0), 1, (1, 1)),
    ((2, 3), (0, 1), (1, 2), 2, (1, 1)),
    ((1, 2), (1, 1), (1, 1), 2, (2, 1)),  # output_padding reaching rows no window reads
]


@pytest.mark.parametrize(("stride", "padding", "extra", "groups", "dilation"), TRANSPOSE_OPTIONS)
def test_conv_transpose2d_matches_reference_and_gradchecks(
    stride: Any, padding: Any, extra: Any, groups: int, dilation: Any
) -> None:
    x = rng.standard_normal((2, 4, 4, 3))
    w = rng.standard_normal((4, 3, 3, 2))  # (in, out / groups, kh, kw)
    b = rng.standard_normal(3 * groups)
    got = F.conv_transpose2d(Tensor(x), Tensor(w), Tensor(b), stride, padding, extra, groups,
                             dilation).data  # fmt: skip
    want = conv_transpose_ref(x, w, stride, padding, extra, groups, dilation)
    np.testing.assert_allclose(got, want + b.reshape(-1, 1, 1), atol=1e-12)
    f = lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, extra, groups, dilation)  # noqa: E731
    assert gradcheck(f, x, w, b)


def test_conv_transpose2d_is_the_adjoint_of_conv2d() -> None:
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    y = rng.standard_normal(F.conv2d(Tensor(x), Tensor(w), stride=2, padding=1).shape)
    lhs = np.sum(F.conv2d(Tensor(x), Tensor(w), stride=2, padding=1).data * y)
    back = F.conv_transpose2d(Tensor(y), Tensor(w), stride=2, padding=1, output_padding=(0, 1))
    assert back.shape == x.shape
    np.testing.assert_allclose(lhs, np.sum(back.data * x), rtol=1e-10)


def test_conv_transpose2d_layer() -> None:
    up = ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, generator=0)
    assert up.weight.shape == (4, 3, 3, 3) and up.bias is not None and up.bias.shape == (6,)
    bound = 1 / math.sqrt(3 * 3 * 3)  # PyTorch: fan_in from dimension 1 of the weight
    assert np.abs(up.weight.data).max() <= bound
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    y = up(x)
    assert y.shape == (1, 6, 10, 10)
    want = conv_transpose_ref(x, up.weight.data, (2, 2), (1, 1), (1, 1), 2, (1, 1))
    np.testing.assert_allclose(y.data, want + up.bias.data.reshape(6, 1, 1), atol=1e-5)
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x, up.weight, stride=2, output_padding=2)
    with pytest.raises(ShapeError, match="conv_transpose2d"):
        F.conv_transpose2d(x[0], up.weight)


# ----------------------------------------------------------------- pooling options
POOL_OPTIONS = [  # (kernel, stride, padding, ceil_mode)
    ((2, 2), (2, 2), (0, 0), True),
    ((3, 3), (2, 2), (1, 1), False),
    ((3, 2), (2, 2), (1, 1), True),
    ((2, 3), (1, 2), (1, 0), True),
    ((3, 3), (3, 3), (1, 1), True),
]


@pytest.mark.parametrize(("kernel", "stride", "padding", "ceil"), POOL_OPTIONS)
def test_max_pool_options(kernel: Any, stride: Any, padding: Any, ceil: bool) -> None:
    x = rng.standard_normal((2, 3, 7, 8))
    got = F.max_pool2d(Tensor(x), kernel, stride, padding, ceil_mode=ceil).data
    np.testing.assert_array_equal(got, pool_ref(x, kernel, stride, padding, ceil, "max"))
    f = lambda x: F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil)  # noqa: E731
    assert gradcheck(f, x)


@pytest.mark.parametrize(("kernel", "stride", "padding", "ceil"), POOL_OPTIONS)
@pytest.mark.parametrize("include", [True, False])
def test_avg_pool_options(
    kernel: Any, stride: Any, padding: Any, ceil: bool, include: bool
) -> None:
    x = rng.standard_normal((2, 3, 7, 8))
    got = F.avg_pool2d(Tensor(x), kernel, stride, padding, ceil, include).data
    want = pool_ref(x, kernel, stride, padding, ceil, "avg", include)
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert gradcheck(lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil, include), x)


def test_pool_option_second_derivatives() -> None:
    def f(x: Tensor) -> Tensor:
        y = F.max_pool2d(x, 3, 2, 1, ceil_mode=True) + F.avg_pool2d(x, 3, 2, 1, True, False)
        return grad((y**2).sum(), [x])[0]

    assert gradcheck(f, rng.standard_normal((1, 2, 6, 7)))


def test_pool_layers_with_options() -> None:
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    y = MaxPool2d(3, 2, 1, ceil_mode=True)(x)
    np.testing.assert_array_equal(y.data, pool_ref(x, (3, 3), (2, 2), (1, 1), True, "max"))
    a = AvgPool2d(2, 2, 1, True, False)(x)
    np.testing.assert_allclose(
        a.data, pool_ref(x, (2, 2), (2, 2), (1, 1), True, "avg", False), rtol=1e-6
    )
    assert "ceil_mode=True" in repr(MaxPool2d(2, ceil_mode=True))
    with pytest.raises(ShapeError, match="half the window"):
        _ = F.max_pool2d(Tensor(x), 2, padding=2)


# ----------------------------------------------------------------- adaptive average
@pytest.mark.parametrize("out", [(1, 1), (3, 2), (5, 7), (4, 3)])
def test_adaptive_avg_pool_matches_reference(out: tuple[int, int]) -> None:
    x = rng.standard_normal((2, 3, 5, 7))
    np.testing.assert_allclose(
        F.adaptive_avg_pool2d(Tensor(x), out).data, adaptive_ref(x, out), atol=1e-12
    )
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, out), x)


def test_adaptive_avg_pool_layer() -> None:
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    np.testing.assert_allclose(AdaptiveAvgPool2d(1)(x).data, x.mean((2, 3), keepdims=True),
                               rtol=1e-5)  # fmt: skip
    assert AdaptiveAvgPool2d((None, 2))(x).shape == (2, 3, 6, 2)
    with pytest.raises(ValueError, match="positive"):
        F.adaptive_avg_pool2d(x, 0)


# ----------------------------------------------------------------- compiled = eager
def test_options_compiled_match_eager() -> None:
    x = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    w = Tensor(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), requires_grad=True)
    u = Tensor(rng.standard_normal((4, 2, 2, 2)).astype(np.float32), requires_grad=True)

    def net(x: Tensor) -> Tensor:
        y = F.conv2d(x, w, padding="same", dilation=2, groups=2).relu()
        y = F.max_pool2d(y, 3, 2, 1, ceil_mode=True)
        y = F.conv_transpose2d(y, u, stride=2, groups=2)
        return F.adaptive_avg_pool2d(F.avg_pool2d(y, 2, 1, 1, True, False), (3, 2)).sum()

    eager = net(Tensor(x))
    eager_grads = grad(eager, [w, u])
    compiled = compute_graph(lambda x: (net(x), *grad(net(x), [w, u])))
    loss, gw, gu = compiled(x)
    np.testing.assert_allclose(loss.data, eager.data, rtol=1e-5)
    np.testing.assert_allclose(gw.data, eager_grads[0].data, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gu.data, eager_grads[1].data, rtol=1e-4, atol=1e-5)


def first_max_grad_ref(x: Any, g: Any, k: Any, s: Any) -> Any:
    """Route each window's gradient to its first (row-major) maximum, window by window."""
    dx = np.zeros_like(x)
    for idx in np.ndindex(*x.shape[:-2]):
        for r in range(g.shape[-2]):
            for c in range(g.shape[-1]):
                window = x[idx][r * s[0] : r * s[0] + k[0], c * s[1] : c * s[1] + k[1]]
                i, j = np.unravel_index(np.argmax(window), window.shape)
                dx[idx][r * s[0] + i, c * s[1] + j] += g[idx][r, c]
    return dx


@pytest.mark.parametrize(
    ("shape", "kernel"), [((2, 3, 8, 6), (2, 2)), ((1, 2, 9, 8), (3, 2)), ((2, 2, 7, 9), (2, 3))]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])  # float32: bitwise repeats
def test_tiled_max_pool_routes_ties_to_the_first_maximum(
    shape: Any, kernel: Any, dtype: Any
) -> None:
    x = rng.integers(0, 3, shape).astype(dtype)  # many ties, as after a ReLU
    t = Tensor(x, requires_grad=True)
    y = F.max_pool2d(t, kernel)
    g = rng.standard_normal(y.shape).astype(dtype)
    (gx,) = grad((y * Tensor(g)).sum(), [t])
    np.testing.assert_array_equal(gx.data, first_max_grad_ref(x, g, kernel, kernel))


def test_conv_kernels_split_large_batches_into_chunks() -> None:
    """Images big enough that each kernel works through the batch in several chunks (the
    bias added by the forward's matmul in every chunk)."""
    x, w = rng.standard_normal((3, 4, 40, 36)), rng.standard_normal((2, 4, 3, 3))
    b = rng.standard_normal(2)
    t, u = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    y = F.conv2d(t, u, Tensor(b), padding=1)
    want = conv_ref(x, w, (1, 1), ((1, 1), (1, 1))) + b.reshape(2, 1, 1)
    np.testing.assert_allclose(y.data, want, atol=1e-10)
    g = rng.standard_normal(y.shape)
    gx, gw = grad((y * Tensor(g)).sum(), [t, u])
    dxp = np.zeros((3, 4, 42, 38))
    for i in range(3):
        for j in range(3):  # each tap scatters g back through its weight
            dxp[:, :, i : i + 40, j : j + 36] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
    np.testing.assert_allclose(gx.data, dxp[:, :, 1:41, 1:37], atol=1e-10)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for i in range(3):
        for j in range(3):
            want = np.einsum("nohw,nchw->oc", g, xp[:, :, i : i + 40, j : j + 36])
            np.testing.assert_allclose(gw.data[:, :, i, j], want, atol=1e-8)


@pytest.mark.parametrize(("padding", "dilation", "groups"), [(0, 1, 1), ("same", 2, 2), (1, 1, 4)])
def test_input_gradient_without_blas_matches(
    monkeypatch: pytest.MonkeyPatch, padding: Any, dilation: int, groups: int
) -> None:
    """Stride-1 input gradients accumulate GEMMs through BLAS; the numpy path (col2im),
    used where numpy has no OpenBLAS, gives the same values."""
    from mg_tensor import blas

    x = rng.standard_normal((3, 4, 9, 7))
    w = rng.standard_normal((8, 4 // groups, 3, 2))

    def input_grad() -> Any:
        t = Tensor(x, requires_grad=True)
        y = F.conv2d(t, Tensor(w), None, 1, padding, dilation, groups)
        return grad((y * y).sum(), [t])[0].data

    with_blas = input_grad()
    monkeypatch.setattr(blas, "gemm_kernel", lambda char: None)
    np.testing.assert_allclose(input_grad(), with_blas, rtol=1e-10, atol=1e-10)
