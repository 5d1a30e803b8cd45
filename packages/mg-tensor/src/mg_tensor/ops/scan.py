"""Scans along one axis: cumsum, cumprod (numpy's ``axis=None`` flattens first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, normalize_axis, probe_dtype

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


__all__ = ["cumprod", "cumsum"]


@dataclass(frozen=True)
class Scan(TensorOp):
    axis: int
    function: ClassVar[Any]

    def infer(self, *inputs: Node) -> Spec:
        return inputs[0].shape, probe_dtype(self.name, type(self).function, inputs)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        return type(self).function(arrays[0], axis=self.axis, out=out)  # type: ignore[no-any-return]


def _reverse_cumsum(g: Tensor, axis: int) -> Tensor:
    from mg_tensor.ops.rearrange import flip

    return flip(cumsum(flip(g, axis), axis), axis)


@dataclass(frozen=True)
class Cumsum(Scan):
    name: ClassVar[str] = "cumsum"
    function = np.cumsum

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [_reverse_cumsum(g, self.axis)]


@dataclass(frozen=True)
class Cumprod(Scan):
    """Running product, with PyTorch's exact gradient when the input holds zeros.

    ``d out_j / d x_k`` is the product of ``x_0..x_j`` without ``x_k``. Before the first
    zero of a line that is ``out_j / x_k``; at the first zero it is the product before
    it times ``x_{k+1}..x_j``, i.e. the running product with that zero read as 1; after
    it, every such product holds the zero, so it is that zero times the same gradient
    one level down (the first zero read as 1, the second zero as the new first). All in
    O(n), in Tensor ops, with no division by a zero. Values are exact, and so are second
    derivatives; third derivatives of a line with two or more zeros are not (the next
    level down is cut to 0).

    >>> from mg_tensor import Tensor, grad
    >>> x = Tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> grad(cumprod(x).sum(), [x])[0].data  # d/dx of 2 + 2*x1 + 2*x1*x2 at x1 = 0
    array([1., 8., 0.], dtype=float32)
    """

    name: ClassVar[str] = "cumprod"
    function = np.cumprod

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor.ops import where

        x, axis = inputs[0], self.axis
        zero = x == 0
        seen = cumsum(zero.astype(g.dtype), axis)  # zeros up to and including each place

        def level(n: int, product: Tensor, after: Tensor | float) -> Tensor:
            """The gradient with a line's first ``n - 1`` zeros read as 1 (``product`` is
            the running product so read), up to and at its n-th zero; ``after`` it."""
            before = (seen == n - 1) & (x != 0)
            divided = _reverse_cumsum(g * product, axis) / where(before, x, 1.0)
            past = cumprod(where(zero & (seen <= n), 1.0, x), axis)  # the n-th read as 1
            at_nth = _reverse_cumsum(where(seen >= n, g * past, 0.0), axis)
            return where(before, divided, where(zero & (seen == n), at_nth, after))

        first = zero & (seen == 1)
        value = where(first, x, 0.0).sum(axis, keepdims=True)  # the first zero, for its gradient
        read_as_one = cumprod(where(first, 1.0, x), axis)
        return [level(1, out, value * level(2, read_as_one, 0.0))]


def _scan(cls: type[Scan], x: Any, axis: int | None) -> Tensor:
    from mg_tensor.ops import _tensor, flatten
    from mg_tensor.ops.core import apply

    t = _tensor(x)
    if axis is None:
        t, axis = flatten(t), 0
    return apply(cls(normalize_axis(cls.name, t.node, axis)[0]), t)


def cumsum(x: Any, axis: int | None = None) -> Tensor:
    """Running sum along ``axis`` (of the flattened tensor when None, as numpy).

    >>> from mg_tensor import Tensor
    >>> cumsum(Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1).data
    array([[1., 3.],
           [3., 7.]], dtype=float32)
    """
    return _scan(Cumsum, x, axis)


def cumprod(x: Any, axis: int | None = None) -> Tensor:
    """Running product along ``axis`` (of the flattened tensor when None, as numpy).

    >>> from mg_tensor import Tensor
    >>> cumprod(Tensor([1.0, 2.0, 3.0])).data
    array([1., 2., 6.], dtype=float32)
    """
    return _scan(Cumprod, x, axis)
