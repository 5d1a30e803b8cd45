"""The Tensor methods of the op families, in numpy's and PyTorch's spellings.

`Tensor` inherits `TensorMethods`. The rules where the two libraries disagree (the
table is docs/pytorch-spellings.md):

* The Tensor speaks numpy by default: ``axis=``/``keepdims=``, and a positional call
  the two read differently (``t.max(1)``, ``t.repeat(2, 1)``, ``t.transpose(0, 1)``)
  follows numpy.
* PyTorch's keywords (``dim=``, ``keepdim=``, ``correction=``, ``unbiased=``,
  ``dim0=``/``dim1=``) give PyTorch's behaviour and return type: ``t.max(dim=1)`` is a
  ``(values, indices)`` pair, ``t.var(dim=0)`` divides by ``n - 1``.
* Methods numpy's ndarray lacks (``split``, ``chunk``, ``topk``, ``permute``, ``view``,
  ``gather``, ``masked_fill``, ``flip``, ``roll``, ``tile``, ``norm``...) follow PyTorch.
* ``t.size`` is numpy's element count, and callable as PyTorch's ``t.size()``.
* ``np.mean(t)``, ``np.sum(t)``, ``np.exp(t)``... build graph nodes (numpy's meaning);
  a numpy function without a Tensor version computes on the values and returns an array.

>>> from mg_tensor import Tensor
>>> t = Tensor([[1.0, 5.0], [7.0, 3.0]])
>>> t.max(1).data
array([5., 7.], dtype=float32)
>>> values, indices = t.max(dim=1)
>>> indices.data
array([1, 0])
>>> t.size, t.size(), t.size(0)
(4, (2, 2), 2)
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from mg_graph import describe, user_location

if TYPE_CHECKING:
    from mg_tensor.ops.sort import ValuesIndices
    from mg_tensor.tensor import Tensor

AxisArg = int | Sequence[int] | None


class Size(int):
    """numpy's ``size`` (an int: the element count) that PyTorch code may call:
    ``t.size()`` is the shape, ``t.size(i)`` one dimension.

    >>> s = Size((2, 3))
    >>> s, s(), s(-1)
    (6, (2, 3), 3)
    """

    shape: tuple[int, ...]

    def __new__(cls, shape: tuple[int, ...]) -> Size:
        self = super().__new__(cls, math.prod(shape))
        self.shape = shape
        return self

    def __call__(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]


def _as_tensor(methods: TensorMethods) -> Tensor:
    """``self`` of a mixin method: always a Tensor (the only class using the mixin)."""
    return cast("Tensor", methods)


def _pick(op: str, numpy_value: Any, torch_value: Any, numpy_name: str, torch_name: str) -> Any:
    if numpy_value is not None and torch_value is not None:
        raise TypeError(
            describe(
                op,
                f"got both {numpy_name}= and {torch_name}=",
                user_location(),
                f"pass one of them ({numpy_name}= numpy's, {torch_name}= PyTorch's)",
            )
        )
    return torch_value if torch_value is not None else numpy_value


def _axes(
    op: str, axis: Any, keepdims: bool | None, dim: Any, keepdim: bool | None
) -> tuple[Any, bool]:
    return _pick(op, axis, dim, "axis", "dim"), bool(
        _pick(op, keepdims, keepdim, "keepdims", "keepdim")
    )


def _shape_args(args: tuple[Any, ...]) -> Any:
    """``f(2, 3)`` and ``f((2, 3))`` alike."""
    return args[0] if len(args) == 1 and not isinstance(args[0], int | np.integer) else args


def _method(name: str, reflected: bool = False) -> Callable[..., Tensor]:
    """A method calling ``ops.<name>(self, *args)`` (``ops.<name>(other, self)`` when
    ``reflected``: the ``__r*__`` operators)."""

    def method(self: Any, *args: Any, **kwargs: Any) -> Tensor:
        return getattr(_ops, name)(self, *args, **kwargs)  # type: ignore[no-any-return]

    def reflected_method(self: Any, other: Any) -> Tensor:
        return getattr(_ops, name)(other, self)  # type: ignore[no-any-return]

    chosen = reflected_method if reflected else method
    chosen.__name__ = name
    chosen.__doc__ = f"``{name}`` (see `mg_tensor.ops.{name}`)."
    return chosen


def _reduction(name: str) -> Callable[..., Tensor]:
    """A reduction method taking numpy's ``axis``/``keepdims`` or PyTorch's ``dim``/
    ``keepdim`` (one axis or several)."""

    def method(
        self: Any,
        axis: AxisArg = None,
        keepdims: bool | None = None,
        *,
        dim: AxisArg = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        return getattr(_ops, name)(self, *_axes(name, axis, keepdims, dim, keepdim))  # type: ignore[no-any-return]

    method.__name__ = name
    method.__doc__ = f"``{name}`` over ``axis``/``dim`` (see `mg_tensor.ops.{name}`)."
    return method


def _spread(name: str) -> Callable[..., Tensor]:
    """``var``/``std``: numpy's (``ddof`` 0) unless PyTorch's ``dim=``, ``correction=`` or
    ``unbiased=`` is given (then correction 1 unless told)."""

    def method(
        self: Any,
        axis: AxisArg = None,
        *,
        ddof: float | None = None,
        keepdims: bool | None = None,
        dim: AxisArg = None,
        keepdim: bool | None = None,
        correction: float | None = None,
        unbiased: bool | None = None,
    ) -> Tensor:
        picked, keep = _axes(name, axis, keepdims, dim, keepdim)
        c = _correction(name, ddof, dim, correction, unbiased)
        return getattr(_ops, name)(self, picked, keep, c)  # type: ignore[no-any-return]

    method.__name__ = name
    method.__doc__ = _spread.__doc__
    return method


def _extremum(name: str) -> Callable[..., Any]:
    """``max``/``min``: numpy's (values) with ``axis``; PyTorch's ``(values, indices)``
    with ``dim=``; PyTorch's elementwise ``maximum``/``minimum`` with a tensor."""

    def method(
        self: TensorMethods,
        axis: Any = None,
        keepdims: bool | None = None,
        *,
        dim: int | None = None,
        keepdim: bool | None = None,
    ) -> Tensor | ValuesIndices:
        from mg_tensor.ops.sort import ValuesIndices
        from mg_tensor.tensor import Tensor

        me = _as_tensor(self)
        if isinstance(axis, Tensor):  # PyTorch's t.max(other)
            return _ops.maximum(me, axis) if name == "max" else _ops.minimum(me, axis)
        picked, keep = _axes(name, axis, keepdims, dim, keepdim)
        reduce, arg = (_ops.max, _ops.argmax) if name == "max" else (_ops.min, _ops.argmin)
        if dim is None:
            return reduce(me, picked, keep)
        # values gathered at the indices: the gradient goes to that element, as PyTorch's
        # (numpy's max shares it among ties)
        index = arg(me, dim, True)
        values = _ops.take_along_axis(me, index, dim)
        if keep:
            return ValuesIndices(values, index)
        return ValuesIndices(values.squeeze(dim), index.squeeze(dim))

    method.__name__ = name
    method.__doc__ = _extremum.__doc__
    return method


class TensorMethods:
    """Methods of `Tensor` for the op families (see the module docstring for the rules)."""

    __slots__ = ()

    if TYPE_CHECKING:  # provided by Tensor

        @property
        def shape(self) -> tuple[int, ...]: ...
        @property
        def ndim(self) -> int: ...
        @property
        def dtype(self) -> np.dtype[Any]: ...
        @property
        def data(self) -> NDArray[Any]: ...

    # ------------------------------------------------------------- metadata
    @property
    def size(self) -> Size:
        """The element count (numpy); ``t.size()`` the shape, ``t.size(i)`` one dim."""
        return Size(self.shape)

    def numel(self) -> int:
        """The element count (PyTorch's name)."""
        return math.prod(self.shape)

    def dim(self) -> int:
        """The number of dimensions (PyTorch's name for ``ndim``)."""
        return len(self.shape)

    def tolist(self) -> Any:
        """The value as nested Python lists (a number for a 0-d tensor)."""
        return self.data.tolist()

    def __format__(self, spec: str) -> str:
        """``f"{t:.3f}"``: a one-element tensor formats as its number; others format
        each element."""
        if not spec:
            return str(self)
        value = self.data
        if value.size == 1:
            return format(value.item(), spec)
        return np.array2string(value, separator=", ", formatter={"all": lambda v: format(v, spec)})

    # ------------------------------------------------------------- numpy protocol
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        from mg_tensor.numpy_protocol import call_ufunc

        return call_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(
        self, func: Callable[..., Any], types: Any, args: Any, kwargs: Any
    ) -> Any:
        from mg_tensor.numpy_protocol import call_function

        return call_function(func, args, kwargs)

    # ------------------------------------------------------------- operators
    __and__ = _method("bitwise_and")
    __rand__ = _method("bitwise_and", reflected=True)
    __or__ = _method("bitwise_or")
    __ror__ = _method("bitwise_or", reflected=True)
    __xor__ = _method("bitwise_xor")
    __rxor__ = _method("bitwise_xor", reflected=True)
    __invert__ = _method("invert")
    __floordiv__ = _method("floor_divide")
    __rfloordiv__ = _method("floor_divide", reflected=True)
    __mod__ = _method("remainder")
    __rmod__ = _method("remainder", reflected=True)

    # ------------------------------------------------------------- elementwise
    log = _method("log")  # log(base=None)
    sin = _method("sin")
    cos = _method("cos")
    tan = _method("tan")
    erf = _method("erf")
    log1p = _method("log1p")
    expm1 = _method("expm1")
    log2 = _method("log2")
    log10 = _method("log10")
    sign = _method("sign")
    floor = _method("floor")
    ceil = _method("ceil")

    round = _method("round")  # round(decimals=0)
    reciprocal = _method("reciprocal")
    rsqrt = _method("rsqrt")
    square = _method("square")
    isnan = _method("isnan")
    isinf = _method("isinf")
    isfinite = _method("isfinite")
    logical_and = _method("logical_and")
    logical_or = _method("logical_or")
    logical_xor = _method("logical_xor")
    logical_not = _method("logical_not")

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        """PyTorch's name for ``clip``."""
        return _ops.clip(_as_tensor(self), min, max)

    def softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        picked = _pick("softmax", axis, dim, "axis", "dim")
        return _ops.softmax(_as_tensor(self), -1 if picked is None else picked)

    def log_softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        picked = _pick("log_softmax", axis, dim, "axis", "dim")
        return _ops.log_softmax(_as_tensor(self), -1 if picked is None else picked)

    # ------------------------------------------------------------- reductions
    sum = _reduction("sum")
    mean = _reduction("mean")
    prod = _reduction("prod")
    logsumexp = _reduction("logsumexp")
    any = _reduction("any")
    all = _reduction("all")

    max = _extremum("max")
    min = _extremum("min")
    argmax = _reduction("argmax")
    argmin = _reduction("argmin")

    var = _spread("var")
    std = _spread("std")

    def norm(
        self,
        p: Any = 2,
        dim: AxisArg = None,
        keepdim: bool | None = None,
        *,
        axis: AxisArg = None,
        keepdims: bool | None = None,
    ) -> Tensor:
        """PyTorch's ``norm`` (ndarray has none): the vector p-norm over ``dim``."""
        picked, keep = _axes("norm", axis, keepdims, dim, keepdim)
        return _ops.norm(_as_tensor(self), p, picked, keep)

    def cumsum(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        return _ops.cumsum(_as_tensor(self), _pick("cumsum", axis, dim, "axis", "dim"))

    def cumprod(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        return _ops.cumprod(_as_tensor(self), _pick("cumprod", axis, dim, "axis", "dim"))

    def sort(
        self, axis: int | None = None, *, dim: int | None = None, descending: bool = False
    ) -> Any:
        """numpy's ``np.sort`` (values) along ``axis`` (-1); with ``dim=`` PyTorch's
        ``(values, indices)``."""
        if dim is not None:
            _pick("sort", axis, dim, "axis", "dim")
            return _ops.sort_with_indices(_as_tensor(self), dim, descending)
        return _ops.sort(_as_tensor(self), -1 if axis is None else axis, descending)

    def argsort(
        self, axis: int | None = None, *, dim: int | None = None, descending: bool = False
    ) -> Tensor:
        picked = _pick("argsort", axis, dim, "axis", "dim")
        return _ops.argsort(_as_tensor(self), -1 if picked is None else picked, descending)

    def topk(
        self,
        k: int,
        dim: int | None = None,
        largest: bool = True,
        sorted: bool = True,
        *,
        axis: int | None = None,
    ) -> ValuesIndices:
        """The ``k`` largest (or smallest) values along ``dim`` (-1) and their indices."""
        picked = _pick("topk", axis, dim, "axis", "dim")
        return _ops.topk(_as_tensor(self), k, -1 if picked is None else picked, largest, sorted)

    # ------------------------------------------------------------- shapes
    def transpose(self, *axes: Any, dim0: int | None = None, dim1: int | None = None) -> Tensor:
        """numpy's ``transpose(*axes)`` (a permutation); PyTorch's ``transpose(dim0,
        dim1)`` (a swap) with those keywords, or with two axes of a tensor that is not
        2-d (numpy would refuse those)."""
        if dim0 is not None or dim1 is not None:
            if axes or dim0 is None or dim1 is None:
                raise TypeError("transpose: pass both dim0= and dim1= (and no axes)")
            return _ops.swapaxes(_as_tensor(self), dim0, dim1)
        if len(axes) == 1 and not isinstance(axes[0], int | np.integer):
            return _ops.transpose(_as_tensor(self), tuple(axes[0]))
        if len(axes) == 2 and self.ndim != 2:
            return _ops.swapaxes(_as_tensor(self), axes[0], axes[1])
        return _ops.transpose(_as_tensor(self), tuple(axes) if axes else None)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return _ops.swapaxes(_as_tensor(self), axis1, axis2)

    def permute(self, *dims: Any) -> Tensor:
        """PyTorch's ``permute(*dims)``: the axes in this order."""
        return _ops.transpose(_as_tensor(self), tuple(_shape_args(dims)))

    def view(self, *shape: Any) -> Tensor:
        """PyTorch's ``view``: ``reshape`` (a view when the layout allows, else a copy)."""
        return _ops.reshape(_as_tensor(self), _shape_args(shape))

    def view_as(self, other: Tensor) -> Tensor:
        return _ops.reshape(_as_tensor(self), other.shape)

    def expand_as(self, other: Tensor) -> Tensor:
        return _ops.broadcast_to(_as_tensor(self), other.shape)

    def contiguous(self) -> Tensor:
        """The tensor itself: layouts are the runtime's business here."""
        return cast("Tensor", self)

    def squeeze(self, axis: AxisArg = None, *, dim: AxisArg = None) -> Tensor:
        return _ops.squeeze(_as_tensor(self), _pick("squeeze", axis, dim, "axis", "dim"))

    def unsqueeze(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        picked = _pick("unsqueeze", axis, dim, "axis", "dim")
        if picked is None:
            raise TypeError("unsqueeze: missing the axis (dim) to insert")
        return _ops.expand_dims(_as_tensor(self), picked)

    def flatten(
        self, start_axis: int = 0, end_dim: int = -1, *, start_dim: int | None = None
    ) -> Tensor:
        """Merge axes ``start_dim..end_dim`` into one (PyTorch's; numpy's ``flatten()``,
        every axis, is the default)."""
        start = start_axis if start_dim is None else start_dim
        if end_dim == -1 or end_dim == self.ndim - 1:
            return _ops.flatten(_as_tensor(self), start)
        start, end = (int(a) % self.ndim for a in (start, end_dim))
        merged = math.prod(self.shape[start : end + 1])
        return _ops.reshape(_as_tensor(self), (*self.shape[:start], merged, *self.shape[end + 1 :]))

    def split(self, split_size_or_sections: int | Sequence[int], dim: int = 0) -> list[Tensor]:
        """PyTorch's ``split`` (pieces of a size, or of the given sizes)."""
        return _ops.split(_as_tensor(self), split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> list[Tensor]:
        """PyTorch's ``chunk`` (at most ``chunks`` equal pieces, the last shorter)."""
        return _ops.chunk(_as_tensor(self), chunks, dim)

    def gather(self, dim: int, index: Any) -> Tensor:
        """PyTorch's ``gather``."""
        return _ops.gather(_as_tensor(self), dim, index)

    def take_along_axis(self, indices: Any, axis: int) -> Tensor:
        return _ops.take_along_axis(_as_tensor(self), indices, axis)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        """PyTorch's ``scatter_add`` (out of place)."""
        return _ops.scatter_add(_as_tensor(self), dim, index, src)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """PyTorch's ``masked_fill`` (out of place)."""
        return _ops.masked_fill(_as_tensor(self), mask, value)

    def where(self, condition: Any, other: Any) -> Tensor:
        """PyTorch's ``t.where(condition, other)``: ``t`` where the condition holds."""
        return _ops.where(condition, _as_tensor(self), other)

    def tril(self, diagonal: int = 0) -> Tensor:
        return _ops.tril(_as_tensor(self), diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return _ops.triu(_as_tensor(self), diagonal)

    def flip(self, *dims: Any) -> Tensor:
        """PyTorch's ``flip(dims)``; with no dims every axis (numpy's)."""
        return _ops.flip(_as_tensor(self), _shape_args(dims) if dims else None)

    def roll(self, shifts: int | Sequence[int], dims: AxisArg = None) -> Tensor:
        return _ops.roll(_as_tensor(self), shifts, dims)

    def tile(self, *reps: Any) -> Tensor:
        """``np.tile`` (PyTorch's ``tile``, and what PyTorch's ``repeat`` does)."""
        return _ops.tile(_as_tensor(self), _shape_args(reps))

    def repeat(self, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
        """numpy's ``repeat`` (each element); PyTorch's ``repeat`` is ``tile`` here."""
        return _ops.repeat(_as_tensor(self), repeats, axis)

    def repeat_interleave(self, repeats: int | Sequence[int], dim: int | None = None) -> Tensor:
        return _ops.repeat(_as_tensor(self), repeats, dim)

    def outer(self, other: Any) -> Tensor:
        return _ops.outer(_as_tensor(self), other)

    def clone(self) -> Tensor:
        """A copy; gradients flow through it."""
        return _ops.copy(_as_tensor(self))

    # ------------------------------------------------------------- dtypes
    def to(self, target: Any) -> Tensor:
        """``to(dtype)`` casts; ``to(other_tensor)`` takes its dtype; ``to("cpu")`` is
        the tensor itself (everything lives in host memory)."""
        from mg_tensor.tensor import Tensor

        if isinstance(target, Tensor):
            return _ops.astype(_as_tensor(self), target.dtype)
        if isinstance(target, str) and target.split(":")[0] == "cpu":
            return cast("Tensor", self)
        try:
            dtype = np.dtype(target)
        except TypeError:
            raise TypeError(
                describe(
                    "to",
                    f"{target!r} is neither a dtype nor the cpu device",
                    user_location(),
                    "pass a dtype (np.float32) or 'cpu'",
                )
            ) from None
        return _ops.astype(_as_tensor(self), dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return _ops.astype(_as_tensor(self), other.dtype)

    def half(self) -> Tensor:
        return _ops.astype(_as_tensor(self), np.float16)

    def double(self) -> Tensor:
        return _ops.astype(_as_tensor(self), np.float64)

    def long(self) -> Tensor:
        return _ops.astype(_as_tensor(self), np.int64)

    # last: a method named ``float`` would shadow the builtin in later annotations
    def float(self) -> Tensor:
        return _ops.astype(_as_tensor(self), np.float32)


def _correction(
    op: str, ddof: Any, dim: Any, correction: Any, unbiased: bool | None
) -> builtins.float:
    torch_value = correction
    if unbiased is not None:
        if correction is not None:
            raise TypeError(f"{op}: pass correction= or unbiased=, not both")
        torch_value = 1 if unbiased else 0
    picked = _pick(op, ddof, torch_value, "ddof", "correction")
    if picked is None:
        picked = 1 if dim is not None else 0  # PyTorch's default with dim=, numpy's without
    return builtins.float(picked)


class _LazyOps:
    """``mg_tensor.ops``, imported on first use: ops import Tensor, which imports this
    module. Each function is cached on first lookup."""

    def __getattr__(self, name: str) -> Any:
        from mg_tensor import ops

        value = getattr(ops, name)
        setattr(self, name, value)
        return value


if TYPE_CHECKING:
    from mg_tensor import ops as _ops
else:
    _ops = _LazyOps()
