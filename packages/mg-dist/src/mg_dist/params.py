"""`broadcast_parameters`: every rank starts from rank 0's weights, after checking that
every rank built the same parameters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import numpy as np

from mg_dist.runtime import CollectiveError, comm
from mg_graph import describe, user_location
from mg_tensor import Tensor
from mg_tensor.inplace import buffer, written


class HasParameters(Protocol):
    """A model: anything with ``named_parameters()`` (an ``mg_nn.Model``)."""

    def named_parameters(self) -> list[tuple[str, Tensor]]: ...


Parameters = HasParameters | Mapping[str, Tensor] | Iterable[Tensor]


def named(params: Parameters) -> list[tuple[str, Tensor]]:
    """``(name, tensor)`` pairs of a model, a mapping or a list (named by position).

    >>> named([Tensor([1.0], requires_grad=True)])[0][0]
    'parameter 0'
    """
    if hasattr(params, "named_parameters"):
        return list(params.named_parameters())
    if isinstance(params, Mapping):
        return list(params.items())
    return [(f"parameter {k}", p) for k, p in enumerate(params)]


def signature(params: list[tuple[str, Tensor]]) -> list[tuple[str, tuple[int, ...], str]]:
    """What must agree between ranks: names, shapes and dtypes, in order."""
    return [(name, tuple(p.shape), p.dtype.str) for name, p in params]


def first_mismatch(
    signatures: list[list[tuple[str, tuple[int, ...], str]]],
) -> str | None:
    """A sentence naming the first parameter whose name, shape or dtype on some rank
    differs from rank 0's, or None when every rank agrees.

    >>> first_mismatch([[("w", (2,), "<f4")], [("w", (3,), "<f4")]])
    "parameter 'w' is (2,) float32 on rank 0 but (3,) float32 on rank 1"
    """
    ours = signatures[0]
    for r, theirs in enumerate(signatures[1:], start=1):
        for a, b in zip(ours, theirs, strict=False):
            if a == b:
                continue
            if a[0] != b[0]:
                k = ours.index(a)
                return f"parameter {k} is {a[0]!r} on rank 0 but {b[0]!r} on rank {r}"
            return f"parameter {a[0]!r} is {_show(a)} on rank 0 but {_show(b)} on rank {r}"
        if len(ours) != len(theirs):
            where, other = (0, r) if len(ours) > len(theirs) else (r, 0)
            name = (ours if where == 0 else theirs)[min(len(ours), len(theirs))][0]
            return (
                f"parameter {name!r} exists on rank {where} but not on rank {other} "
                f"({len(ours)} parameters on rank 0, {len(theirs)} on rank {r})"
            )
    return None


def _show(entry: tuple[str, tuple[int, ...], str]) -> str:
    return f"{entry[1]} {np.dtype(entry[2])}"


def check_same_parameters(params: Parameters, what: str = "broadcast_parameters") -> None:
    """Raise a `CollectiveError` (on every rank) unless every rank holds parameters of
    the same names, shapes and dtypes; a no-op in a world of one.

    >>> check_same_parameters([Tensor([1.0], requires_grad=True)])
    """
    _check(named(params), what)


def _check(items: list[tuple[str, Tensor]], what: str) -> None:
    c = comm()
    if c is None or c.Get_size() == 1:
        return
    problem = first_mismatch(c.allgather(signature(items)))
    if problem is not None:
        raise CollectiveError(
            describe(
                what,
                f"the ranks built different models: {problem}",
                user_location(),
                "build the same model on every rank (same sizes, layers and dtypes)",
            )
        )


def broadcast_parameters(params: Parameters, root: int = 0) -> None:
    """Give every rank rank ``root``'s parameter values (a model, a mapping of names to
    tensors or a list of tensors), after checking that all ranks hold the same
    parameters: a mismatch raises on every rank, naming the first parameter that
    differs. Call it once, after building the model (and the optimiser).

    >>> from mg_tensor import Tensor
    >>> w = Tensor([1.0, 2.0], requires_grad=True)
    >>> broadcast_parameters([w])  # a no-op in a world of one
    >>> w.data
    array([1., 2.], dtype=float32)
    """
    items = named(params)
    _check(items, "broadcast_parameters")
    c = comm()
    if c is None or c.Get_size() == 1:
        return
    for _, p in items:
        array: Any = buffer(p)
        if array.flags.c_contiguous:
            c.Bcast(array, root=root)
        else:  # MPI needs contiguous memory
            staged = np.ascontiguousarray(array)
            c.Bcast(staged, root=root)
            np.copyto(array, staged)
    written(*(p for _, p in items))
