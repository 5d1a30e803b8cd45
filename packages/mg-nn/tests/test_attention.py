"""scaled_dot_product_attention and MultiheadAttention against a straightforward numpy
implementation (every mask kind), float64 gradchecks through inputs and parameters,
dropout and compiled = eager."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest
from nn_support import check_compiled, softmax

import mg_nn
from mg_graph import DTypeError
from mg_nn import F, MultiheadAttention
from mg_tensor import Tensor
from mg_tensor.testing import gradcheck

rng = np.random.default_rng(17)


def attention_reference(q: Any, k: Any, v: Any, allowed: Any = None, additive: Any = None) -> Any:
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if additive is not None:
        scores = scores + additive
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    weights = softmax(scores)
    return weights @ v, weights


# ----------------------------------------------------------------- functional
def test_sdpa_plain_causal_and_masks() -> None:
    q, k, v = (rng.standard_normal((2, 3, 4, 5)) for _ in range(3))
    causal = np.tril(np.ones((4, 4), bool))
    allowed = rng.random((2, 1, 4, 4)) < 0.7
    allowed[..., 0] = True  # every query sees something
    additive = rng.standard_normal((4, 4))
    cases: list[tuple[dict[str, Any], Any]] = [
        ({}, attention_reference(q, k, v)[0]),
        ({"is_causal": True}, attention_reference(q, k, v, causal)[0]),
        ({"attn_mask": allowed}, attention_reference(q, k, v, allowed)[0]),
        ({"attn_mask": additive}, attention_reference(q, k, v, None, additive)[0]),
        ({"scale": 0.3}, attention_reference(q * 0.3 * math.sqrt(5), k, v)[0]),
    ]
    for kwargs, expected in cases:
        out = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), **kwargs)
        np.testing.assert_allclose(out.data, expected, rtol=1e-10)
        attention = functools.partial(F.scaled_dot_product_attention, **kwargs)
        assert gradcheck(attention, q[:1, :1], k[:1, :1], v[:1, :1])
        check_compiled(attention, [q, k, v])


def test_sdpa_other_lengths_and_value_width() -> None:
    q, k, v = rng.standard_normal((3, 2)), rng.standard_normal((5, 2)), rng.standard_normal((5, 7))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    np.testing.assert_allclose(
        out.data, attention_reference(q, k, v, np.tril(np.ones((3, 5), bool)))[0], rtol=1e-10
    )


def test_sdpa_dropout_and_errors() -> None:
    q = Tensor(rng.standard_normal((2, 4, 3)))
    mg_nn.manual_seed(0)
    dropped = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).data
    plain = F.scaled_dot_product_attention(q, q, q).data
    assert not np.allclose(dropped, plain)
    np.testing.assert_array_equal(F.scaled_dot_product_attention(q, q, q, dropout_p=1.0).data, 0)
    with pytest.raises(ValueError, match="is_causal and attn_mask are exclusive"):
        F.scaled_dot_product_attention(q, q, q, np.ones((4, 4), bool), is_causal=True)
    with pytest.raises(DTypeError, match="boolean or floating"):
        F.scaled_dot_product_attention(q, q, q, np.ones((4, 4), np.int64))


# ----------------------------------------------------------------- MultiheadAttention
def mha_reference(
    state: dict[str, Any],
    q: Any,
    k: Any,
    v: Any,
    heads: int,
    allowed: Any = None,
    additive: Any = None,
    zero_attn: bool = False,
) -> tuple[Any, Any]:
    """Batch-first (N, L, E) inputs; returns the output and the per-head weights. With
    ``bias_k``/``bias_v`` in ``state`` (add_bias_kv) and ``zero_attn``, PyTorch's
    appended keys and values: the masks given cover the original keys only, and the
    appended ones are allowed for every query."""
    e = q.shape[-1]
    b = state["in_proj_bias"]
    if "in_proj_weight" in state:
        w = state["in_proj_weight"]
        weights = [w[i * e : (i + 1) * e] for i in range(3)]
    else:  # kdim/vdim: PyTorch's separate projections
        weights = [state[f"{name}_proj_weight"] for name in "qkv"]

    def project(x: Any, i: int) -> Any:
        y = x @ weights[i].T + b[i * e : (i + 1) * e]
        appended = [state[name] for name in ("bias_k", "bias_v")[i - 1 : i] if name in state]
        appended += [np.zeros((1, 1, e))] * (zero_attn and i > 0)
        for extra in appended:
            y = np.concatenate([y, np.broadcast_to(extra, (len(y), 1, e))], axis=1)
        return y.reshape(*y.shape[:2], heads, -1).transpose(0, 2, 1, 3)

    added = ("bias_k" in state) + zero_attn

    def pad(mask: Any, fill: Any) -> Any:
        if mask is None or not added:
            return mask
        mask = np.broadcast_to(mask, (*np.shape(mask)[:-2], q.shape[1], k.shape[1]))
        return np.concatenate([mask, np.full((*mask.shape[:-1], added), fill)], axis=-1)

    out, weights = attention_reference(
        project(q, 0), project(k, 1), project(v, 2), pad(allowed, True), pad(additive, 0.0)
    )
    merged = out.transpose(0, 2, 1, 3).reshape(q.shape)
    return merged @ state["out_proj.weight"].T + state["out_proj.bias"], weights


def _mha(batch_first: bool) -> MultiheadAttention:
    mha = MultiheadAttention(8, 2, batch_first=batch_first, generator=3, dtype=np.float64)
    mha.in_proj_bias.assign(rng.standard_normal(24))  # type: ignore[union-attr]
    mha.out_proj.bias.assign(rng.standard_normal(8))  # type: ignore[union-attr]
    return mha


N, L, S, E = 3, 4, 5, 8
PADDING = np.zeros((N, S), bool)
PADDING[0, -2:] = PADDING[2, 0] = True
MASK = rng.random((L, S)) < 0.3
MASK[:, 1] = False
FLOAT_MASK = rng.standard_normal((L, S))
MASK3 = rng.random((N * 2, L, S)) < 0.3
MASK3[..., 2] = False
MHA_CASES: dict[str, tuple[dict[str, Any], Any, Any]] = {  # kwargs, allowed, additive
    "plain": ({}, None, None),
    "bool_mask": ({"attn_mask": MASK}, ~MASK, None),
    "float_mask": ({"attn_mask": FLOAT_MASK}, None, FLOAT_MASK),
    "per_head_mask": ({"attn_mask": MASK3}, ~MASK3.reshape(N, 2, L, S), None),
    "key_padding": ({"key_padding_mask": PADDING}, ~PADDING[:, None, None], None),
    "float_padding": (
        {"key_padding_mask": np.where(PADDING, -np.inf, 0.0)},
        None,
        np.where(PADDING, -np.inf, 0.0)[:, None, None],
    ),
}


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("case", MHA_CASES)
def test_mha_matches_numpy(batch_first: bool, case: str) -> None:
    kwargs, allowed, additive = MHA_CASES[case]
    mha = _mha(batch_first)
    q, k, v = (
        rng.standard_normal((N, L, E)),
        rng.standard_normal((N, S, E)),
        rng.standard_normal((N, S, E)),
    )
    expected, weights = mha_reference(mha.state_dict(), q, k, v, 2, allowed, additive)

    def seq(x: Any) -> Any:
        return x if batch_first else np.swapaxes(x, 0, 1)

    out, averaged = mha(seq(q), seq(k), seq(v), **kwargs)
    np.testing.assert_allclose(out.data, seq(expected), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(averaged.data, weights.mean(1), rtol=1e-10, atol=1e-12)  # type: ignore[union-attr]
    _, per_head = mha(seq(q), seq(k), seq(v), average_attn_weights=False, **kwargs)
    np.testing.assert_allclose(per_head.data, weights, rtol=1e-10, atol=1e-12)  # type: ignore[union-attr]
    assert mha(seq(q), seq(k), seq(v), need_weights=False, **kwargs)[1] is None
    check_compiled(
        lambda a, b, c: mha(a, b, c, **kwargs)[0], [seq(q), seq(k), seq(v)], mha.parameters()
    )


@pytest.mark.parametrize("batch_first", [True, False])
def test_mha_causal_self_attention(batch_first: bool) -> None:
    mha = _mha(batch_first)
    x = rng.standard_normal((N, L, E))
    causal = np.tril(np.ones((L, L), bool))
    expected, _ = mha_reference(mha.state_dict(), x, x, x, 2, causal)
    seq = x if batch_first else np.swapaxes(x, 0, 1)
    out = mha(seq, seq, seq, is_causal=True)[0].data
    np.testing.assert_allclose(out if batch_first else np.swapaxes(out, 0, 1), expected, rtol=1e-10)
    # a PyTorch-style float causal mask gives the same
    float_causal = np.where(causal, 0.0, -np.inf)
    np.testing.assert_allclose(mha(seq, seq, seq, attn_mask=float_causal)[0].data, out, rtol=1e-12)


def test_mha_unbatched_and_gradcheck_through_parameters() -> None:
    mha = _mha(True)
    x = rng.standard_normal((L, E))
    expected, _ = mha_reference(mha.state_dict(), x[None], x[None], x[None], 2)
    out, weights = mha(x, x, x)
    np.testing.assert_allclose(out.data, expected[0], rtol=1e-10)
    assert weights.shape == (L, L)  # type: ignore[union-attr]
    small = MultiheadAttention(4, 2, batch_first=True, generator=1, dtype=np.float64)

    def fn(x: Tensor, w_in: Tensor, b_in: Tensor, w_out: Tensor, b_out: Tensor) -> Tensor:
        small.in_proj_weight, small.in_proj_bias = w_in, b_in
        small.out_proj.weight, small.out_proj.bias = w_out, b_out
        return small(x, x, x, key_padding_mask=np.array([[False, False, True]]))[0]

    state = small.state_dict()
    params = [state[k] + rng.normal(0, 0.1, state[k].shape) for k in state]
    assert gradcheck(fn, rng.standard_normal((1, 3, 4)), *params)


def test_mha_dropout_only_in_training() -> None:
    mha = MultiheadAttention(8, 2, dropout=0.5, batch_first=True, generator=0)
    x = rng.standard_normal((2, 4, 8)).astype(np.float32)
    mg_nn.manual_seed(1)
    train_weights = mha(x, x, x, average_attn_weights=False)[1].data  # type: ignore[union-attr]
    eval_weights = mha.eval()(x, x, x, average_attn_weights=False)[1].data  # type: ignore[union-attr]
    kept = train_weights != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(train_weights[kept], 2 * eval_weights[kept], rtol=1e-6)


def test_mha_parameters_and_errors() -> None:
    mha = MultiheadAttention(6, 3, generator=0)
    assert list(mha.state_dict()) == [
        "in_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    ]
    np.testing.assert_array_equal(mha.state_dict()["in_proj_bias"], 0)
    np.testing.assert_array_equal(mha.state_dict()["out_proj.bias"], 0)
    assert np.abs(mha.state_dict()["in_proj_weight"]).max() <= math.sqrt(6 / (6 + 18))
    assert [n for n, _ in MultiheadAttention(4, 2, bias=False).named_parameters()] == [
        "in_proj_weight",
        "out_proj.weight",
    ]
    with pytest.raises(ValueError, match="not divisible"):
        MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match="kdim"):
        mha(np.zeros((2, 6)), np.zeros((3, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="same rank"):
        mha(np.zeros((2, 6)), np.zeros((1, 2, 6)), np.zeros((1, 2, 6)))


@pytest.mark.parametrize("batch_first", [True, False])
def test_mha_with_kdim_and_vdim_matches_numpy(batch_first: bool) -> None:
    mha = MultiheadAttention(
        8, 2, kdim=3, vdim=5, batch_first=batch_first, generator=4, dtype=np.float64
    )
    assert list(mha.state_dict()) == [  # PyTorch's names and order
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    ]
    assert mha.state_dict()["k_proj_weight"].shape == (8, 3)
    mha.in_proj_bias.assign(rng.standard_normal(24))  # type: ignore[union-attr]
    q, k, v = (rng.standard_normal((N, n, d)) for n, d in ((L, 8), (S, 3), (S, 5)))
    expected, weights = mha_reference(mha.state_dict(), q, k, v, 2, ~MASK, None)

    def seq(x: Any) -> Any:
        return x if batch_first else np.swapaxes(x, 0, 1)

    out, averaged = mha(seq(q), seq(k), seq(v), attn_mask=MASK)
    np.testing.assert_allclose(out.data, seq(expected), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(averaged.data, weights.mean(1), rtol=1e-10, atol=1e-12)  # type: ignore[union-attr]
    check_compiled(lambda a, b, c: mha(a, b, c)[0], [seq(q), seq(k), seq(v)], mha.parameters())

    state = mha.state_dict()
    weights_in = [state[f"{name}_proj_weight"] for name in "qkv"]
    mha.out_proj = mg_nn.Linear(8, 8, bias=False, generator=1, dtype=np.float64)
    out_weight = mha.out_proj.weight.data.copy()

    def fn(w_q: Tensor, w_k: Tensor, w_v: Tensor) -> Tensor:
        mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight = w_q, w_k, w_v
        mha.in_proj_bias = None
        mha.out_proj.weight = Tensor(out_weight, graph=w_q.node.graph)
        return mha(seq(q[:1]), seq(k[:1]), seq(v[:1]))[0]

    assert gradcheck(fn, *weights_in)


@pytest.mark.parametrize("case", MHA_CASES)
@pytest.mark.parametrize(("bias_kv", "zero_attn"), [(True, False), (False, True), (True, True)])
def test_mha_added_keys_match_numpy(case: str, bias_kv: bool, zero_attn: bool) -> None:
    """add_bias_kv and add_zero_attn append a learned and a zero key and value to every
    sequence, which every query may attend to whatever the masks say (PyTorch)."""
    kwargs, allowed, additive = MHA_CASES[case]
    mha = MultiheadAttention(
        E, 2, add_bias_kv=bias_kv, add_zero_attn=zero_attn, generator=5, dtype=np.float64
    )
    mha.in_proj_bias.assign(rng.standard_normal(3 * E))  # type: ignore[union-attr]
    q, k, v = (rng.standard_normal((N, n, E)) for n in (L, S, S))
    state = mha.state_dict()
    expected, weights = mha_reference(state, q, k, v, 2, allowed, additive, zero_attn)
    assert weights.shape[-1] == S + bias_kv + zero_attn
    seq = functools.partial(np.swapaxes, axis1=0, axis2=1)  # the default (L, N, E) layout
    out, per_head = mha(seq(q), seq(k), seq(v), average_attn_weights=False, **kwargs)
    np.testing.assert_allclose(out.data, seq(expected), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(per_head.data, weights, rtol=1e-10, atol=1e-12)  # type: ignore[union-attr]
    check_compiled(
        lambda a, b, c: mha(a, b, c, **kwargs)[0], [seq(q), seq(k), seq(v)], mha.parameters()
    )


def test_mha_added_keys_parameters_causal_and_gradcheck() -> None:
    mha = MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True, generator=2)
    assert list(mha.state_dict()) == [  # PyTorch's names and order
        "in_proj_weight",
        "in_proj_bias",
        "bias_k",
        "bias_v",
        "out_proj.weight",
        "out_proj.bias",
    ]
    assert mha.state_dict()["bias_k"].shape == (1, 1, 4)
    assert 0 < np.abs(mha.state_dict()["bias_v"]).max() < 4  # Glorot normal, std 1/2
    # a causal query still sees the learned and the zero key (unbatched, 3 tokens)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    weights = mha(x, x, x, is_causal=True)[1].data  # type: ignore[union-attr]
    assert weights.shape == (3, 5)
    assert (weights[0, 1:3] == 0).all() and (weights[0, 3:] > 0).all()
    # masks given as tensors are padded the same way as arrays
    for mask in (np.triu(np.ones((3, 3), bool), 1), np.where(np.eye(3) > 0, 0.0, -1.0)):
        want = mha(x, x, x, attn_mask=mask)[0].data
        got = mha(x, x, x, attn_mask=Tensor(mask, dtype=mask.dtype))[0].data
        np.testing.assert_allclose(got, want, rtol=1e-6)

    small = MultiheadAttention(
        4, 2, add_bias_kv=True, add_zero_attn=True, batch_first=True, generator=1,
        dtype=np.float64,
    )  # fmt: skip

    def fn(x: Tensor, bias_k: Tensor, bias_v: Tensor, w_in: Tensor) -> Tensor:
        small.bias_k, small.bias_v, small.in_proj_weight = bias_k, bias_v, w_in
        small.out_proj.weight = Tensor(out_weight, graph=x.node.graph)
        small.in_proj_bias = small.out_proj.bias = None
        return small(x, x, x, key_padding_mask=np.array([[False, True, False]]))[0]

    state = small.state_dict()
    out_weight = state["out_proj.weight"]
    params = [state[name] for name in ("bias_k", "bias_v", "in_proj_weight")]
    assert gradcheck(fn, rng.standard_normal((1, 3, 4)), *params)
