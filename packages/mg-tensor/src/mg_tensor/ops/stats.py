"""More reductions: var, std, prod, logsumexp, norm, any, all.

``var``/``std`` take numpy's ``ddof`` as ``correction`` (PyTorch's name): the divisor is
``n - correction``. Each reduction's gradient is written in Tensor ops, so it is itself
differentiable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_tensor.ops.base import Grads, normalize_axis, shape_error
from mg_tensor.ops.core import apply
from mg_tensor.ops.reduce import Reduce, reduced_shape
from mg_tensor.ops.unary import Sign

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor

__all__ = ["all", "any", "logsumexp", "norm", "prod", "std", "var"]

Axis = int | tuple[int, ...] | list[int] | None


def _count(x: Tensor, axes: tuple[int, ...]) -> int:
    return math.prod(x.shape[a] for a in axes)


@dataclass(frozen=True)
class Var(Reduce):
    """Variance with divisor ``n - correction`` (numpy's ddof)."""

    correction: float = 0.0
    name: ClassVar[str] = "var"
    function = np.var

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        x = arrays[0]
        with np.errstate(all="ignore"):  # n <= correction: inf/nan, as numpy and PyTorch
            result: NDArray[Any] = np.var(
                x, axis=self.axes, ddof=self.correction, keepdims=self.keepdims, out=out
            )
        return result

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x = inputs[0]
        centred = x - x.mean(self.axes, keepdims=True)
        divisor = _count(x, self.axes) - self.correction
        scale = 2 / divisor if divisor else math.inf  # n == correction: inf/nan, as forward
        return [self.kept(g) * centred * scale]


@dataclass(frozen=True)
class Prod(Reduce):
    """Product; the gradient (the product of the other elements) is exact at zeros too."""

    name: ClassVar[str] = "prod"
    function = np.prod

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor import ops
        from mg_tensor.tensor import Tensor

        x = inputs[0]
        others = [a for a in range(x.ndim) if a not in self.axes]
        perm = (*others, *self.axes)
        lined = ops.transpose(x, perm).reshape(
            (*(x.shape[a] for a in others), _count(x, self.axes))
        )
        if lined.shape[-1] == 0:
            return [x * 0]
        # product of the other elements = (exclusive cumprod from the left) * (from the right)
        ones = Tensor(np.ones((*lined.shape[:-1], 1), lined.dtype), graph=lined.graph)
        left = ops.concatenate([ones, ops.cumprod(lined, -1)[..., :-1]], -1)
        right = ops.flip(
            ops.concatenate([ones, ops.cumprod(ops.flip(lined, -1), -1)[..., :-1]], -1), -1
        )
        rest = (left * right).reshape(tuple(x.shape[a] for a in perm))
        rest = ops.transpose(rest, tuple(int(i) for i in np.argsort(perm)))
        return [self.kept(g) * rest]


@dataclass(frozen=True)
class LogSumExp(Reduce):
    """``log(sum(exp(x)))`` computed with the maximum subtracted (no overflow)."""

    name: ClassVar[str] = "logsumexp"
    function = np.exp  # the dtype rule (Reduce.infer): float, as exp's

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        x = arrays[0]
        m = np.max(x, axis=self.axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0)  # all -inf (or an empty axis): exp(x - 0)
        with np.errstate(divide="ignore"):
            s = np.log(np.sum(np.exp(x - m), axis=self.axes, keepdims=True)) + m
        result = s if self.keepdims else s.reshape(reduced_shape(x.shape, self.axes, False))
        if out is None:
            cast: NDArray[Any] = result.astype(np.result_type(x.dtype, np.float16), copy=False)
            return cast
        np.copyto(out, result, casting="unsafe")
        return out

    def kernel(self) -> Any:
        return self.forward

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [self.kept(g) * (inputs[0] - self.kept(out)).exp()]


@dataclass(frozen=True)
class VectorNorm(Reduce):
    """The p-norm of the elements over ``axes`` (p = 2, 1, inf, -inf, 0 or any float)."""

    p: float = 2.0
    name: ClassVar[str] = "norm"
    function = np.sqrt  # the dtype rule: float, as sqrt's

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        x = np.asarray(np.abs(arrays[0]))  # a 0-d input gives a scalar: make it an array
        x = x.astype(np.result_type(x.dtype, np.float16), copy=False)
        kw: dict[str, Any] = {"axis": self.axes, "keepdims": self.keepdims, "out": out}
        p = self.p
        if p == np.inf:
            return np.max(x, initial=0.0, **kw)  # type: ignore[no-any-return]
        if p == -np.inf:
            return np.min(x, initial=np.inf, **kw)  # type: ignore[no-any-return]
        if p == 0:
            return np.sum(x != 0, dtype=x.dtype, **kw)  # type: ignore[no-any-return]
        if p == 1:
            return np.sum(x, **kw)  # type: ignore[no-any-return]
        if p == 2:
            result = np.sum(np.square(x, out=x), **kw)
        else:
            result = np.sum(np.power(x, p, out=x), **kw)
        result = np.asarray(result)
        return np.power(result, 1 / p, out=result)  # type: ignore[no-any-return]

    def kernel(self) -> Any:
        return self.forward

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        from mg_tensor import ops

        x = inputs[0]
        gk, nk = self.kept(g), self.kept(out)
        sign = apply(Sign(), x)
        if self.p in (np.inf, -np.inf):  # ties share, as max does
            hit = (x.abs() == nk).astype(g.dtype)
            return [gk * sign * hit / hit.sum(self.axes, keepdims=True)]
        if self.p == 0:
            return [None]
        if self.p == 1:
            return [gk * sign]
        safe = ops.where(nk == 0, 1, nk)  # the gradient at the zero vector is 0, as PyTorch
        if self.p == 2:
            return [gk * x / safe]
        return [gk * sign * x.abs() ** (self.p - 1) / safe ** (self.p - 1)]


@dataclass(frozen=True)
class AnyOf(Reduce):
    name: ClassVar[str] = "any"
    function = np.any
    differentiable: ClassVar[bool] = False


@dataclass(frozen=True)
class AllOf(Reduce):
    name: ClassVar[str] = "all"
    function = np.all
    differentiable: ClassVar[bool] = False


def _reduce(cls: type[Reduce], x: Any, axis: Axis, keepdims: bool, **params: Any) -> Tensor:
    from mg_tensor.ops import _tensor

    t = _tensor(x)
    return apply(cls(normalize_axis(cls.name, t.node, axis), keepdims, **params), t)


def var(x: Any, axis: Axis = None, keepdims: bool = False, correction: float = 0) -> Tensor:
    """Variance with divisor ``n - correction`` (numpy's default 0; ``ddof`` in numpy).

    >>> from mg_tensor import Tensor
    >>> var(Tensor([1.0, 2.0, 3.0, 4.0])).data
    array(1.25, dtype=float32)
    >>> var(Tensor([1.0, 2.0, 3.0, 4.0]), correction=1).data.round(4)
    np.float32(1.6667)
    """
    return _reduce(Var, x, axis, keepdims, correction=float(correction))


def std(x: Any, axis: Axis = None, keepdims: bool = False, correction: float = 0) -> Tensor:
    """Standard deviation, ``sqrt(var(...))``.

    >>> from mg_tensor import Tensor
    >>> std(Tensor([1.0, 3.0])).data
    array(1., dtype=float32)
    """
    return var(x, axis, keepdims, correction).sqrt()


def prod(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis``.

    >>> from mg_tensor import Tensor
    >>> prod(Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1).data
    array([ 2., 12.], dtype=float32)
    """
    return _reduce(Prod, x, axis, keepdims)


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis``, without overflow.

    >>> from mg_tensor import Tensor
    >>> logsumexp(Tensor([1000.0, 1000.0])).data.round(3)
    np.float32(1000.693)
    """
    return _reduce(LogSumExp, x, axis, keepdims)


def norm(x: Any, p: float | str = 2, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Vector p-norm of the elements over ``axis`` (all by default): p = 2, 1, inf, -inf,
    0 (count of nonzeros) or any other float. The gradient at 0 is 0.

    >>> from mg_tensor import Tensor
    >>> norm(Tensor([3.0, -4.0])).data
    array(5., dtype=float32)
    >>> norm(Tensor([3.0, -4.0]), p=float("inf")).data
    array(4., dtype=float32)
    """
    if p == "fro":
        p = 2
    if not isinstance(p, int | float) or isinstance(p, bool):
        from mg_tensor.ops import _tensor

        raise shape_error(
            "norm", [_tensor(x).node], f"unsupported p={p!r}", "use a number, inf or 'fro'"
        )
    return _reduce(VectorNorm, x, axis, keepdims, p=float(p))


def any(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """True if some element over ``axis`` is nonzero.

    >>> from mg_tensor import Tensor
    >>> any(Tensor([[0.0, 1.0], [0.0, 0.0]]), axis=1).data
    array([ True, False])
    """
    return _reduce(AnyOf, x, axis, keepdims)


def all(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """True if every element over ``axis`` is nonzero.

    >>> from mg_tensor import Tensor
    >>> all(Tensor([[1.0, 1.0], [0.0, 1.0]]), axis=1).data
    array([ True, False])
    """
    return _reduce(AllOf, x, axis, keepdims)
