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
    """Running product. Its gradient divides by the input: exact where no element is 0
    (a zero gives NaN/inf gradients before it, as TensorFlow's does)."""

    name: ClassVar[str] = "cumprod"
    function = np.cumprod

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [_reverse_cumsum(g * out, self.axis) / inputs[0]]


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
