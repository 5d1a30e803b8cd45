"""einsum (with its gradient: an einsum per operand) and outer.

The subscripts are normalised when the node is built: ``...`` becomes letters and an
implicit output is made explicit, so the op is one equation ``"ij,jk->ik"``.
"""

from __future__ import annotations

import functools
import math
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, probe_dtype, shape_error

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


__all__ = ["einsum", "outer"]


def _product(*arrays: NDArray[Any]) -> NDArray[Any]:
    """The dtype rule: that of the operands' product."""
    return functools.reduce(np.multiply, arrays)


@dataclass(frozen=True)
class _MatmulPlan:
    """A two-operand einsum as one batched matmul (BLAS), as PyTorch computes it: each
    operand summed over its own letters, transposed to (batch, free, contracted) and
    reshaped to 3 groups; the product reshaped and transposed to the output's order."""

    sum_a: tuple[int, ...]
    sum_b: tuple[int, ...]
    perm_a: tuple[int, ...]
    perm_b: tuple[int, ...]
    shape_a: tuple[int, ...]
    shape_b: tuple[int, ...]
    product: tuple[int, ...]  # (batch..., left, right): the matmul's result
    grouped: tuple[int, ...]  # (batch..., left..., right...) sizes of the product
    perm_out: tuple[int, ...]

    def run(self, a: NDArray[Any], b: NDArray[Any], out: NDArray[Any] | None) -> NDArray[Any]:
        if self.sum_a:
            a = a.sum(self.sum_a)
        if self.sum_b:
            b = b.sum(self.sum_b)
        a3 = a.transpose(self.perm_a).reshape(self.shape_a)
        b3 = b.transpose(self.perm_b).reshape(self.shape_b)
        if out is not None and out.flags.c_contiguous and self.perm_out == tuple(range(out.ndim)):
            np.matmul(a3, b3, out=out.reshape(self.product))  # straight into the buffer
            return out
        product: NDArray[Any] = np.matmul(a3, b3).reshape(self.grouped).transpose(self.perm_out)
        if out is None:
            return product
        np.copyto(out, product)
        return out


@functools.lru_cache(maxsize=1024)
def _matmul_plan(equation: str, shapes: tuple[tuple[int, ...], ...]) -> _MatmulPlan | None:
    """The matmul form of a two-operand equation, or None (repeated letters in an operand,
    or a contracted axis that broadcasts: numpy's einsum does those)."""
    (la, lb), lo = _parse(equation)
    if len(set(la)) != len(la) or len(set(lb)) != len(lb):
        return None
    sa = dict(zip(la, shapes[0], strict=True))
    sb = dict(zip(lb, shapes[1], strict=True))
    batch = [c for c in lo if c in sa and c in sb]
    left = [c for c in lo if c in sa and c not in sb]
    right = [c for c in lo if c in sb and c not in sa]
    inner = [c for c in la if c in sb and c not in lo]
    if any(sa[c] != sb[c] for c in inner):
        return None
    kept_a = [c for c in la if c in lo or c in sb]
    kept_b = [c for c in lb if c in lo or c in sa]
    size = math.prod
    batch_a = tuple(sa[c] for c in batch)
    batch_b = tuple(sb[c] for c in batch)
    k = size(sa[c] for c in inner)
    grouped_batch = tuple(max(sa[c], sb[c]) for c in batch)
    return _MatmulPlan(
        sum_a=tuple(i for i, c in enumerate(la) if c not in kept_a),
        sum_b=tuple(i for i, c in enumerate(lb) if c not in kept_b),
        perm_a=tuple(kept_a.index(c) for c in (*batch, *left, *inner)),
        perm_b=tuple(kept_b.index(c) for c in (*batch, *inner, *right)),
        shape_a=(*batch_a, size(sa[c] for c in left), k),
        shape_b=(*batch_b, k, size(sb[c] for c in right)),
        product=(*grouped_batch, size(sa[c] for c in left), size(sb[c] for c in right)),
        grouped=(*grouped_batch, *(sa[c] for c in left), *(sb[c] for c in right)),
        perm_out=tuple((*batch, *left, *right).index(c) for c in lo),
    )


@functools.lru_cache(maxsize=1024)
def _path(equation: str, shapes: tuple[tuple[int, ...], ...]) -> list[Any]:
    """numpy's contraction order for these shapes, found once (not on every replay): its
    pairwise steps go through BLAS (tensordot) where they can."""
    dummies = [np.broadcast_to(np.zeros(()), shape) for shape in shapes]
    path: list[Any] = np.einsum_path(equation, *dummies, optimize="greedy")[0]
    return path


def _parse(equation: str) -> tuple[list[str], str]:
    ins, out = equation.split("->")
    return ins.split(","), out


@dataclass(frozen=True)
class Einsum(TensorOp):
    """An explicit equation without ellipses, e.g. ``"bij,bjk->bik"``."""

    equation: str
    name: ClassVar[str] = "einsum"

    def infer(self, *inputs: Node) -> Spec:
        ins, out = _parse(self.equation)
        sizes: dict[str, int] = {}
        for letters, node in zip(ins, inputs, strict=True):
            if len(letters) != node.ndim:
                raise shape_error(
                    "einsum",
                    inputs,
                    f"{letters!r} names {len(letters)} axes of a {node.ndim}-d operand",
                    "give one letter per axis (or use ...)",
                )
            for letter, n in zip(letters, node.shape, strict=True):
                seen = sizes.setdefault(letter, n)
                if seen != n and 1 not in (seen, n):
                    raise shape_error(
                        "einsum",
                        inputs,
                        f"axis {letter!r} has sizes {seen} and {n}",
                        "make the axes that share a letter equal",
                    )
                sizes[letter] = max(seen, n) if 1 in (seen, n) else n
        return tuple(sizes[c] for c in out), probe_dtype("einsum", _product, inputs)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        shapes = tuple(a.shape for a in arrays)
        plan = _matmul_plan(self.equation, shapes) if len(arrays) == 2 else None
        if plan is not None:
            return plan.run(arrays[0], arrays[1], out)
        path = _path(self.equation, shapes)
        result: NDArray[Any] = np.einsum(self.equation, *arrays, out=out, optimize=path)
        return result

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor.ops import broadcast_to
        from mg_tensor.ops.core import apply

        ins, result = _parse(self.equation)
        grads: list[Tensor | None] = []
        for i, (letters, x) in enumerate(zip(ins, inputs, strict=True)):
            if not needed[i]:
                grads.append(None)
                continue
            unique = "".join(dict.fromkeys(letters))  # a diagonal's letter once
            others = [(ls, t) for j, (ls, t) in enumerate(zip(ins, inputs, strict=True)) if j != i]
            known = set(result).union(*(set(ls) for ls, _ in others))
            kept = "".join(c for c in unique if c in known)  # the rest were summed away
            equation = ",".join([result, *(ls for ls, _ in others)]) + "->" + kept
            part = apply(Einsum(equation), g, *(t for _, t in others))
            # letters summed away, or of size 1 in the others, are spread back over x;
            # where x had size 1 and the others more, autodiff sums the excess
            sizes = dict(zip(kept, part.shape, strict=True))
            width = dict(zip(letters, x.shape, strict=True))
            part = part.reshape(tuple(sizes.get(c, 1) for c in unique))
            part = broadcast_to(part, tuple(max(sizes.get(c, 1), width[c]) for c in unique))
            grads.append(part if unique == letters else _onto_diagonals(part, letters, x.shape))
        return grads


def _onto_diagonals(part: Tensor, letters: str, shape: tuple[int, ...]) -> Tensor:
    """``part`` (one axis per distinct letter, in order of first use) laid out as
    ``letters`` (``shape``), nonzero only where the axes sharing a letter have equal
    indices: the gradient of taking a diagonal (``einsum("ii->i", x)``)."""
    first = [letters.index(c) == k for k, c in enumerate(letters)]
    spread = part.reshape(tuple(n if f else 1 for n, f in zip(shape, first, strict=True)))
    mask = np.ones(shape, bool)
    for k, c in enumerate(letters):
        if not first[k]:  # its index equals the index along the letter's first axis
            mask &= _index(shape, k) == _index(shape, letters.index(c))
    return spread * mask.astype(part.dtype)


def _index(shape: tuple[int, ...], axis: int) -> NDArray[Any]:
    """The index along ``axis``, shaped to broadcast against ``shape``."""
    return np.arange(shape[axis]).reshape([n if a == axis else 1 for a, n in enumerate(shape)])


def _normalise(subscripts: str, ndims: list[int]) -> str:
    """Explicit output, ellipses replaced by unused letters."""
    spec = subscripts.replace(" ", "")
    ins, _, out = spec.partition("->")
    terms = ins.split(",")
    if len(terms) != len(ndims):
        raise ValueError(
            f"einsum: {len(terms)} operand terms in {subscripts!r} for {len(ndims)} operands"
        )
    free = [c for c in string.ascii_letters if c not in spec]
    width = max(
        (n - len(t.replace("...", "")) for t, n in zip(terms, ndims, strict=True) if "..." in t),
        default=0,
    )
    ell = "".join(free[:width])
    terms = [
        t.replace("...", ell[width - (n - len(t.replace("...", ""))) :]) if "..." in t else t
        for t, n in zip(terms, ndims, strict=True)
    ]
    if "->" not in spec:
        counts = {c: "".join(terms).count(c) for c in "".join(terms)}
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return ",".join(terms) + "->" + out


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """numpy's ``einsum`` (``...`` and implicit outputs included), differentiable in every
    operand.

    >>> from mg_tensor import Tensor
    >>> a = Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> einsum("ij,jk->ik", a, a).data
    array([[ 7., 10.],
           [15., 22.]], dtype=float32)
    >>> einsum("ii", a).data
    array(5., dtype=float32)
    """
    from mg_tensor.ops import _tensor
    from mg_tensor.ops.core import apply

    ts = [_tensor(o) for o in operands]
    return apply(Einsum(_normalise(subscripts, [t.ndim for t in ts])), *ts)


def outer(a: Any, b: Any) -> Tensor:
    """Outer product of the flattened inputs (numpy's and PyTorch's ``outer``).

    >>> from mg_tensor import Tensor
    >>> outer(Tensor([1.0, 2.0]), Tensor([3.0, 4.0])).data
    array([[3., 4.],
           [6., 8.]], dtype=float32)
    """
    from mg_tensor.ops import _tensor

    return _tensor(a).reshape(-1, 1) * _tensor(b).reshape(1, -1)
