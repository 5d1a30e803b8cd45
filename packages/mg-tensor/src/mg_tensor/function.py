"""`compute_graph`: trace a function once per input signature, freeze, replay fast.

The first call with a given *signature* (shapes and dtypes of the array arguments,
values of the others) runs the function on input-buffer tensors, recording a new
graph. The graph is frozen: rewrite passes run (constant folding, common
subexpressions, numerical stability, dead code: `DEFAULT_PASSES`) and later calls
only copy the new arrays into the buffers and return the same output tensors. A
frozen graph refuses new operations, except the gradient subgraph that ``backprop()``
adds once.

Captured from the enclosing scope:

* parameters (tensors with ``requires_grad=True``) and other leaves are captured *by
  reference*: optimiser updates are seen by every replay, with no copy;
* computed tensors are re-built inside the trace from their leaves;
* Python numbers are frozen into the trace, like any Python control flow. Values that
  change between calls (a learning rate) must be passed as arguments: arrays and numpy
  scalars become buffers, Python scalars are part of the signature.
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, ParamSpec, TypeVar, overload

import numpy as np
from numpy.typing import NDArray

from mg_graph import Graph, Node, Passes, describe, user_location
from mg_tensor.rewrites import DEFAULT_PASSES
from mg_tensor.tensor import Tensor

P = ParamSpec("P")
R = TypeVar("R")


def _flatten(value: Any, arrays: list[NDArray[Any]], names: list[str], path: str) -> Hashable:
    """A hashable signature of ``value``; its arrays are appended to ``arrays``."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        arrays.append(array)
        names.append(path)
        return ("array", array.shape, array.dtype.str)
    if isinstance(value, list | tuple):
        items = tuple(_flatten(v, arrays, names, f"{path}[{i}]") for i, v in enumerate(value))
        return (type(value).__name__, items)
    if isinstance(value, dict):
        return (
            "dict",
            tuple((k, _flatten(v, arrays, names, f"{path}[{k!r}]")) for k, v in value.items()),
        )
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            describe(
                "compute_graph",
                f"argument {path} of type {type(value).__name__} is neither an "
                "array, a Tensor, a container of them nor a hashable value",
                user_location(),
                "pass arrays/tensors (they become input buffers) or hashable static values",
            )
        ) from None
    return ("static", type(value).__name__, value)


def _rebuild(value: Any, inputs: Iterator[Tensor]) -> Any:
    """``value`` with every array replaced by the next input-buffer tensor."""
    if isinstance(value, Tensor | np.ndarray | np.generic):
        return next(inputs)
    if isinstance(value, list | tuple):
        items = [_rebuild(v, inputs) for v in value]
        return type(value)(items) if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _rebuild(v, inputs) for k, v in value.items()}
    return value


def _outputs(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _outputs(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _outputs(v)]
    return []


class Variant:
    """One traced and frozen graph, for one input signature."""

    __slots__ = ("graph", "inputs", "result")

    def __init__(self, graph: Graph, inputs: list[Node], result: Any) -> None:
        self.graph = graph
        self.inputs = inputs
        self.result = result


class CompiledFunction(Generic[P, R]):
    """A function traced into frozen graphs, one per input signature (LRU-bounded).

    >>> @compute_graph
    ... def double(x):
    ...     return x * 2
    >>> double(np.ones(2, np.float32)).data
    array([2., 2.], dtype=float32)
    >>> double(np.full(2, 3, np.float32)).data
    array([6., 6.], dtype=float32)
    >>> len(double.variants)
    1
    """

    def __init__(
        self,
        fn: Callable[P, R],
        optimize: bool = True,
        max_variants: int = 8,
        passes: Passes | None = None,
    ) -> None:
        functools.update_wrapper(self, fn)
        self.__name__: str = getattr(fn, "__name__", type(fn).__name__)
        self.fn = fn
        self.optimize = optimize
        self.passes = tuple(DEFAULT_PASSES if passes is None else passes)
        self.max_variants = max_variants
        self.variants: OrderedDict[Hashable, Variant] = OrderedDict()
        self._signature = inspect.signature(fn)

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        """Replay the variant for these arguments' signature (tracing it if new).
        Arrays and Tensors may be passed wherever the function takes a Tensor."""
        bound = self._signature.bind(*args, **kwargs)
        arrays: list[NDArray[Any]] = []
        names: list[str] = []
        key = tuple(_flatten(v, arrays, names, k) for k, v in bound.arguments.items())
        variant = self.variants.get(key)
        if variant is None:
            variant = self._trace(bound, arrays, names)
            self.variants[key] = variant
            while len(self.variants) > self.max_variants:
                self.variants.popitem(last=False)
        else:
            self.variants.move_to_end(key)
            graph = variant.graph
            for node, array in zip(variant.inputs, arrays, strict=True):
                graph.write(node, array)
        return variant.result  # type: ignore[no-any-return]

    def _trace(
        self, bound: inspect.BoundArguments, arrays: list[NDArray[Any]], names: list[str]
    ) -> Variant:
        shapes = ", ".join(f"{n}{a.shape}" for n, a in zip(names, arrays, strict=True))
        graph = Graph(f"{self.__name__}({shapes})")
        with graph.trace():
            inputs = [Tensor.input(a, graph, n) for a, n in zip(arrays, names, strict=True)]
            feed = iter(inputs)
            rebuilt = {k: _rebuild(v, feed) for k, v in bound.arguments.items()}
            call = inspect.BoundArguments(self._signature, OrderedDict(rebuilt))
            result = self.fn(*call.args, **call.kwargs)
        outputs = [t.node for t in _outputs(result)]
        graph.freeze(outputs, optimize=self.optimize, passes=self.passes)
        return Variant(graph, [t.node for t in inputs], result)

    @property
    def graph(self) -> Graph:
        """The graph of the most recently used variant."""
        if not self.variants:
            raise RuntimeError(f"{self.__name__} has not been called yet: nothing traced")
        return next(reversed(self.variants.values())).graph


@overload
def compute_graph(fn: Callable[P, R], /) -> CompiledFunction[P, R]: ...


@overload
def compute_graph(
    *, optimize: bool = True, max_variants: int = 8, passes: Passes | None = None
) -> Callable[[Callable[P, R]], CompiledFunction[P, R]]: ...


def compute_graph(
    fn: Callable[P, R] | None = None,
    /,
    *,
    optimize: bool = True,
    max_variants: int = 8,
    passes: Passes | None = None,
) -> CompiledFunction[P, R] | Callable[[Callable[P, R]], CompiledFunction[P, R]]:
    """Decorator: trace ``fn`` into a frozen graph per input signature and replay it.

    ``passes`` are the rewrite stages run on each traced graph, in order (default
    `DEFAULT_PASSES`; see ``mg_graph.rewrite``); ``optimize=False`` runs none.
    ``max_variants`` bounds how many traced signatures are kept (least recently used
    are dropped), e.g. the smaller last batch of an epoch is a second variant.

    >>> @compute_graph(optimize=False)
    ... def f(x):
    ...     return (x * x).sum()
    >>> float(f(np.arange(3.0)).data)
    5.0
    """
    if fn is None:
        return lambda f: CompiledFunction(f, optimize, max_variants, passes)
    return CompiledFunction(fn, optimize, max_variants, passes)
