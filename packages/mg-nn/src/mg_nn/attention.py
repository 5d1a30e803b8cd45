"""`MultiheadAttention`, as ``torch.nn.MultiheadAttention``: the same parameters
(``in_proj_weight`` (3E, E), ``in_proj_bias``, ``out_proj.weight``, ``out_proj.bias``),
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


class MultiheadAttention(Model):
    """Multi-head attention: ``(out, weights) = mha(query, key, value, ...)``.

    Inputs are ``(L, N, E)`` (``(N, L, E)`` with ``batch_first``) or unbatched
    ``(L, E)``. ``key_padding_mask`` (N, S): True (or -inf) marks keys to ignore;
    ``attn_mask`` (L, S) or (N * num_heads, L, S): True marks pairs NOT allowed, a float
    mask is added; ``is_causal=True`` without ``attn_mask`` applies the causal mask.
    ``weights`` are averaged over heads (``average_attn_weights``), or None when
    ``need_weights`` is false. ``dropout`` acts on the weights in training mode.
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
        if (
            add_bias_kv
            or add_zero_attn
            or kdim not in (None, embed_dim)
            or vdim
            not in (
                None,
                embed_dim,
            )
        ):
            raise NotImplementedError(
                "MultiheadAttention: add_bias_kv, add_zero_attn and kdim/vdim other than "
                "embed_dim are not supported"
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        rng = init.as_generator(generator)
        shape = (3 * embed_dim, embed_dim)
        self.in_proj_weight = Tensor(
            init.xavier_uniform(shape, generator=rng, dtype=dtype),
            requires_grad=True,
            name="in_proj_weight",
        )
        self.in_proj_bias = (
            Tensor(init.zeros(3 * embed_dim, dtype=dtype), requires_grad=True, name="in_proj_bias")
            if bias
            else None
        )
        self.out_proj = Linear(embed_dim, embed_dim, bias, generator=rng, dtype=dtype)
        if self.out_proj.bias is not None:
            self.out_proj.bias.assign(np.zeros(embed_dim, dtype))

    def _project(self, x: Tensor, rows: slice) -> Tensor:
        weight = self.in_proj_weight[rows]
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
        q_in = as_tensor(query, self.in_proj_weight)
        k_in = q_in if key is query else as_tensor(key, self.in_proj_weight)
        v_in = k_in if value is key else as_tensor(value, self.in_proj_weight)
        if q_in.ndim not in (2, 3) or k_in.ndim != q_in.ndim or v_in.shape != k_in.shape:
            raise ValueError(
                describe(
                    "MultiheadAttention",
                    f"query {q_in.shape}, key {k_in.shape} and value {v_in.shape} must "
                    f"all be (L, E) or all batched",
                    user_location(),
                    "give key and value the same shape, and all three the same rank",
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
        """The projected query, key and value, split into heads: (N, H, L, E / H)."""
        e = self.embed_dim
        if q_in is k_in is v_in:  # self-attention: one projection for all three
            qkv = self._project(self._batch_major(q_in, batched), slice(None))
            q, k, v = (self._heads(qkv[..., i * e : (i + 1) * e]) for i in range(3))
            return q, k, v
        q, k, v = (
            self._heads(self._project(self._batch_major(t, batched), slice(i * e, (i + 1) * e)))
            for i, t in enumerate((q_in, k_in, v_in))
        )
        return q, k, v

    def _masks(
        self, attn_mask: Any, key_padding_mask: Any, is_causal: bool, sizes: tuple[int, int, int]
    ) -> tuple[list[Any], list[Any]]:
        """(allowed, additive): PyTorch's masks as `attend` takes them, broadcastable to
        (N, H, L, S) for ``sizes`` (N, L, S)."""
        n, length, source = sizes
        allowed: list[Any] = []
        additive: list[Any] = []

        def add_mask(mask: Any, boolean: bool) -> None:
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
            allowed.append(np.tril(np.ones((length, source), np.bool_)))
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
