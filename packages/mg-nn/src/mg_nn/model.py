"""`Model`: the base class of layers and networks.

A model's parameters (tensors created with ``requires_grad=True``, frozen ones too)
and sub-models are found through its attributes, also inside lists, tuples and dicts,
in attribute definition order, with PyTorch's dotted names (``hidden_1.weight``,
``layers.0.bias``). Those names are also given to the parameter nodes, so they show up
in drawn graphs; since a name is known only once a model is attached to its parent,
naming is lazy: it happens whenever a model is called from outside any model call, and
in `Model.named_parameters` and friends, walking from the outermost model known to
contain this one.

Subclasses define ``forward`` or override ``__call__``; either way each call of a
sub-model is recorded as a named scope (its attribute name, or its class name for the
outermost model), which the visualiser draws as a cluster.

>>> from mg_nn import Linear
>>> class Net(Model):
...     def __init__(self):
...         super().__init__()
...         self.hidden = Linear(3, 4)
...         self.heads = [Linear(4, 2), Linear(4, 1)]
...     def forward(self, x):
...         h = self.hidden(x).relu()
...         return [head(h) for head in self.heads]
>>> [name for name, _ in Net().named_parameters()]
['hidden.weight', 'hidden.bias', 'heads.0.weight', 'heads.0.bias', 'heads.1.weight', 'heads.1.bias']
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Self

import numpy as np
from numpy.typing import DTypeLike, NDArray

from mg_graph import Role, get_default_graph, named_scope
from mg_tensor.function import guard, guard_epoch, invalidate_guards
from mg_tensor.inplace import buffer
from mg_tensor.tensor import Tensor

_SKIPPED = frozenset({"training"})
_DEVICES = ("cpu",)
_DEVICE_NAMES = ("cpu", "cuda", "mps", "xpu", "meta")  # recognised, to say they are absent
_PREFIX = "_mg_"  # attributes of the machinery itself, never walked


class _Calls(threading.local):
    def __init__(self) -> None:
        self.active: list[Model] = []  # models whose call is running, innermost last


_calls = _Calls()


class StateDictError(ValueError):
    """A state dict does not fit the model; the message names every offending key.

    >>> from mg_nn import Linear
    >>> try:
    ...     Linear(2, 3).load_state_dict({"weight": np.zeros((3, 2))})
    ... except StateDictError as error:
    ...     print(str(error).splitlines()[1])
      missing keys: 'bias'
    """


class IncompatibleKeys(NamedTuple):
    """What `Model.load_state_dict` skipped (non-strict): keys missing from the state and
    keys of the state that the model does not have.

    >>> from mg_nn import Linear
    >>> Linear(2, 3).load_state_dict({"bias": np.zeros(3), "extra": np.ones(1)}, strict=False)
    IncompatibleKeys(missing_keys=['weight'], unexpected_keys=['extra'])
    """

    missing_keys: list[str]
    unexpected_keys: list[str]


def _flatten(name: str, value: Any, containers: set[int]) -> Iterator[tuple[str, Model | Tensor]]:
    """Models and parameters in ``value``, looking inside lists, tuples and dicts."""
    if isinstance(value, Model):
        yield name, value
    elif isinstance(value, Tensor):
        if value.role is Role.PARAMETER:  # frozen ones too, not values computed from them
            yield name, value
    elif isinstance(value, list | tuple | dict):
        if id(value) in containers:  # a container holding itself
            return
        containers.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from _flatten(f"{name}.{key}", item, containers)
        containers.discard(id(value))


def _as_buffer(value: Any, name: str) -> Tensor:
    """A buffer's leaf: an input leaf (writable in place, never folded) owning a copy."""
    array = np.array(value.data if isinstance(value, Tensor) else value)
    return Tensor.input(array, name=name)


def _structural(value: Any) -> bool:
    """Whether assigning ``value`` may change a model's sub-models or parameters."""
    if isinstance(value, Tensor):
        return value.role is Role.PARAMETER
    return isinstance(value, Model | list | tuple | dict)


class Model:
    """Base class of layers and models: parameters and sub-models are found through
    attributes; state can be saved, loaded and switched between training and evaluation.

    >>> import numpy as np
    >>> from mg_tensor import Tensor
    >>> class Scale(Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.factor = Tensor([2.0], requires_grad=True)
    ...     def forward(self, x):
    ...         return x * self.factor
    >>> Scale()(Tensor([1.0, 3.0])).data
    array([2., 6.], dtype=float32)
    """

    training: bool = True
    _mg_parent: tuple[weakref.ref[Model], str] | None = None
    _mg_version = 0  # bumped by every assignment of a sub-model or parameter
    _mg_named = -1  # guard epoch at which a call last named the tree from here

    def __init__(self) -> None:
        self.training = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and not getattr(call, "__mg_scoped__", False):
            setattr(cls, "__call__", _scoped(call))  # noqa: B010  (mypy: no method assign)

    # ------------------------------------------------------------------ calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._mg_run(self.forward, args, kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation of the model; subclasses define it (or override ``__call__``).
        Calling the model runs it inside the model's named scope.

        >>> from mg_nn import ReLU
        >>> ReLU().forward(np.array([-1.0, 1.0])).data
        array([0., 1.])
        """
        raise NotImplementedError(f"{type(self).__name__} defines neither forward() nor __call__()")

    def __setattr__(self, name: str, value: Any) -> None:
        buffers = self.__dict__.get("_mg_buffers")
        if buffers is not None and name in buffers:  # as PyTorch: replaces the buffer
            buffers[name] = _as_buffer(value, name)
            self._mg_edited()
            return
        super().__setattr__(name, value)
        structural = not name.startswith(_PREFIX) and _structural(value)
        if structural:
            super().__setattr__("_mg_version", self._mg_version + 1)
        if structural or name == "training":
            invalidate_guards()  # compiled functions that called this model check again

    def __getattr__(self, name: str) -> Any:
        """Buffers are attributes too (``bn.running_mean``); called only for names that
        ordinary lookup does not find."""
        buffers = self.__dict__.get("_mg_buffers")
        if buffers is not None and name in buffers:
            return buffers[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def register_buffer(self, name: str, value: Any) -> Tensor:
        """Keep ``value`` (an array or Tensor) as model state that is not a parameter, as
        PyTorch's buffers (BatchNorm's running statistics): no gradient, ignored by
        optimisers, saved in the state dict under ``name`` after the model's other
        entries, converted by `to`, read as ``self.<name>``. It is an input leaf, so
        in-place updates are seen by every graph that reads it (never folded).

        >>> m = Model()
        >>> _ = m.register_buffer("steps", np.array(0))
        >>> m.steps.data, list(m.state_dict()), m.parameters()
        (array(0), ['steps'], [])
        """
        buffers: dict[str, Tensor] | None = self.__dict__.get("_mg_buffers")
        if buffers is None:
            buffers = {}
            self._mg_buffers = buffers
        tensor = buffers[name] = _as_buffer(value, name)
        self._mg_edited()
        return tensor

    def named_buffers(self, prefix: str = "") -> list[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs of this model and every sub-model.

        >>> from mg_nn import BatchNorm1d, Sequential
        >>> [name for name, _ in Sequential(BatchNorm1d(3)).named_buffers()]
        ['0.running_mean', '0.running_var', '0.num_batches_tracked']
        """
        result = []
        for path, model in self.named_modules(prefix):
            for name, tensor in model.__dict__.get("_mg_buffers", {}).items():
                result.append((f"{path}.{name}" if path else name, tensor))
        return result

    def buffers(self) -> list[Tensor]:
        """Every buffer of this model and its sub-models (see `register_buffer`)."""
        return [tensor for _, tensor in self.named_buffers()]

    def _mg_run(self, call: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
        """``call(*args, **kwargs)`` as this model's call: in its named scope, naming the
        tree first for an outermost call, guarded while tracing. (Plain code, not a
        generator context manager: an eager step calls a model per layer.)"""
        active = _calls.active
        if active and active[-1] is self:  # super().__call__ from an overriding __call__
            return call(*args, **kwargs)
        if not active and self._mg_named != guard_epoch():  # named since no change
            self._mg_name_tree()
            self._mg_named = guard_epoch()
        if get_default_graph().tracing:
            guard(self._mg_guard_key)
        active.append(self)
        try:
            with named_scope(self._mg_scope_name(), kind=type(self).__name__):
                return call(*args, **kwargs)
        finally:
            active.pop()

    def _mg_edited(self) -> None:
        """Members changed other than by assigning an attribute (a container edited, a
        buffer registered, parameters converted): traces through this model retrace."""
        self._mg_version += 1
        invalidate_guards()

    def _mg_guard_key(self) -> tuple[bool, int]:
        """What a trace that called this model depends on: its mode, and its direct
        sub-models and parameters as a version bumped whenever one is assigned (changes
        inside a list or dict attribute are not seen: assign the container again)."""
        return (self.training, self._mg_version)

    def _mg_scope_name(self) -> str:
        link = self._mg_parent
        if link is not None and link[0]() is not None:
            return link[1]
        return type(self).__name__

    # ------------------------------------------------------------------ walking
    def _mg_members(self) -> Iterator[tuple[str, Any]]:
        """(attribute name, value) pairs to search for sub-models and parameters."""
        for key, value in vars(self).items():
            if key not in _SKIPPED and not key.startswith(_PREFIX):
                yield key, value

    def _mg_entries(self) -> Iterator[tuple[str, Model | Tensor]]:
        """Direct sub-models and own parameters, with names relative to this model."""
        for key, value in self._mg_members():
            yield from _flatten(key, value, set())

    def _mg_walk(
        self, prefix: str, path: set[int], buffers: bool = False
    ) -> Iterator[tuple[str, Model | Tensor]]:
        """Every sub-model and parameter below this model (and every buffer, after each
        model's other entries, with ``buffers``), depth first in definition order
        (duplicates included). Records each sub-model's parent for lazy naming."""
        path.add(id(self))
        try:
            for name, member in self._mg_entries():
                if isinstance(member, Model):
                    if id(member) in path:  # a reference back up the tree
                        continue
                    member._mg_parent = (weakref.ref(self), name)
                    yield prefix + name, member
                    yield from member._mg_walk(f"{prefix}{name}.", path, buffers)
                else:
                    yield prefix + name, member
            if buffers:
                for name, tensor in self.__dict__.get("_mg_buffers", {}).items():
                    yield prefix + name, tensor
        finally:
            path.discard(id(self))

    def _mg_root(self) -> Model:
        model, seen = self, {id(self)}
        while model._mg_parent is not None:
            parent = model._mg_parent[0]()
            if parent is None or id(parent) in seen:
                break
            seen.add(id(parent))
            model = parent
        return model

    def _mg_name_tree(self) -> None:
        """Give every parameter and buffer node of the whole tree its full dotted name."""
        named: set[int] = set()
        for name, member in self._mg_root()._mg_walk("", set(), buffers=True):
            if isinstance(member, Tensor) and member.node.id not in named:
                named.add(member.node.id)
                member.name = name

    def _mg_all_parameters(self, buffers: bool = False) -> list[tuple[str, Tensor]]:
        self._mg_name_tree()
        walk = self._mg_walk("", set(), buffers)
        return [(n, m) for n, m in walk if isinstance(m, Tensor)]

    # ------------------------------------------------------------------ introspection
    def named_parameters(self, prefix: str = "") -> list[tuple[str, Tensor]]:
        """(dotted name, parameter) pairs in definition order; a parameter shared by
        several attributes is listed once, under its first name.

        >>> from mg_nn import Linear
        >>> [(n, p.shape) for n, p in Linear(2, 3).named_parameters()]
        [('weight', (3, 2)), ('bias', (3,))]
        """
        seen: set[int] = set()
        result = []
        for name, param in self._mg_all_parameters():
            if param.node.id not in seen:
                seen.add(param.node.id)
                result.append((prefix + name, param))
        return result

    def parameters(self) -> list[Tensor]:
        """Every parameter, in definition order, each once.

        >>> from mg_nn import Linear
        >>> len(Linear(2, 3).parameters())
        2
        """
        return [param for _, param in self.named_parameters()]

    def named_children(self) -> list[tuple[str, Model]]:
        """(name, sub-model) pairs of the direct sub-models, each once.

        >>> from mg_nn import Linear, Sequential, ReLU
        >>> [name for name, _ in Sequential(Linear(2, 2), ReLU()).named_children()]
        ['0', '1']
        """
        seen: set[int] = set()
        result = []
        for name, member in self._mg_entries():
            if isinstance(member, Model) and id(member) not in seen and member is not self:
                seen.add(id(member))
                member._mg_parent = (weakref.ref(self), name)
                result.append((name, member))
        return result

    def children(self) -> list[Model]:
        """The direct sub-models, each once.

        >>> from mg_nn import Linear, Sequential
        >>> [type(m).__name__ for m in Sequential(Linear(2, 2), Sequential()).children()]
        ['Linear', 'Sequential']
        """
        return [child for _, child in self.named_children()]

    def named_modules(self, prefix: str = "") -> list[tuple[str, Model]]:
        """(dotted name, model) for this model (name ``prefix``, "" by default) and every
        sub-model below it, each once.

        >>> from mg_nn import Linear, Sequential
        >>> [name for name, _ in Sequential(Linear(2, 2)).named_modules()]
        ['', '0']
        """
        seen = {id(self)}
        result: list[tuple[str, Model]] = [(prefix, self)]
        for name, member in self._mg_walk("", set()):
            if isinstance(member, Model) and id(member) not in seen:
                seen.add(id(member))
                result.append((f"{prefix}.{name}" if prefix else name, member))
        return result

    def modules(self) -> list[Model]:
        """This model and every sub-model below it, each once.

        >>> from mg_nn import Linear, Sequential
        >>> len(Sequential(Linear(2, 2), Sequential(Linear(2, 2))).modules())
        4
        """
        return [model for _, model in self.named_modules()]

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Self:
        """Set the ``training`` flag of this model and every sub-model; returns self.

        >>> from mg_nn import Dropout, Sequential
        >>> net = Sequential(Dropout(0.5)).eval()
        >>> net[0].training
        False
        """
        for _, model in self.named_modules():
            model.training = mode
        return self

    def eval(self) -> Self:
        """Switch to evaluation mode (``train(False)``): dropout becomes the identity.

        >>> from mg_nn import Dropout
        >>> Dropout(0.5).eval().training
        False
        """
        return self.train(False)

    # ------------------------------------------------------------------ dtype
    def to(self, *args: Any, dtype: DTypeLike | None = None, device: str | None = None) -> Self:
        """Convert every floating-point parameter and buffer to ``dtype``, in place (as PyTorch's
        ``model.to(torch.float64)``); returns self. ``"cpu"`` (the only device) is
        accepted and changes nothing: ``to("cpu")``, ``to("cpu", np.float64)``.

        Each parameter Tensor keeps its identity (attributes, lists and shared weights
        stay valid) and gets a new leaf node; as in PyTorch, convert before building
        optimisers or compiled functions, which keep the old storage.

        >>> from mg_nn import Linear
        >>> Linear(2, 3).to(np.float64).weight.dtype
        dtype('float64')
        """
        for arg in args:
            if isinstance(arg, str) and arg.split(":")[0] in _DEVICE_NAMES:
                device = arg
            elif dtype is None:
                dtype = arg
            else:
                raise TypeError(f"to(): unexpected argument {arg!r}")
        if device is not None and device not in _DEVICES:
            raise ValueError(f"to(): device {device!r} is not available; Macrograd runs on 'cpu'")
        if dtype is None:
            return self
        target = np.dtype(dtype)
        if not np.issubdtype(target, np.floating):
            raise TypeError(f"to(): parameters need a floating dtype, not {target}")
        for _, param in self._mg_all_parameters(buffers=True):
            node = param.node
            if param.dtype != target and np.issubdtype(param.dtype, np.floating):
                value = buffer(param).astype(target)
                # the Tensor object is shared by every attribute that holds the parameter
                param._node = node.graph.leaf(value, node.role, node.name, node.location)
        for model in self.modules():
            model._mg_edited()  # traces captured the old nodes
        return self

    def float(self) -> Self:
        """``to(np.float32)``.

        >>> from mg_nn import Linear
        >>> Linear(2, 3).double().float().bias.dtype
        dtype('float32')
        """
        return self.to(np.float32)

    def double(self) -> Self:
        """``to(np.float64)``."""
        return self.to(np.float64)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, NDArray[Any]]:
        """Dotted name -> a copy of each parameter's and buffer's value (PyTorch's keys and
        layouts).

        >>> from mg_nn import Linear
        >>> {k: v.shape for k, v in Linear(2, 3).state_dict().items()}
        {'weight': (3, 2), 'bias': (3,)}
        """
        state = self._mg_all_parameters(buffers=True)
        return {name: buffer(param).copy() for name, param in state}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state`` (name -> array) into the parameters and buffers, in
        place.

        Shapes must match exactly and values must cast safely ('same_kind'). With
        ``strict`` (the default) missing and unexpected keys are errors too; the error
        names every offending key and nothing is loaded. Returns the keys skipped.

        >>> from mg_nn import Linear
        >>> a, b = Linear(2, 3), Linear(2, 3)
        >>> b.load_state_dict(a.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> bool((a.weight.data == b.weight.data).all())
        True
        """
        own = self._mg_all_parameters(buffers=True)
        names = {name for name, _ in own}
        missing = [name for name, _ in own if name not in state]
        unexpected = [key for key in state if key not in names]
        problems = []
        values: list[tuple[Tensor, NDArray[Any]]] = []
        for name, param in own:
            if name not in state:
                continue
            value = np.asarray(state[name])
            if value.shape != param.shape:
                problems.append(
                    f"shape mismatch for {name!r}: the state has {value.shape}, "
                    f"the model has {param.shape}"
                )
            elif not np.can_cast(value.dtype, param.dtype, "same_kind"):
                problems.append(
                    f"dtype mismatch for {name!r}: cannot cast {value.dtype} to {param.dtype}"
                )
            else:
                values.append((param, value))
        if strict and missing:
            problems.insert(0, "missing keys: " + ", ".join(map(repr, missing)))
        if strict and unexpected:
            problems.insert(
                1 if strict and missing else 0,
                "unexpected keys: " + ", ".join(map(repr, unexpected)),
            )
        if problems:
            raise StateDictError(
                f"load_state_dict: the state does not fit {type(self).__name__}:\n  "
                + "\n  ".join(problems)
                + ("\n  (strict=False allows missing and unexpected keys)" if strict else "")
            )
        for param, value in values:
            param.assign(value)
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state dict to a safetensors file (PyTorch's key names and layouts, so
        ``torch_model.load_state_dict(safetensors.torch.load_file(path))`` reads it).
        The file is written under a temporary name and renamed: never left half-written.

        >>> import os, tempfile
        >>> from mg_nn import Linear
        >>> path = os.path.join(tempfile.mkdtemp(), "linear.safetensors")
        >>> Linear(2, 3).save(path)
        >>> sorted(os.listdir(os.path.dirname(path)))
        ['linear.safetensors']
        """
        from safetensors.numpy import save_file

        target = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(target))
        temporary = os.path.join(folder, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
        state = {name: np.ascontiguousarray(value) for name, value in self.state_dict().items()}
        try:
            save_file(state, temporary, metadata={"format": "pt"})
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def load(self, path: str | os.PathLike[str], strict: bool = True) -> IncompatibleKeys:
        """Load a safetensors file (written by `save` or by PyTorch) into the parameters;
        see `load_state_dict`.

        >>> import os, tempfile
        >>> from mg_nn import Linear
        >>> path = os.path.join(tempfile.mkdtemp(), "linear.safetensors")
        >>> Linear(2, 3).save(path)
        >>> Linear(2, 3).load(path)
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        """
        from safetensors.numpy import load_file

        return self.load_state_dict(load_file(os.fspath(path)), strict=strict)

    # ------------------------------------------------------------------ display
    def extra_repr(self) -> str:
        """Settings shown inside the parentheses of ``repr`` (layers override it).

        >>> from mg_nn import Linear
        >>> Linear(2, 3).extra_repr()
        'in_features=2, out_features=3, bias=True'
        """
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self.named_children():
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {text}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


class _Layer(Model):
    """A model of one tensor argument (only narrows the static type of calls)."""

    if TYPE_CHECKING:

        def __call__(self, x: Any) -> Tensor: ...


def _scoped(call: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a subclass's own ``__call__`` so that it runs in the model's named scope."""

    @functools.wraps(call)
    def scoped(self: Model, *args: Any, **kwargs: Any) -> Any:
        return self._mg_run(call, (self, *args), kwargs)

    scoped.__mg_scoped__ = True  # type: ignore[attr-defined]
    return scoped


__all__ = ["IncompatibleKeys", "Model", "StateDictError"]
