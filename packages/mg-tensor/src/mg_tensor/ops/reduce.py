"""Reductions over axes: sum, mean, max, min, argmax, argmin."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node
from mg_tensor.ops.base import Grads, Spec, TensorOp, probe_dtype, shape_error

if TYPE_CHECKING:
    from mg_tensor.tensor import Tensor


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


@dataclass(frozen=True)
class Reduce(TensorOp):
    """Reduce ``axes`` (normalised, sorted) of the input; ``keepdims`` as numpy."""

    axes: tuple[int, ...]
    keepdims: bool = False
    function: ClassVar[Any]
    needs_elements: ClassVar[bool] = False  # max/min of nothing is undefined

    def infer(self, *inputs: Node) -> Spec:
        x = inputs[0]
        if self.needs_elements and any(x.shape[a] == 0 for a in self.axes):
            raise shape_error(
                self.name,
                inputs,
                "cannot reduce a zero-size axis",
                "reduce over non-empty axes (or use sum)",
            )
        dtype = probe_dtype(self.name, type(self).function, inputs)
        return reduced_shape(x.shape, self.axes, self.keepdims), dtype

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        fn = type(self).function
        return fn(arrays[0], axis=self.axes, keepdims=self.keepdims, out=out)  # type: ignore[no-any-return]

    def kept(self, g: Tensor) -> Tensor:
        """``g`` (shaped like the output) reshaped to broadcast against the input."""
        if self.keepdims:
            return g
        shape = list(g.shape)
        for a in self.axes:
            shape.insert(a, 1)
        return g.reshape(tuple(shape))


@dataclass(frozen=True)
class Sum(Reduce):
    name: ClassVar[str] = "sum"
    function = np.sum

    def kernel(self) -> Callable[..., NDArray[Any]]:
        # np.sum of an array is np.add.reduce behind a Python wrapper: bind the ufunc
        return functools.partial(np.add.reduce, axis=self.axes, keepdims=self.keepdims)

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        return [self.kept(g).expand(inputs[0].shape)]


@dataclass(frozen=True)
class Mean(Reduce):
    name: ClassVar[str] = "mean"
    function = np.mean

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x = inputs[0]
        count = int(np.prod([x.shape[a] for a in self.axes], dtype=np.int64))
        return [(self.kept(g) / max(count, 1)).expand(x.shape)]


@dataclass(frozen=True)
class Extremum(Reduce):
    """max/min: ties share the gradient equally (the subgradient numpy-style amax uses)."""

    needs_elements: ClassVar[bool] = True

    def vjp(self, g: Tensor, out: Tensor, *inputs: Tensor, needed: tuple[bool, ...]) -> Grads:
        x = inputs[0]
        mask = (x == self.kept(out)).astype(g.dtype)
        return [self.kept(g) * mask / mask.sum(self.axes, keepdims=True)]


@dataclass(frozen=True)
class Max(Extremum):
    name: ClassVar[str] = "max"
    selects_max = True
    function = np.max


@dataclass(frozen=True)
class Min(Extremum):
    name: ClassVar[str] = "min"
    function = np.min


@dataclass(frozen=True)
class ArgReduce(TensorOp):
    """Index of the extremum along one axis (or of the flattened array); no gradient."""

    axis: int | None
    keepdims: bool = False
    differentiable: ClassVar[bool] = False
    function: ClassVar[Any]

    def infer(self, *inputs: Node) -> Spec:
        x = inputs[0]
        axes = tuple(range(x.ndim)) if self.axis is None else (self.axis,)
        if any(x.shape[a] == 0 for a in axes):  # as numpy: other axes may be empty
            raise shape_error(
                self.name,
                inputs,
                "attempt to get the index of an empty sequence",
                "use a non-empty tensor",
            )
        return reduced_shape(x.shape, axes, self.keepdims), np.dtype(np.intp)

    def forward(self, *arrays: NDArray[Any], out: NDArray[Any] | None = None) -> NDArray[Any]:
        fn = type(self).function
        return fn(arrays[0], axis=self.axis, keepdims=self.keepdims, out=out)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ArgMax(ArgReduce):
    name: ClassVar[str] = "argmax"
    function = np.argmax


@dataclass(frozen=True)
class ArgMin(ArgReduce):
    name: ClassVar[str] = "argmin"
    function = np.argmin
