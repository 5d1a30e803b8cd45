"""numpy's dispatch protocols for Tensor: ``np.exp(t)``, ``np.mean(t, axis=0)``,
``np_array * t`` build graph nodes.

A numpy function or ufunc with a Tensor version here gets it (numpy's meaning and
signature). Any other computes on the values (``.data``) and returns a numpy array, as
numpy does for any array-like (``array += t`` updates the array); a Tensor cannot be an
``out=`` argument.

>>> import numpy as np
>>> from mg_tensor import Tensor
>>> np.mean(Tensor([1.0, 2.0])).data
array(1.5, dtype=float32)
>>> type(np.median(Tensor([1.0, 2.0, 4.0])))
<class 'numpy.float32'>
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mg_tensor import ops
from mg_tensor.tensor import Tensor

UFUNCS: dict[np.ufunc, Callable[..., Tensor]] = {
    np.add: ops.add,
    np.subtract: ops.subtract,
    np.multiply: ops.multiply,
    np.true_divide: ops.divide,
    np.power: ops.power,
    np.maximum: ops.maximum,
    np.minimum: ops.minimum,
    np.matmul: ops.matmul,
    np.less: ops.less,
    np.less_equal: ops.less_equal,
    np.greater: ops.greater,
    np.greater_equal: ops.greater_equal,
    np.equal: ops.equal,
    np.not_equal: ops.not_equal,
    np.negative: ops.negative,
    np.exp: ops.exp,
    np.log: ops.log,
    np.sqrt: ops.sqrt,
    np.absolute: ops.absolute,
    np.tanh: ops.tanh,
    np.sin: ops.sin,
    np.cos: ops.cos,
    np.tan: ops.tan,
    np.log1p: ops.log1p,
    np.expm1: ops.expm1,
    np.log2: ops.log2,
    np.log10: ops.log10,
    np.square: ops.square,
    np.floor: ops.floor,
    np.ceil: ops.ceil,
    np.sign: ops.sign,
    np.floor_divide: ops.floor_divide,
    np.remainder: ops.remainder,
    np.isnan: ops.isnan,
    np.isinf: ops.isinf,
    np.isfinite: ops.isfinite,
    np.logical_and: ops.logical_and,
    np.logical_or: ops.logical_or,
    np.logical_xor: ops.logical_xor,
    np.logical_not: ops.logical_not,
    np.bitwise_and: ops.bitwise_and,
    np.bitwise_or: ops.bitwise_or,
    np.bitwise_xor: ops.bitwise_xor,
    np.invert: ops.invert,
}


def _unsupported_out(name: str) -> TypeError:
    return TypeError(f"np.{name}: out= cannot be a Tensor's buffer; use the returned Tensor")


def _values(value: Any) -> Any:
    """Tensors (also inside lists and tuples) replaced by their values."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, list | tuple):
        return type(value)(_values(v) for v in value)
    return value


def call_ufunc(
    ufunc: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``Tensor.__array_ufunc__``."""
    ours = UFUNCS.get(ufunc)
    if any(isinstance(o, Tensor) for o in kwargs.get("out", ())):
        raise _unsupported_out(ufunc.__name__)
    if ours is not None and method == "__call__" and not kwargs:
        return ours(*inputs)
    # other methods (reduce, at...), other ufuncs and numpy outputs (``array += t``): on
    # the values, as for any array-like
    return getattr(ufunc, method)(*_values(inputs), **_values(kwargs))


def _reduction(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    def call(
        a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False
    ) -> Tensor:
        if out is not None:
            raise _unsupported_out(fn.__name__)
        result = fn(a, axis, keepdims)
        return result if dtype is None else result.astype(dtype)

    return call


def _var(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    def call(
        a: Any,
        axis: Any = None,
        dtype: Any = None,
        out: Any = None,
        ddof: float = 0,
        keepdims: bool = False,
        correction: float | None = None,
    ) -> Tensor:
        if out is not None:
            raise _unsupported_out(fn.__name__)
        result = fn(a, axis, keepdims, ddof if correction is None else correction)
        return result if dtype is None else result.astype(dtype)

    return call


def _arg(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    def call(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Tensor:
        if out is not None:
            raise _unsupported_out(fn.__name__)
        return fn(a, axis, keepdims)

    return call


def _scan(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    def call(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Tensor:
        if out is not None:
            raise _unsupported_out(fn.__name__)
        result = fn(a, axis)
        return result if dtype is None else result.astype(dtype)

    return call


def _split(a: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    n = a.shape[axis]
    if isinstance(indices_or_sections, int) and indices_or_sections > 0 and n % indices_or_sections:
        raise ValueError("array split does not result in an equal division")
    return ops.array_split(a, indices_or_sections, axis)


FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.sum: _reduction(ops.sum),
    np.mean: _reduction(ops.mean),
    np.prod: _reduction(ops.prod),
    np.max: _arg(ops.max),
    np.min: _arg(ops.min),
    np.amax: _arg(ops.max),
    np.amin: _arg(ops.min),
    np.any: _arg(ops.any),
    np.all: _arg(ops.all),
    np.argmax: _arg(ops.argmax),
    np.argmin: _arg(ops.argmin),
    np.var: _var(ops.var),
    np.std: _var(ops.std),
    np.cumsum: _scan(ops.cumsum),
    np.cumprod: _scan(ops.cumprod),
    np.sort: ops.sort,
    np.argsort: ops.argsort,
    np.reshape: ops.reshape,
    np.transpose: ops.transpose,
    np.swapaxes: ops.swapaxes,
    np.squeeze: ops.squeeze,
    np.expand_dims: ops.expand_dims,
    np.broadcast_to: ops.broadcast_to,
    np.concatenate: ops.concatenate,
    np.stack: ops.stack,
    np.split: _split,
    np.array_split: ops.array_split,
    np.where: ops.where,
    np.clip: ops.clip,
    np.round: ops.round,
    np.einsum: ops.einsum,
    np.outer: ops.outer,
    np.tril: ops.tril,
    np.triu: ops.triu,
    np.flip: ops.flip,
    np.roll: ops.roll,
    np.tile: ops.tile,
    np.repeat: ops.repeat,
    np.pad: ops.pad,
    np.take_along_axis: ops.take_along_axis,
    np.shape: lambda a: a.shape,
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.numel() if axis is None else a.shape[axis],
}


def call_function(func: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
    """``Tensor.__array_function__``."""
    ours = FUNCTIONS.get(func)
    if ours is not None:
        return ours(*args, **kwargs)
    if isinstance(kwargs.get("out"), Tensor):
        raise _unsupported_out(getattr(func, "__name__", "function"))
    return func(*_values(args), **_values(kwargs))
