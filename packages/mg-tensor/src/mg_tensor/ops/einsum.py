"""einsum (with its gradient: an einsum per operand) and outer.

The subscripts are normalised when the node is built: ``...`` becomes letters and an
implicit output is made explicit, so the op is one equation ``"ij,jk->ik"``.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import GradientError, Node, describe, user_location
from mg_tensor.ops.base import Grads, Spec, TensorOp, probe_dtype, shape_error

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


__all__ = ["einsum", "outer"]


def _product(*arrays: NDArray[Any]) -> NDArray[Any]:
    """The dtype rule: that of the operands' product."""
    return functools.reduce(np.multiply, arrays)


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
        # optimize: contractions go through BLAS (tensordot) in a good pairwise order
        result: NDArray[Any] = np.einsum(self.equation, *arrays, out=out, optimize=True)
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
            if len(set(letters)) != len(letters):
                raise GradientError(
                    describe(
                        "einsum",
                        f"no gradient for the repeated axis letters of {letters!r} (a diagonal)",
                        user_location(),
                        "take the diagonal with indexing instead",
                    )
                )
            others = [(ls, t) for j, (ls, t) in enumerate(zip(ins, inputs, strict=True)) if j != i]
            known = set(result).union(*(set(ls) for ls, _ in others))
            kept = "".join(c for c in letters if c in known)  # the rest were summed away
            equation = ",".join([result, *(ls for ls, _ in others)]) + "->" + kept
            part = apply(Einsum(equation), g, *(t for _, t in others))
            shape = tuple(n if c in known else 1 for c, n in zip(letters, x.shape, strict=True))
            grads.append(broadcast_to(part.reshape(shape), x.shape) if kept != letters else part)
        return grads


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
