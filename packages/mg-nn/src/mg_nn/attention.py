"""`MultiheadAttention`, as ``torch.nn.MultiheadAttention``: the same parameters
(``in_proj_weight`` (3E, E), ``in_proj_bias``, ``out_proj.weight``, ``out_proj.bias``;
``q/k/v_proj_weight`` instead of ``in_proj_weight`` with ``kdim``/``vdim``),
initialisation, masks and return values. The attention itself is
`mg_nn.functional.attend` (also behind ``F.scaled_dot_product_attention``).

>>> import numpy as np
>>> mha = MultiheadAttention(8, 2, batch_first=True, generator=0)
>>> x = np.ones((3, 5, 8), np.float32)
>>> out, weights = mha(x, x, x, is_causal=True)
>>> out.shape, weights.shape
((3, 5, 8), (3, 5, 5))
>>> list(mha.state_dict())
['in_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias']
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from mg_graph import describe, user_location
from mg_nn import init
from mg_nn.functional import _attention_mask, attend
from mg_nn.layers import Linear
from mg_nn.model import Model
from mg_nn.operands import as_tensor
from mg_tensor import Tensor
from mg_tensor import ops as _t


def _allowed(mask: Any) -> Any:
    """PyTorch's boolean masks of MultiheadAttention mark what is NOT allowed: invert."""
    if isinstance(mask, Tensor):
        return _t.equal(mask, False)
    return np.logical_not(mask)


def _pad_keys(mask: Any, extra: int, boolean: bool) -> Any:
    """``mask`` (..., S) with ``extra`` more columns that mask nothing (False, or 0
    added), for the keys `add_bias_kv` and `add_zero_attn` append."""
    if not extra:
        return mask
    fill = np.zeros((*mask.shape[:-1], extra), np.bool_ if boolean else mask.dtype)
    join = _t.concatenate if isinstance(mask, Tensor) else np.concatenate
    return join([mask, fill], axis=-1)


class MultiheadAttention(Model):
    """Multi-head attention: ``(out, weights) = mha(query, key, value, ...)``.

    Inputs are ``(L, N, E)`` (``(N, L, E)`` with ``batch_first``) or unbatched
    ``(L, E)``. ``key_padding_mask`` (N, S): True (or -inf) marks keys to ignore;
    ``attn_mask`` (L, S) or (N * num_heads, L, S): True marks pairs NOT allowed, a float
    mask is added; ``is_causal=True`` without ``attn_mask`` applies the causal mask.
    ``weights`` are averaged over heads (``average_attn_weights``), or None when
    ``need_weights`` is false. ``dropout`` acts on the weights in training mode.
    With ``kdim``/``vdim`` other than ``embed_dim`` the key and value have widths of
    their own and, as in PyTorch, the projections are three parameters
    (``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight``) instead of
    ``in_proj_weight``. ``add_bias_kv`` appends a learned key and value (``bias_k``,
    ``bias_v``, (1, 1, embed_dim)) to the projected keys and values of every sequence,
    ``add_zero_attn`` a key and value of zeros after them; the masks are padded so
    every query may attend to them, as in PyTorch.

    >>> mha = MultiheadAttention(4, 2, kdim=3, vdim=5, batch_first=True)
    >>> out, weights = mha(np.ones((1, 2, 4)), np.ones((1, 6, 3)), np.ones((1, 6, 5)))
    >>> out.shape, weights.shape
    ((1, 2, 4), (1, 2, 6))
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        *,
        generator: init.GeneratorLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim={embed_dim} is not divisible by "
                f"num_heads={num_heads}"
            )
        self.embed_dim = embed_dim
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        rng = init.as_generator(generator)

        def weight(name: str, shape: tuple[int, int]) -> Tensor:
            values = init.xavier_uniform(shape, generator=rng, dtype=dtype)
            return Tensor(values, requires_grad=True, name=name)

        self.in_proj_weight: Tensor | None = None
        self.q_proj_weight: Tensor | None = None
        self.k_proj_weight: Tensor | None = None
        self.v_proj_weight: Tensor | None = None
        if self.kdim == self.vdim == embed_dim:
            self.in_proj_weight = weight("in_proj_weight", (3 * embed_dim, embed_dim))
        else:
            self.q_proj_weight = weight("q_proj_weight", (embed_dim, embed_dim))
            self.k_proj_weight = weight("k_proj_weight", (embed_dim, self.kdim))
            self.v_proj_weight = weight("v_proj_weight", (embed_dim, self.vdim))
        self.in_proj_bias = (
            Tensor(init.zeros(3 * embed_dim, dtype=dtype), requires_grad=True, name="in_proj_bias")
            if bias
            else None
        )
        out_proj = Linear(embed_dim, embed_dim, bias, generator=rng, dtype=dtype)
        if out_proj.bias is not None:
            out_proj.bias.assign(np.zeros(embed_dim, dtype))
        self.bias_k: Tensor | None = None  # before out_proj: PyTorch's parameter order
        self.bias_v: Tensor | None = None
        if add_bias_kv:
            for name in ("bias_k", "bias_v"):
                values = init.xavier_normal((1, 1, embed_dim), generator=rng, dtype=dtype)
                setattr(self, name, Tensor(values, requires_grad=True, name=name))
        self.add_zero_attn = add_zero_attn
        self.out_proj = out_proj

    def _project(self, x: Tensor, rows: slice, which: int = 0) -> Tensor:
        """``x`` times rows ``rows`` of the stacked projection (query, key, value = 0,
        1, 2), or the separate ``which`` projection when kdim/vdim differ."""
        if self.in_proj_weight is not None:
            weight = self.in_proj_weight[rows]
        else:
            weight = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[which]  # type: ignore[assignment]
        bias = None if self.in_proj_bias is None else self.in_proj_bias[rows]
        return x @ weight.T if bias is None else x @ weight.T + bias

    def _heads(self, x: Tensor) -> Tensor:
        """(N, L, E) -> (N, H, L, E / H)."""
        n, length, _ = x.shape
        split = _t.reshape(x, (n, length, self.num_heads, -1))
        return _t.transpose(split, (0, 2, 1, 3))

    def forward(
        self,
        query: Any,
        key: Any,
        value: Any,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        q_in, k_in, v_in = self._inputs(query, key, value)
        batched = q_in.ndim == 3
        q, k, v = self._qkv(q_in, k_in, v_in, batched)
        n, _, length, _ = q.shape
        allowed, additive = self._masks(
            attn_mask, key_padding_mask, is_causal, (n, length, k.shape[2])
        )
        dropout = self.dropout if self.training else 0.0
        out, weights = attend(q, k, v, allowed, additive, dropout)
        merged = _t.reshape(_t.transpose(out, (0, 2, 1, 3)), (n, length, self.embed_dim))
        result = self._caller_layout(self.out_proj(merged), batched)
        if not need_weights:
            return result, None
        if average_attn_weights:
            weights = weights.mean(1)
        return result, weights if batched else weights[0]

    def _inputs(self, query: Any, key: Any, value: Any) -> tuple[Tensor, Tensor, Tensor]:
        """query, key and value as tensors (the same tensor where the caller passed the
        same object), checked to be all (L, E) or all batched."""
        like = self.out_proj.weight  # a parameter: its graph and dtype
        q_in = as_tensor(query, like)
        k_in = q_in if key is query else as_tensor(key, like)
        v_in = k_in if value is key else as_tensor(value, like)
        if q_in.ndim not in (2, 3) or k_in.ndim != q_in.ndim or v_in.ndim != k_in.ndim:
            raise ValueError(
                describe(
                    "MultiheadAttention",
                    f"query {q_in.shape}, key {k_in.shape} and value {v_in.shape} must "
                    f"all be (L, E) or all batched",
                    user_location(),
                    "give key and value the same shape, and all three the same rank",
                )
            )
        widths = (q_in.shape[-1], k_in.shape[-1], v_in.shape[-1])
        if k_in.shape[:-1] != v_in.shape[:-1] or widths != (self.embed_dim, self.kdim, self.vdim):
            raise ValueError(
                describe(
                    "MultiheadAttention",
                    f"query {q_in.shape}, key {k_in.shape} and value {v_in.shape} need "
                    f"widths (embed_dim, kdim, vdim) = {(self.embed_dim, self.kdim, self.vdim)} "
                    "and key and value the same leading axes",
                    user_location(),
                    "pass kdim=/vdim= for keys and values of other widths",
                )
            )
        return q_in, k_in, v_in

    def _batch_major(self, t: Tensor, batched: bool) -> Tensor:
        """The caller's layout -> (N, L, E)."""
        if not batched:
            return _t.expand_dims(t, 0)
        return t if self.batch_first else _t.swapaxes(t, 0, 1)

    def _caller_layout(self, t: Tensor, batched: bool) -> Tensor:
        """(N, L, E) -> the caller's layout (the inverse of `_batch_major`)."""
        if not batched:
            return t[0]
        return t if self.batch_first else _t.swapaxes(t, 0, 1)

    def _qkv(
        self, q_in: Tensor, k_in: Tensor, v_in: Tensor, batched: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The projected query, key and value (the added keys and values appended), split
        into heads: (N, H, L, E / H)."""
        e = self.embed_dim
        if q_in is k_in is v_in and self.in_proj_weight is not None:  # one projection
            qkv = self._project(self._batch_major(q_in, batched), slice(None))
            q, k, v = (qkv[..., i * e : (i + 1) * e] for i in range(3))
        else:
            q, k, v = (
                self._project(self._batch_major(t, batched), slice(i * e, (i + 1) * e), i)
                for i, t in enumerate((q_in, k_in, v_in))
            )
        k, v = self._appended(k, self.bias_k), self._appended(v, self.bias_v)
        return self._heads(q), self._heads(k), self._heads(v)

    @property
    def _added_keys(self) -> int:
        """How many keys `add_bias_kv` and `add_zero_attn` append to every sequence."""
        return (self.bias_k is not None) + int(self.add_zero_attn)

    def _appended(self, t: Tensor, learned: Tensor | None) -> Tensor:
        """Projected keys or values (N, S, E) followed by the learned one and the zero one."""
        n, e = t.shape[0], self.embed_dim
        parts: list[Any] = [t]
        if learned is not None:
            parts.append(_t.broadcast_to(learned, (n, 1, e)))
        if self.add_zero_attn:
            parts.append(np.zeros((n, 1, e), t.dtype))
        return t if len(parts) == 1 else _t.concatenate(parts, axis=1)

    def _masks(
        self, attn_mask: Any, key_padding_mask: Any, is_causal: bool, sizes: tuple[int, int, int]
    ) -> tuple[list[Any], list[Any]]:
        """(allowed, additive): PyTorch's masks as `attend` takes them, broadcastable to
        (N, H, L, S) for ``sizes`` (N, L, S), S counting the appended keys, which every
        query may attend to."""
        n, length, total = sizes
        extra = self._added_keys
        source = total - extra
        allowed: list[Any] = []
        additive: list[Any] = []

        def add_mask(mask: Any, boolean: bool) -> None:
            mask = _pad_keys(mask, extra, boolean)
            if boolean:
                allowed.append(_allowed(mask))
            else:
                additive.append(mask)

        if attn_mask is not None:
            mask, boolean = _attention_mask(attn_mask, "MultiheadAttention")
            add_mask(
                mask.reshape((n, self.num_heads, length, source)) if mask.ndim == 3 else mask,
                boolean,
            )
        elif is_causal:
            add_mask(np.triu(np.ones((length, source), np.bool_), 1), True)  # True: masked
        if key_padding_mask is not None:
            mask, boolean = _attention_mask(key_padding_mask, "MultiheadAttention")
            add_mask(mask.reshape((n, 1, 1, source)), boolean)
        return allowed, additive

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
            f"dropout={self.dropout}, batch_first={self.batch_first}"
        )


__all__ = ["MultiheadAttention"]
