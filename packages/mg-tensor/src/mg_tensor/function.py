"""`compute_graph`: trace a function once per input signature, freeze, replay fast.

The first call with a given *signature* (shapes and dtypes of the array arguments,
whether Tensor arguments need a gradient, values of the others) runs the function on
input-buffer tensors, recording a new graph. The graph is frozen: rewrite passes run (constant
folding, common subexpressions, numerical stability, dead code: `DEFAULT_PASSES`) and later calls
only copy the new arrays into the buffers and replay. Each call returns output
handles of its own: later calls do not change them. A frozen graph refuses new
operations, except the gradient subgraph that ``backprop()`` adds once.

A trace also depends on the state it saw: the train/eval mode and the sub-models and
parameters of every model it called, and the ``requires_grad`` of every parameter it
captured. These are its *guards*: when one changes, the next call traces a new variant
(as torch.compile's guards do). Checking them costs one integer comparison per call
unless a model or parameter changed since.

Variants are kept per thread, so one compiled function can be called from several
threads at once.

Captured from the enclosing scope:

* parameters (tensors with ``requires_grad=True``) and other leaves are captured *by
  reference*: optimiser updates are seen by every replay, with no copy;
* computed tensors are re-built inside the trace from their leaves;
* Python numbers are frozen into the trace, like any Python control flow. Values that
  change between calls (a learning rate) must be passed as arguments: arrays and numpy
  scalars become buffers, Python scalars are part of the signature;
* numpy randomness is frozen too (drawn once, while tracing); Macrograd's random ops
  (`mg_tensor.random`) draw afresh at every call;
* a Tensor argument computed from parameters keeps its path: ``backprop()`` continues
  from the frozen graph's input into the graph the argument came from.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, ParamSpec, TypeVar, overload

import numpy as np
from numpy.typing import NDArray

from mg_graph import Graph, Node, Passes, Role, describe, user_location
from mg_tensor.autodiff import set_arguments
from mg_tensor.grad_mode import is_grad_enabled
from mg_tensor.rewrites import DEFAULT_PASSES
from mg_tensor.tensor import Tensor

P = ParamSpec("P")
R = TypeVar("R")
Guard = Callable[[], Hashable]

# ------------------------------------------------------------------------ guards
_epochs = itertools.count(1)
_epoch = 0  # changes whenever some guarded state (model structure, mode, freezing) may have


def invalidate_guards() -> None:
    """Guarded state may have changed (a model's mode or members, a parameter's
    ``requires_grad``): the next call of each compiled function re-checks its guards.

    >>> before = guard_epoch(); invalidate_guards(); guard_epoch() != before
    True
    """
    global _epoch
    _epoch = next(_epochs)


def guard_epoch() -> int:
    """The current guard epoch (see `invalidate_guards`)."""
    return _epoch


class _Recorder(threading.local):
    guards: dict[int, tuple[Guard, Hashable]] | None = None


_recorder = _Recorder()


def guard(key: Guard) -> None:
    """While a compiled function traces, record that the trace depends on ``key()``: a
    later call where it differs traces a new variant. Models guard their mode and
    members this way; whoever changes such state calls `invalidate_guards`.

    >>> guard(lambda: 1)  # outside a trace: nothing to record
    """
    guards = _recorder.guards
    if guards is not None:
        owner = getattr(key, "__self__", key)
        guards.setdefault(id(owner), (key, key()))


# ------------------------------------------------------------------------ arguments
def _flatten(
    value: Any,
    arrays: list[NDArray[Any]],
    tensors: list[Tensor | None],
    names: list[str],
    path: str,
) -> Hashable:
    """A hashable signature of ``value``; its arrays are appended to ``arrays`` (with
    the Tensor they came from in ``tensors`` when it needs a gradient)."""
    needs = None
    if isinstance(value, Tensor):
        needs = value if value.requires_grad and is_grad_enabled() else None
        value = value.data
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        arrays.append(array)
        tensors.append(needs)
        names.append(path)
        return ("array", array.shape, array.dtype.str, needs is not None)
    if isinstance(value, list | tuple):
        items = tuple(
            _flatten(v, arrays, tensors, names, f"{path}[{i}]") for i, v in enumerate(value)
        )
        return (type(value).__name__, items)
    if isinstance(value, dict):
        return (
            "dict",
            tuple(
                (k, _flatten(v, arrays, tensors, names, f"{path}[{k!r}]")) for k, v in value.items()
            ),
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


def _replace(value: Any, fn: Callable[[Tensor], Any]) -> Any:
    """``value`` with every Tensor (and, for arguments, array) ``t`` replaced by
    ``fn(t)``, through lists, tuples and dicts."""
    if isinstance(value, Tensor | np.ndarray | np.generic):
        return fn(value)  # type: ignore[arg-type]
    if isinstance(value, list | tuple):
        items = [_replace(v, fn) for v in value]
        return type(value)(items) if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _replace(v, fn) for k, v in value.items()}
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
    """One traced and frozen graph, for one input signature and guard state."""

    __slots__ = ("epoch", "graph", "guards", "inputs", "result")

    def __init__(
        self,
        graph: Graph,
        inputs: list[Node],
        result: Any,
        guards: list[tuple[Guard, Hashable]],
    ) -> None:
        self.graph = graph
        self.inputs = inputs
        self.result = result
        self.guards = guards
        self.epoch = _epoch

    def valid(self) -> bool:
        """Whether every guard still holds (one comparison if nothing changed)."""
        if self.epoch == _epoch:
            return True
        if all(key() == value for key, value in self.guards):
            self.epoch = _epoch
            return True
        return False


class _PerThread(threading.local):
    def __init__(self) -> None:
        self.table: OrderedDict[Hashable, list[Variant]] = OrderedDict()


class CompiledFunction(Generic[P, R]):
    """A function traced into frozen graphs, one per input signature and guard state
    (LRU-bounded, per thread).

    >>> @compute_graph
    ... def double(x):
    ...     return x * 2
    >>> a = double(np.ones(2, np.float32))
    >>> b = double(np.full(2, 3, np.float32))
    >>> a.data, b.data
    (array([2., 2.], dtype=float32), array([6., 6.], dtype=float32))
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
        self._local = _PerThread()
        self._signature = inspect.signature(fn)

    @property
    def variants(self) -> list[Variant]:
        """This thread's traced variants, least recently used first."""
        return [v for group in self._local.table.values() for v in group]

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        """Replay the variant for these arguments' signature (tracing it if new).
        Arrays and Tensors may be passed wherever the function takes a Tensor."""
        bound = self._signature.bind(*args, **kwargs)
        arrays: list[NDArray[Any]] = []
        tensors: list[Tensor | None] = []
        names: list[str] = []
        key = (
            is_grad_enabled(),
            tuple(_flatten(v, arrays, tensors, names, k) for k, v in bound.arguments.items()),
        )
        table = self._local.table
        group = table.get(key)
        variant = None
        if group is not None:
            table.move_to_end(key)
            variant = next((v for v in group if v.valid()), None)
        if variant is None:
            variant = self._trace(bound, arrays, tensors, names)
            table.setdefault(key, []).append(variant)
            self._evict()
        graph = variant.graph
        executor = graph.executor
        executor.new_call()
        for node, array in zip(variant.inputs, arrays, strict=True):
            graph.write(node, array)
        pairs = [(n, t) for n, t in zip(variant.inputs, tensors, strict=True) if t is not None]
        set_arguments(graph, executor.call, pairs)
        return _replace(variant.result, lambda t: Tensor.wrap(executor.handle(t.node)))  # type: ignore[no-any-return]

    def _evict(self) -> None:
        table = self._local.table
        while sum(len(g) for g in table.values()) > self.max_variants:
            oldest = next(iter(table))
            table[oldest].pop(0)
            if not table[oldest]:
                del table[oldest]

    def _trace(
        self,
        bound: inspect.BoundArguments,
        arrays: list[NDArray[Any]],
        tensors: list[Tensor | None],
        names: list[str],
    ) -> Variant:
        shapes = ", ".join(f"{n}{a.shape}" for n, a in zip(names, arrays, strict=True))
        graph = Graph(f"{self.__name__}({shapes})")
        guards: dict[int, tuple[Guard, Hashable]] = {}
        _recorder.guards = guards
        try:
            with graph.trace():
                inputs = [Tensor.input(a, graph, n) for a, n in zip(arrays, names, strict=True)]
                for t, needs in zip(inputs, tensors, strict=True):
                    t.node.requires_grad = needs is not None
                feed = iter(inputs)
                rebuilt = {k: _replace(v, lambda _: next(feed)) for k, v in bound.arguments.items()}
                call = inspect.BoundArguments(self._signature, OrderedDict(rebuilt))
                result = self.fn(*call.args, **call.kwargs)
        finally:
            _recorder.guards = None
        params = [n for n in graph.nodes if n.op is None and n.role is Role.PARAMETER]
        checks = [*guards.values(), (_flags(params), _flags(params)())]
        graph.freeze([t.node for t in _outputs(result)], optimize=self.optimize, passes=self.passes)
        return Variant(graph, [t.node for t in inputs], result, checks)

    @property
    def graph(self) -> Graph:
        """The graph of the most recently used variant (in this thread)."""
        table = self._local.table
        if not table:
            raise RuntimeError(f"{self.__name__} has not been called yet: nothing traced")
        return next(reversed(table.values()))[-1].graph


def _flags(params: list[Node]) -> Guard:
    """The guard on the ``requires_grad`` of the captured parameters."""
    return lambda: tuple(n.requires_grad for n in params)


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
