"""The op library as numpy-style functions. Each builds a node and returns a Tensor.

>>> from mg_tensor import Tensor
>>> from mg_tensor import ops
>>> ops.maximum(Tensor([1.0, 5.0]), 3).data
array([3., 5.], dtype=float32)
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from mg_graph import graph_of
from mg_tensor.ops import binary as _b
from mg_tensor.ops import index as _i
from mg_tensor.ops import reduce as _r
from mg_tensor.ops import select as _s
from mg_tensor.ops import shape as _sh
from mg_tensor.ops import softmax as _sm
from mg_tensor.ops import unary as _u
from mg_tensor.ops.base import normalize_axis, shape_error
from mg_tensor.ops.core import apply, lift

# issue 13's families: each file holds its ops and their functions
from mg_tensor.ops.einsum import einsum, outer
from mg_tensor.ops.gather import gather, one_hot, scatter_add, take_along_axis
from mg_tensor.ops.join import array_split, cat, chunk, split
from mg_tensor.ops.linalg import MatMul
from mg_tensor.ops.logical import (
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    invert,
    isfinite,
    isinf,
    isnan,
    logical_not,
    logical_or,
    logical_xor,
)
from mg_tensor.ops.mask import masked_fill, tril, triu
from mg_tensor.ops.pad import pad
from mg_tensor.ops.rearrange import copy, flip, repeat, roll, tile
from mg_tensor.ops.rounding import ceil, floor, floor_divide, remainder, round, sign
from mg_tensor.ops.scan import cumprod, cumsum
from mg_tensor.ops.sort import ValuesIndices, argsort, sort, sort_with_indices, topk
from mg_tensor.ops.special import erf, expm1, log1p, log2, log10, reciprocal, rsqrt, square
from mg_tensor.ops.stats import all, any, logsumexp, norm, prod, std, var
from mg_tensor.ops.trig import cos, sin, tan
from mg_tensor.tensor import Operand, Tensor

Axis = int | Sequence[int] | None


def _tensor(x: Operand) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _tensors(values: Sequence[Operand]) -> list[Tensor]:
    """``values`` as Tensors: arrays and numbers become constants in the graph of the
    tensors among them (not the default graph, which would mix graphs)."""
    graph = graph_of([v.node for v in values if isinstance(v, Tensor)])
    return [v if isinstance(v, Tensor) else Tensor.wrap(lift(v, None, graph)) for v in values]


# ---------------------------------------------------------------- elementwise
def add(a: Operand, b: Operand) -> Tensor:
    """``a + b`` with broadcasting.

    >>> add(Tensor([1.0]), 1).data
    array([2.], dtype=float32)
    """
    return apply(_b.Add(), a, b)


def subtract(a: Operand, b: Operand) -> Tensor:
    """``a - b`` with broadcasting."""
    return apply(_b.Subtract(), a, b)


def multiply(a: Operand, b: Operand) -> Tensor:
    """``a * b`` with broadcasting."""
    return apply(_b.Multiply(), a, b)


def divide(a: Operand, b: Operand) -> Tensor:
    """``a / b`` (true division) with broadcasting."""
    return apply(_b.Divide(), a, b)


def power(a: Operand, b: Operand) -> Tensor:
    """``a ** b`` with broadcasting."""
    return apply(_b.Power(), a, b)


def maximum(a: Operand, b: Operand) -> Tensor:
    """Elementwise maximum; ties share the gradient."""
    return apply(_b.Maximum(), a, b)


def minimum(a: Operand, b: Operand) -> Tensor:
    """Elementwise minimum; ties share the gradient."""
    return apply(_b.Minimum(), a, b)


def less(a: Operand, b: Operand) -> Tensor:
    """``a < b`` (boolean, no gradient)."""
    return apply(_b.Less(), a, b)


def less_equal(a: Operand, b: Operand) -> Tensor:
    """``a <= b`` (boolean, no gradient)."""
    return apply(_b.LessEqual(), a, b)


def greater(a: Operand, b: Operand) -> Tensor:
    """``a > b`` (boolean, no gradient)."""
    return apply(_b.Greater(), a, b)


def greater_equal(a: Operand, b: Operand) -> Tensor:
    """``a >= b`` (boolean, no gradient)."""
    return apply(_b.GreaterEqual(), a, b)


def equal(a: Operand, b: Operand) -> Tensor:
    """``a == b`` (boolean, no gradient)."""
    return apply(_b.Equal(), a, b)


def not_equal(a: Operand, b: Operand) -> Tensor:
    """``a != b`` (boolean, no gradient)."""
    return apply(_b.NotEqual(), a, b)


def logical_and(a: Operand, b: Operand) -> Tensor:
    """Elementwise ``a and b`` of truth values (boolean, no gradient).

    >>> logical_and(Tensor([1.0, 0.0]) > 0, True).data
    array([ True, False])
    """
    return apply(_b.LogicalAnd(), a, b)


def negative(x: Operand) -> Tensor:
    """``-x``."""
    return apply(_u.Negative(), x)


def exp(x: Operand) -> Tensor:
    """e to the power x.

    >>> exp(Tensor([0.0])).data
    array([1.], dtype=float32)
    """
    return apply(_u.Exp(), x)


def log(x: Operand, base: float | None = None) -> Tensor:
    """Natural logarithm, or to ``base`` (numpy's warnings for x <= 0 are kept).

    >>> log(Tensor([8.0]), base=2).data
    array([3.], dtype=float32)
    """
    result = apply(_u.Log(), x)
    return result if base is None else result / float(np.log(base))


def sqrt(x: Operand) -> Tensor:
    """Square root."""
    return apply(_u.Sqrt(), x)


def absolute(x: Operand) -> Tensor:
    """``|x|``; gradient 0 at 0."""
    return apply(_u.Absolute(), x)


def tanh(x: Operand) -> Tensor:
    """Hyperbolic tangent."""
    return apply(_u.Tanh(), x)


def sigmoid(x: Operand) -> Tensor:
    """Logistic sigmoid, computed without overflow."""
    return apply(_u.Sigmoid(), x)


def relu(x: Operand) -> Tensor:
    """max(x, 0); gradient 0 at 0."""
    return apply(_u.Relu(), x)


def softplus(x: Operand) -> Tensor:
    """``log(1 + exp(x))``, stable for large ``|x|``; gradient sigmoid(x)."""
    return apply(_u.Softplus(), x)


def astype(x: Operand, dtype: DTypeLike) -> Tensor:
    """Cast to ``dtype`` (a no-op when the dtype already matches)."""
    t = _tensor(x)
    target = np.dtype(dtype)
    return t if t.dtype == target else apply(_u.AsType(target.str), t)


def stop_gradient(x: Operand) -> Tensor:
    """The same value, with no gradient flowing back through it."""
    return apply(_u.StopGradient(), x)


def clip(x: Operand, low: float | None = None, high: float | None = None) -> Tensor:
    """Limit values to ``[low, high]`` (either may be None)."""
    return apply(_s.Clip(low, high), x)


def where(condition: Operand, a: Operand, b: Operand) -> Tensor:
    """``a`` where ``condition`` is true, else ``b``, with broadcasting."""
    tensors = [t for t in (a, b) if isinstance(t, Tensor)]
    like = np.result_type(*(t.dtype for t in tensors)) if tensors else None
    graph = graph_of([t.node for t in (condition, a, b) if isinstance(t, Tensor)])
    a_t, b_t = (Tensor.wrap(lift(v, like, graph)) for v in (a, b))
    return apply(_s.Where(), condition, a_t, b_t)


# ---------------------------------------------------------------- reductions
def _reduce(cls: type[_r.Reduce], x: Operand, axis: Axis, keepdims: bool) -> Tensor:
    t = _tensor(x)
    return apply(cls(normalize_axis(cls.name, t.node, axis), keepdims), t)


def sum(x: Operand, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (int, tuple or None for all).

    >>> sum(Tensor([1, 2])).data
    array(3., dtype=float32)
    """
    return _reduce(_r.Sum, x, axis, keepdims)


def mean(x: Operand, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``."""
    return _reduce(_r.Mean, x, axis, keepdims)


def max(x: Operand, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; tied maxima share the gradient equally."""
    return _reduce(_r.Max, x, axis, keepdims)


def min(x: Operand, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; tied minima share the gradient equally."""
    return _reduce(_r.Min, x, axis, keepdims)


def _arg(cls: type[_r.ArgReduce], x: Operand, axis: int | None, keepdims: bool) -> Tensor:
    t = _tensor(x)
    if axis is not None:
        if not isinstance(axis, int | np.integer):  # a tuple would silently use its first axis
            raise shape_error(
                cls.name,
                [t.node],
                f"axis must be an int or None, not {axis!r}",
                "reduce one axis, or all of them with axis=None",
            )
        axis = normalize_axis(cls.name, t.node, axis)[0]
    return apply(cls(axis, keepdims), t)


def argmax(x: Operand, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the maximum (first one on ties), as numpy."""
    return _arg(_r.ArgMax, x, axis, keepdims)


def argmin(x: Operand, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the minimum (first one on ties), as numpy."""
    return _arg(_r.ArgMin, x, axis, keepdims)


# ---------------------------------------------------------------- shapes
def reshape(x: Operand, shape: int | Sequence[int]) -> Tensor:
    """Same elements, new shape (one -1 is inferred). A view when possible."""
    t = _tensor(x)
    target = (shape,) if isinstance(shape, int | np.integer) else tuple(int(n) for n in shape)
    target = _sh.resolve_shape(t.node, target)
    return t if target == t.shape else apply(_sh.Reshape(target), t)


def transpose(x: Operand, axes: Sequence[int] | None = None) -> Tensor:
    """Permute axes (reverse them when ``axes`` is None), as numpy."""
    t = _tensor(x)
    perm = tuple(reversed(range(t.ndim))) if axes is None else tuple(int(a) for a in axes)
    if axes is not None and t.ndim:
        perm = tuple(a % t.ndim if -t.ndim <= a < t.ndim else a for a in perm)
    return t if perm == tuple(range(t.ndim)) else apply(_sh.Transpose(perm), t)


def swapaxes(x: Operand, a: int, b: int) -> Tensor:
    """Exchange two axes."""
    t = _tensor(x)
    a, b = (normalize_axis("swapaxes", t.node, axis)[0] for axis in (a, b))  # ShapeError
    perm = list(range(t.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(t, perm)


def broadcast_to(x: Operand, shape: Sequence[int]) -> Tensor:
    """A read-only broadcast view of ``x`` with ``shape``."""
    t = _tensor(x)
    shape = tuple(int(n) for n in shape)
    return t if shape == t.shape else apply(_sh.BroadcastTo(shape), t)


def squeeze(x: Operand, axis: Axis = None) -> Tensor:
    """Drop axes of length 1 (all of them when ``axis`` is None)."""
    t = _tensor(x)
    if axis is None:
        axes = tuple(i for i, n in enumerate(t.shape) if n == 1)
    else:
        axes = normalize_axis("squeeze", t.node, axis)
        bad = [a for a in axes if t.shape[a] != 1]
        if bad:
            raise shape_error(
                "squeeze",
                [t.node],
                f"axis {bad[0]} has length {t.shape[bad[0]]}, not 1",
                "only squeeze axes of length 1",
            )
    return reshape(t, tuple(n for i, n in enumerate(t.shape) if i not in axes))


def expand_dims(x: Operand, axis: int) -> Tensor:
    """Insert an axis of length 1 at ``axis`` (unsqueeze)."""
    t = _tensor(x)
    if not -t.ndim - 1 <= axis <= t.ndim:
        raise shape_error(
            "unsqueeze",
            [t.node],
            f"axis {axis} is out of range",
            f"use an axis in [{-t.ndim - 1}, {t.ndim}]",
        )
    shape = list(t.shape)
    shape.insert(axis % (t.ndim + 1), 1)
    return reshape(t, tuple(shape))


def flatten(x: Operand, start_axis: int = 0) -> Tensor:
    """Merge the axes from ``start_axis`` on into one."""
    t = _tensor(x)
    lead = t.shape[:start_axis]
    # the merged length is explicit: a -1 cannot be resolved when a leading axis is 0
    return reshape(t, (*lead, int(np.prod(t.shape[len(lead) :], dtype=np.int64))))


def concatenate(tensors: Sequence[Operand], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ts = _tensors(tensors)
    if not ts:
        raise ValueError("concatenate: need at least one tensor")
    axis = normalize_axis("concatenate", ts[0].node, axis)[0] if ts[0].ndim else axis
    return apply(_sh.Concatenate(axis), *ts)


def stack(tensors: Sequence[Operand], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along a new axis (``dim`` is PyTorch's name for ``axis``)."""
    axis = axis if dim is None else dim
    ts = _tensors(tensors)
    if not ts:
        raise ValueError("stack: need at least one tensor")
    shapes = {t.shape for t in ts}
    if len(shapes) > 1:
        raise shape_error(
            "stack",
            [t.node for t in ts],
            "all tensors need the same shape",
            "reshape them to one shape first",
        )
    return concatenate([expand_dims(t, axis) for t in ts], axis % (ts[0].ndim + 1))


def matmul(a: Operand, b: Operand) -> Tensor:
    """Matrix product with numpy's rules for 1-D, 2-D and batched operands."""
    return apply(MatMul(), a, b)


def softmax(x: Operand, axis: int = -1) -> Tensor:
    """Stable softmax along ``axis``."""
    t = _tensor(x)
    return apply(_sm.Softmax(normalize_axis("softmax", t.node, axis)[0]), t)


def log_softmax(x: Operand, axis: int = -1) -> Tensor:
    """Stable log-softmax along ``axis``."""
    t = _tensor(x)
    return apply(_sm.LogSoftmax(normalize_axis("log_softmax", t.node, axis)[0]), t)


# ---------------------------------------------------------------- indexing
def _template(t: Tensor, index: Any) -> tuple[_i.Template, list[Any]]:
    items = index if isinstance(index, tuple) else (index,)
    template: list[tuple[Any, ...]] = []
    arrays: list[Any] = []
    for item in items:
        if item is None:
            template.append(("none",))
        elif item is Ellipsis:
            template.append(("ellipsis",))
        elif isinstance(item, slice):
            template.append(
                ("slice", *(_int_or_none(v) for v in (item.start, item.stop, item.step)))
            )
        elif isinstance(item, int | np.integer) and not isinstance(item, bool):
            template.append(("int", int(item)))
        else:
            arrays.extend(_index_arrays(t, item))
            template.extend(("array", len(arrays) - k) for k in range(_ndims(item), 0, -1))
    return tuple(template), arrays


def _ndims(item: Any) -> int:
    dtype = item.dtype if isinstance(item, Tensor | np.ndarray) else np.asarray(item).dtype
    if dtype == np.bool_:
        return builtins.max(np.asarray(item.data if isinstance(item, Tensor) else item).ndim, 1)
    return 1


def _index_arrays(t: Tensor, item: Any) -> list[Any]:
    if isinstance(item, Tensor):
        if item.dtype == np.bool_:
            if item.node.op is not None:
                raise shape_error(
                    "index",
                    [t.node, item.node],
                    "a boolean mask computed by the graph gives a data-dependent shape",
                    "use where(mask, x, 0) instead",
                )
            return _index_arrays(t, item.data)  # a constant mask: as a numpy one
        if item.dtype.kind not in "iu":
            raise shape_error(
                "index",
                [t.node, item.node],
                f"index arrays must be integers, not {item.dtype}",
                "cast with .astype(np.int64)",
            )
        return [item]
    array = np.asarray(item)
    if array.dtype == np.bool_:
        if array.ndim == 0:  # np.nonzero refuses 0-d arrays
            raise shape_error(
                "index",
                [t.node],
                "a scalar boolean index is not supported",
                "use None to add an axis, or where(mask, x, 0) to select",
            )
        return list(np.nonzero(array))
    if array.size == 0:
        array = array.astype(np.intp)
    if array.dtype.kind not in "iu":
        raise shape_error(
            "index",
            [t.node],
            f"cannot index with {array.dtype} values",
            "use ints, slices, None, ... or integer arrays",
        )
    return [array]


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def getitem(x: Operand, index: Any) -> Tensor:
    """numpy indexing: basic indices give views, integer arrays gather (with gradients
    that add up over repeated indices)."""
    t = _tensor(x)
    template, arrays = _template(t, index)
    if not arrays:
        return apply(_i.Index(template), t)
    return apply(_i.Gather(template), *_tensors([t, *arrays]))


__all__ = [
    "ValuesIndices",
    "absolute",
    "add",
    "all",
    "any",
    "argmax",
    "argmin",
    "argsort",
    "array_split",
    "astype",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "broadcast_to",
    "cat",
    "ceil",
    "chunk",
    "clip",
    "concatenate",
    "copy",
    "cos",
    "cumprod",
    "cumsum",
    "divide",
    "einsum",
    "equal",
    "erf",
    "exp",
    "expand_dims",
    "expm1",
    "flatten",
    "flip",
    "floor",
    "floor_divide",
    "gather",
    "getitem",
    "greater",
    "greater_equal",
    "invert",
    "isfinite",
    "isinf",
    "isnan",
    "less",
    "less_equal",
    "log",
    "log1p",
    "log2",
    "log10",
    "log_softmax",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "logsumexp",
    "masked_fill",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "negative",
    "norm",
    "not_equal",
    "one_hot",
    "outer",
    "pad",
    "power",
    "prod",
    "reciprocal",
    "relu",
    "remainder",
    "repeat",
    "reshape",
    "roll",
    "round",
    "rsqrt",
    "scatter_add",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "sort",
    "sort_with_indices",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "stop_gradient",
    "subtract",
    "sum",
    "swapaxes",
    "take_along_axis",
    "tan",
    "tanh",
    "tile",
    "topk",
    "transpose",
    "tril",
    "triu",
    "var",
    "where",
]
