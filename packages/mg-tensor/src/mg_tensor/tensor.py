"""`Tensor`: the user-facing handle on a graph node, with a numpy-style surface.

Every operation adds a node to a graph and returns a new Tensor at once; nothing
is computed until ``.data``, `realize` or `backprop` asks for it.

Dtype rules (the same as numpy's, with one default):

* Python scalars and (nested) lists become float32 unless ``dtype`` says otherwise,
  so ``Tensor([[1, 2], [3, 4]])`` is float32, like PyTorch's default dtype.
* numpy arrays keep their dtype (a float64 array stays float64).
* In an operation a Python scalar is "weak": it takes the other operand's kind, as in
  numpy 2 (``float32 tensor * 2`` stays float32, ``int32 tensor + 1`` stays int32).
* Every op's result dtype is exactly what numpy gives for the same operands.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any, SupportsIndex, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from mg_graph import (
    FrozenGraphError,
    Graph,
    GraphError,
    Node,
    Role,
    describe,
    get_default_graph,
    source_of,
    user_location,
)
from mg_tensor.torch_api import TensorMethods

Scalar: TypeAlias = int | float | bool | np.number[Any] | np.bool_
# what an op takes as an operand: a tensor, a scalar, or array-like data (lists, arrays)
Operand: TypeAlias = "Tensor | Scalar | ArrayLike"


class TracingWarning(UserWarning):
    """Python read a computed value while compute_graph was tracing: it is frozen in."""


def as_array(data: Any, dtype: DTypeLike | None = None) -> NDArray[Any]:
    """Convert user data to a fresh numpy array following the dtype rules above.

    >>> as_array([1, 2]).dtype
    dtype('float32')
    >>> as_array(np.arange(2)).dtype
    dtype('int64')
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtype)
    if isinstance(data, np.ndarray | np.generic):
        return np.array(data)
    array = np.array(data)
    if array.dtype.kind in "iuf" or (array.dtype == object and array.size == 0):
        return array.astype(np.float32)
    if array.dtype.kind in "bc":
        return array
    raise TypeError(
        describe(
            "Tensor",
            f"cannot make a tensor from {type(data).__name__} data (numpy saw dtype {array.dtype})",
            user_location(),
            "pass numbers, nested lists of numbers or a numpy array",
        )
    )


class Tensor(TensorMethods):
    """A lazily computed n-dimensional array, one node of a computational graph.

    >>> t = Tensor([[1, 2], [3, 4]])
    >>> (t * 2).sum().data
    array(20., dtype=float32)
    """

    __slots__ = ("__weakref__", "_node")
    # numpy's protocols (np.exp(t), np.mean(t), np_array * t -> Tensor): torch_api.py

    def __init__(
        self,
        data: Any,
        dtype: DTypeLike | None = None,
        graph: Graph | None = None,
        name: str | None = None,
        requires_grad: bool = False,
    ) -> None:
        array = as_array(data, dtype)
        if requires_grad and array.dtype.kind not in "fc":
            raise TypeError(
                describe(
                    "Tensor",
                    f"requires_grad needs a floating dtype, got {array.dtype}",
                    user_location(),
                    "pass dtype=np.float32 (or float64)",
                )
            )
        role = Role.PARAMETER if requires_grad else Role.CONSTANT
        target = get_default_graph() if graph is None else graph
        self._node = target.leaf(array, role, name, user_location())

    @classmethod
    def wrap(cls, node: Node) -> Tensor:
        """The Tensor for an existing node (no new node is made)."""
        tensor = cls.__new__(cls)
        tensor._node = node
        return tensor

    @classmethod
    def input(
        cls, array: NDArray[Any], graph: Graph | None = None, name: str | None = None
    ) -> Tensor:
        """An input buffer (drawn red): a leaf refilled with new data on every step.

        >>> Tensor.input(np.zeros((2, 3), np.float32)).role
        <Role.INPUT: 'input'>
        """
        target = get_default_graph() if graph is None else graph
        node = target.leaf(np.array(array), Role.INPUT, name, user_location())
        return cls.wrap(node)

    # ------------------------------------------------------------- metadata
    @property
    def node(self) -> Node:
        return self._node

    @property
    def graph(self) -> Graph:
        return self._node.graph

    @property
    def shape(self) -> tuple[int, ...]:
        return self._node.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._node.dtype

    @property
    def ndim(self) -> int:
        return len(self._node.shape)

    @property
    def role(self) -> Role:
        return self._node.role

    @property
    def name(self) -> str | None:
        return self._node.name

    @name.setter
    def name(self, value: str | None) -> None:
        self._node.name = value

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor: a parameter that is not frozen, or a
        value computed from one (outside `no_grad`).

        Setting it on a leaf freezes (False) or unfreezes (True) a parameter: a frozen
        parameter gets no gradient and optimisers skip it, but it stays a parameter
        (never folded into a constant). Compiled functions that captured it trace again.

        >>> w = Tensor([1.0], requires_grad=True)
        >>> w.requires_grad = False; (w * 2).requires_grad
        False
        """
        return self._node.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        node = self._node
        if node.op is not None:
            raise GraphError(
                describe(
                    "requires_grad",
                    f"only leaves can be frozen or unfrozen, not a computed tensor {node.shape}",
                    user_location(),
                    "set it on the parameters (model.parameters()), or use .detach()",
                )
            )
        if value and node.dtype.kind not in "fc":
            raise TypeError(
                describe(
                    "requires_grad",
                    f"needs a floating dtype, got {node.dtype}",
                    user_location(),
                    "convert with .astype(np.float32) first",
                )
            )
        if value and node.role is Role.CONSTANT:
            node.role = Role.PARAMETER
        if node.requires_grad != bool(value):
            node.requires_grad = bool(value)
            from mg_tensor.function import invalidate_guards

            invalidate_guards()

    @property
    def is_gradient(self) -> bool:
        return self._node.is_gradient

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        # without it Python iterates through __getitem__ until an IndexError, and an index
        # past the end is a ShapeError here: ``for row in t`` would fail at the end
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __hash__(self) -> int:
        return id(self._node)

    # ------------------------------------------------------------- values
    def realize(self) -> Tensor:
        """Bring this tensor up to date with its leaves: recompute it and whatever it
        depends on that a write (an optimiser step, ``assign``) made stale; returns self.

        >>> w = Tensor([1.0], requires_grad=True); y = w * 2; _ = y.data
        >>> _ = w.assign([5.0]); y.data, y.realize().data
        (array([2.], dtype=float32), array([10.], dtype=float32))
        """
        self._node.graph.realize(self._node)
        return self

    @property
    def data(self) -> NDArray[Any]:
        """The value, a read-only array, computed if it has none yet. A value is fixed
        when first computed: it reflects the leaves at that moment, and Macrograd never
        changes the array afterwards. ``np.array(t)`` or ``t.numpy(copy=True)`` give a
        writable copy; to change a parameter use ``assign`` or ``p -= ...``.

        >>> t = Tensor([1.0, 2.0]) * 2
        >>> t.data.flags.writeable
        False
        """
        node = self._node
        if node.op is not None and node.graph.tracing:
            warnings.warn(
                f"reading .data of a computed tensor while compute_graph traces "
                f"({node.label}) at {user_location()}: Python decisions made on it are frozen "
                "into the trace; keep data-dependent logic in tensor ops",
                TracingWarning,
                stacklevel=2,
            )
        node.graph.compute(node)
        value = node.value
        assert value is not None
        if node.op is None or (node.graph.frozen and source_of(node) is node):
            value = value.copy()  # the leaf's or the schedule's own buffer: it will change
        value.flags.writeable = False
        return value

    def numpy(self, copy: bool = False) -> NDArray[Any]:
        """The value as a numpy array: read-only like `data`, or a writable copy with
        ``copy=True``.

        >>> Tensor([1, 2]).numpy(copy=True)
        array([1., 2.], dtype=float32)
        """
        return self.data.copy() if copy else self.data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        return self.data.item()

    def __array__(self, dtype: DTypeLike | None = None, copy: bool | None = None) -> NDArray[Any]:
        value = self.data
        if dtype is not None and np.dtype(dtype) != value.dtype:
            return value.astype(dtype)
        return value.copy() if copy else value

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use .any() / .all() on .data"
            )
        return bool(self.item())

    def __repr__(self) -> str:
        node = self._node
        what = node.op.label() if node.op is not None else node.role.value
        head = f"Tensor(shape={node.shape}, dtype={node.dtype}, {what}"
        if node.name:
            head += f", name={node.name!r}"
        if node.value is not None and not (node.graph.frozen and source_of(node) is node):
            body = np.array2string(
                node.value, separator=", ", threshold=20, edgeitems=2, prefix="       "
            )
            return f"{head},\n       {body})"
        return head + ", not computed)"

    # ------------------------------------------------------------- leaves
    def assign(self, value: Any) -> Tensor:
        """Overwrite a parameter or input buffer in place. Values already computed from it
        stay as they were; values computed from now on (or ``realize()``) see the new one.

        >>> w = Tensor([1.0, 2.0], requires_grad=True)
        >>> y = w * 2; _ = y.data
        >>> _ = w.assign([3.0, 4.0]); y.data, (w * 2).data
        (array([2., 4.], dtype=float32), array([6., 8.], dtype=float32))
        """
        node = self._node
        if node.op is not None or node.role is Role.CONSTANT:
            raise GraphError(
                describe(
                    "assign",
                    f"only parameters and input buffers can be written, not a "
                    f"{'computed tensor' if node.op is not None else 'constant'} "
                    f"{node.shape}",
                    user_location(),
                    "create it with requires_grad=True or Tensor.input(...)",
                )
            )
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
        try:
            fits = np.broadcast_shapes(array.shape, node.shape) == node.shape
        except ValueError:  # numpy's own message would not say which tensor or where
            fits = False
        if not fits:
            raise ValueError(
                describe(
                    "assign",
                    f"value of shape {array.shape} does not fit tensor {node.shape}",
                    user_location(),
                    "assign a value of the same shape",
                )
            )
        node.graph.write(node, array)
        return self

    @property
    def grad(self) -> Tensor | None:
        """The gradient set by the last `backprop` that reached this parameter, or None.

        It is a snapshot: later writes to parameters do not change it; the next
        ``backprop()`` does (in place, as PyTorch's ``.grad``).
        """
        from mg_tensor.gradients import record

        rec = record(self._node)
        return None if rec is None else Tensor.wrap(rec.node)

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        from mg_tensor.gradients import assign

        assign(self._node, None if value is None else _tensor_of(value).node)

    def backprop(self, grad_output: Any = None, accumulate: bool = False) -> None:
        """Set ``.grad`` of every parameter this tensor depends on through differentiable
        ops. It overwrites the old gradients (``accumulate=True`` adds to them);
        parameters it does not reach keep theirs, and optimisers skip them. The gradient
        nodes are built on the first call and reused afterwards.

        >>> w = Tensor([1.0, 2.0], requires_grad=True)
        >>> (w * w).sum().backprop(); w.grad.data
        array([2., 4.], dtype=float32)
        """
        from mg_tensor.autodiff import backprop

        backprop(self, grad_output, accumulate=accumulate)

    def detach(self) -> Tensor:
        """The same value with no gradient flowing back. The output of a compiled
        function detaches into a constant holding its value.

        >>> Tensor([1.0], requires_grad=True).detach().requires_grad
        False
        """
        if self._node.graph.frozen and not self._node.graph.capturing:
            return Tensor(self.data, graph=get_default_graph())
        return _ops.stop_gradient(self)

    # ------------------------------------------------------------- in place
    def _update(self, op: str, other: Any) -> Tensor:
        """``self <op>= other`` on a parameter or input buffer: write the result into the
        leaf (the hand-written SGD step); computed tensors keep Python's meaning."""
        node = self._node
        if node.op is not None or node.role is Role.CONSTANT:
            return getattr(self, f"__{op}__")(other)  # type: ignore[no-any-return]
        _check_writable(node, f"{op}=")
        value = getattr(Tensor.wrap(node), f"__{op}__")(other)
        node.graph.write(node, value.data)
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._update("add", other)

    def __isub__(self, other: Any) -> Tensor:
        return self._update("sub", other)

    def __imul__(self, other: Any) -> Tensor:
        return self._update("mul", other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._update("truediv", other)

    def __setitem__(self, index: Any, value: Any) -> None:
        """``p[i] = v`` writes into a parameter or input buffer in place.

        >>> w = Tensor([1.0, 2.0], requires_grad=True); w[0] = 5.0; w.data
        array([5., 2.], dtype=float32)
        """
        node = self._node
        if node.op is not None or node.role is Role.CONSTANT:
            raise TypeError(
                describe(
                    "setitem",
                    f"a {'computed tensor' if node.op is not None else 'constant'} "
                    f"{node.shape} cannot be written: its value is fixed",
                    user_location(),
                    "build a new tensor instead (where(mask, v, t)), or write into a "
                    "parameter or input buffer",
                )
            )
        _check_writable(node, "setitem")
        array = node.value
        assert array is not None
        array[_plain(index)] = value.data if isinstance(value, Tensor) else value
        Graph.touch(node)

    # ------------------------------------------------------------- arithmetic
    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.subtract(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.subtract(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.multiply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.multiply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.divide(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.divide(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _ops.power(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.power(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ops.negative(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.absolute(self)

    def __lt__(self, other: Any) -> Tensor:
        return _ops.less(self, other)

    def __le__(self, other: Any) -> Tensor:
        return _ops.less_equal(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _ops.greater(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _ops.greater_equal(self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.equal(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.not_equal(self, other)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    # ------------------------------------------------------------- maths
    def exp(self) -> Tensor:
        return _ops.exp(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    def abs(self) -> Tensor:
        return _ops.absolute(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def maximum(self, other: Any) -> Tensor:
        return _ops.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return _ops.minimum(self, other)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        return _ops.clip(self, min, max)

    def astype(self, dtype: DTypeLike) -> Tensor:
        return _ops.astype(self, dtype)

    # ------------------------------------------------------------- shapes
    def reshape(self, *shape: SupportsIndex | Sequence[SupportsIndex]) -> Tensor:
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)  # type: ignore[arg-type]

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self, None)

    def expand(self, *shape: int | Sequence[int]) -> Tensor:
        target = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        return _ops.broadcast_to(self, tuple(target))  # type: ignore[arg-type]


def _tensor_of(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(value)


def _plain(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(_plain(i) for i in index)
    return index


def _check_writable(node: Node, what: str) -> None:
    """In-place writes cannot be recorded in a trace or a gradient: refuse them there."""
    if get_default_graph().capturing or node.graph.capturing:
        raise FrozenGraphError(
            describe(
                what,
                f"writes a leaf {node.shape} in place while compute_graph traces (or "
                "gradients are built): the write would happen once, not at every call",
                user_location(),
                "update parameters outside the @compute_graph function (optimizer.step() "
                "or p -= lr * p.grad after the call)",
            )
        )


def realize(*tensors: Tensor) -> tuple[Tensor, ...]:
    """Compute several tensors in one pass per graph (shared work is done once; in a
    frozen graph, one replay). Returns the tensors.

    >>> a = Tensor([1.0, 2.0]); b = a.exp(); c = b * 2
    >>> _ = realize(b, c)
    >>> c.data
    array([ 5.436564, 14.778111], dtype=float32)
    """
    by_graph: dict[int, tuple[Graph, list[Node]]] = {}
    for t in tensors:
        by_graph.setdefault(id(t.graph), (t.graph, []))[1].append(t.node)
    for graph, nodes in by_graph.values():
        graph.realize(*nodes)
    return tensors


from mg_tensor import ops as _ops  # noqa: E402  (ops need Tensor; Tensor's methods need ops)
