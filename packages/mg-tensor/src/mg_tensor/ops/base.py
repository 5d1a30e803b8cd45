"""What every op in the library shares: the gradient-rule slot, dtype probing, errors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import DTypeError, GradientError, Node, Op, ShapeError, describe, user_location

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor

Shape = tuple[int, ...]
Spec = tuple[Shape, np.dtype[Any]]
Grads = Sequence["Tensor | None"]


class TensorOp(Op):
    """An op of the library: `infer` (shape rule), `forward` (kernel) and `vjp`
    (gradient rule, written in Tensor ops so that gradients are differentiable too)."""

    differentiable: ClassVar[bool] = True
    # comparisons take Python ints outside the tensor's range (uint8 < -1), as numpy 2 does
    exact_scalars: ClassVar[bool] = False
    # each output element is one of the input's, picked as the largest of its window
    # (max pooling): a non-decreasing elementwise op such as relu commutes with it
    selects_max: ClassVar[bool] = False

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        """Vector-Jacobian product: the gradient of each input given ``g`` for the output.

        ``needed[i]`` says whether input ``i`` wants a gradient; others may be None.
        """
        raise GradientError(
            describe(self.name, "has no gradient rule", user_location(), "detach this path")
        )


def shapes_of(nodes: Sequence[Node]) -> str:
    return " and ".join(str(n.shape) for n in nodes) if nodes else "no operands"


def shape_error(op: str, nodes: Sequence[Node], problem: str, fix: str) -> ShapeError:
    """A `ShapeError` naming the op, the operand shapes and the user's line."""
    return ShapeError(
        describe(op, f"{problem} (operand shapes {shapes_of(nodes)})", user_location(), fix)
    )


def dtype_error(op: str, nodes: Sequence[Node], problem: str, fix: str) -> DTypeError:
    dtypes = ", ".join(str(n.dtype) for n in nodes)
    return DTypeError(
        describe(
            op,
            f"{problem} (operand dtypes {dtypes}; shapes {shapes_of(nodes)})",
            user_location(),
            fix,
        )
    )


@functools.lru_cache(maxsize=4096)
def _probe_cached(fn: Callable[..., Any], dtypes: tuple[np.dtype[Any], ...]) -> np.dtype[Any]:
    with np.errstate(all="ignore"):
        return np.asarray(fn(*(np.ones((1,), d) for d in dtypes))).dtype


def probe_dtype(op: str, fn: Callable[..., Any], nodes: Sequence[Node]) -> np.dtype[Any]:
    """The dtype numpy gives for ``fn`` on operands of these dtypes (run on 1-element arrays,
    so the result matches numpy's own promotion rules exactly)."""
    try:
        return _probe_cached(fn, tuple(n.dtype for n in nodes))
    except (TypeError, ValueError) as exc:  # e.g. numpy refuses subtract on booleans
        raise dtype_error(
            op,
            nodes,
            f"numpy cannot compute this: {exc}",
            "convert the operands with .astype(...) first",
        ) from None


def normalize_axis(op: str, node: Node, axis: int | Sequence[int] | None) -> tuple[int, ...]:
    """Axes as sorted non-negative ints; None means every axis."""
    if axis is None:
        return tuple(range(node.ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for a in axes:
        if not -node.ndim <= int(a) < node.ndim:
            raise shape_error(
                op,
                [node],
                f"axis {a} is out of range for {node.ndim}-d input",
                f"use an axis in [{-node.ndim}, {node.ndim - 1}]",
            )
        out.append(int(a) % node.ndim)
    if len(set(out)) != len(out):
        raise shape_error(op, [node], f"repeated axis in {axis}", "name each axis once")
    return tuple(sorted(out))


def broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` broadcasts to exactly ``target``."""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def is_float(dtype: np.dtype[Any]) -> bool:
    return dtype.kind in "fc"  # floating or complex; np.issubdtype costs a microsecond


def float_dtype(op: str, nodes: Sequence[Node]) -> np.dtype[Any]:
    """The promoted dtype of floating operands; a `DTypeError` for anything else."""
    if not all(is_float(n.dtype) for n in nodes):
        raise dtype_error(
            op, list(nodes), "needs floating-point operands", "use .astype(np.float32)"
        )
    first = nodes[0].dtype
    if all(n.dtype == first for n in nodes):  # the usual case: no promotion to work out
        return first
    return np.dtype(np.result_type(*(n.dtype for n in nodes)))


def write_out(value: Any, out: NDArray[Any] | None, dtype: np.dtype[Any]) -> NDArray[Any]:
    """Write ``value`` into the executor's ``out`` buffer, or return it as a fresh array of
    ``dtype`` when there is none (a kernel's usual last line)."""
    if out is None:
        return np.asarray(value, dtype=dtype)
    out[...] = value
    return out
