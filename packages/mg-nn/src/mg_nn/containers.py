"""`ModuleList` and `ModuleDict`: sub-models held by position or by key, with
PyTorch's names (``layers.0.weight``, ``heads.cls.bias``), so state dicts match.
A compiled function that reads a container while tracing is traced again after the
container is edited (its members are one of the trace's guards).

>>> from mg_nn import Linear, Model
>>> class Net(Model):
...     def __init__(self):
...         super().__init__()
...         self.blocks = ModuleList([Linear(2, 2) for _ in range(2)])
...         self.heads = ModuleDict({"cls": Linear(2, 3)})
>>> list(Net().state_dict())  # doctest: +NORMALIZE_WHITESPACE
['blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight', 'blocks.1.bias',
 'heads.cls.weight', 'heads.cls.bias']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, overload

from mg_nn.model import Model
from mg_tensor.function import guard


def _checked(module: Any, owner: str) -> Model:
    if not isinstance(module, Model):
        raise TypeError(f"{owner} holds models, not {type(module).__name__}")
    return module


class ModuleList(Model):
    """A list of sub-models, named by position. Not callable itself: iterate over it.

    >>> from mg_nn import Linear, ReLU
    >>> layers = ModuleList([Linear(2, 4)])
    >>> layers.append(ReLU()).extend([Linear(4, 1)])
    ModuleList(
      (0): Linear(in_features=2, out_features=4, bias=True)
      (1): ReLU()
      (2): Linear(in_features=4, out_features=1, bias=True)
    )
    >>> len(layers), type(layers[-1]).__name__, len(layers[:2])
    (3, 'Linear', 2)
    """

    def __init__(self, modules: Iterable[Model] | None = None) -> None:
        super().__init__()
        self._mg_modules: list[Model] = []
        if modules is not None:
            self.extend(modules)

    def _mg_members(self) -> Iterator[tuple[str, Any]]:
        for i, module in enumerate(self._mg_modules):
            yield str(i), module
        yield from super()._mg_members()

    def append(self, module: Model) -> ModuleList:
        """Add ``module`` at the end; returns self."""
        self._mg_modules.append(_checked(module, "ModuleList"))
        self._mg_edited()  # traces through this list check their members again
        return self

    def extend(self, modules: Iterable[Model]) -> ModuleList:
        """Add every model of ``modules`` at the end; returns self."""
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Model) -> None:
        """Insert ``module`` before position ``index``."""
        self._mg_modules.insert(index, _checked(module, "ModuleList"))
        self._mg_edited()

    @overload
    def __getitem__(self, index: int) -> Model: ...
    @overload
    def __getitem__(self, index: slice) -> ModuleList: ...
    def __getitem__(self, index: int | slice) -> Model | ModuleList:
        guard(self._mg_guard_key)  # a trace that reads the list follows its edits
        if isinstance(index, slice):
            return ModuleList(self._mg_modules[index])
        return self._mg_modules[index]

    def __setitem__(self, index: int, module: Model) -> None:
        self._mg_modules[index] = _checked(module, "ModuleList")
        self._mg_edited()

    def __delitem__(self, index: int | slice) -> None:
        del self._mg_modules[index]
        self._mg_edited()

    def __len__(self) -> int:
        guard(self._mg_guard_key)
        return len(self._mg_modules)

    def __iter__(self) -> Iterator[Model]:
        guard(self._mg_guard_key)
        return iter(list(self._mg_modules))

    def __iadd__(self, modules: Iterable[Model]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Model]) -> ModuleList:
        return ModuleList([*self._mg_modules, *other])


class ModuleDict(Model):
    """An ordered dict of sub-models, named by key (insertion order). Not callable itself.

    >>> from mg_nn import Linear
    >>> heads = ModuleDict({"a": Linear(2, 1)})
    >>> heads["b"] = Linear(2, 3)
    >>> list(heads), "a" in heads, [n for n, _ in heads.named_parameters()][-1]
    (['a', 'b'], True, 'b.bias')
    """

    def __init__(
        self, modules: Mapping[str, Model] | Iterable[tuple[str, Model]] | None = None
    ) -> None:
        super().__init__()
        self._mg_modules: dict[str, Model] = {}
        if modules is not None:
            self.update(modules)

    def _mg_members(self) -> Iterator[tuple[str, Any]]:
        yield from self._mg_modules.items()
        yield from super()._mg_members()

    def update(self, modules: Mapping[str, Model] | Iterable[tuple[str, Model]]) -> None:
        """Add or replace entries from a mapping or (key, model) pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module

    def __getitem__(self, key: str) -> Model:
        guard(self._mg_guard_key)  # a trace that reads the dict follows its edits
        return self._mg_modules[key]

    def __setitem__(self, key: str, module: Model) -> None:
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict keys are strings, not {type(key).__name__}")
        self._mg_modules[key] = _checked(module, "ModuleDict")
        self._mg_edited()  # traces through this dict check their members again

    def __delitem__(self, key: str) -> None:
        del self._mg_modules[key]
        self._mg_edited()

    def __contains__(self, key: object) -> bool:
        guard(self._mg_guard_key)
        return key in self._mg_modules

    def __len__(self) -> int:
        guard(self._mg_guard_key)
        return len(self._mg_modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """The keys, in insertion order."""
        guard(self._mg_guard_key)
        return list(self._mg_modules)

    def values(self) -> list[Model]:
        """The models, in insertion order."""
        guard(self._mg_guard_key)
        return list(self._mg_modules.values())

    def items(self) -> list[tuple[str, Model]]:
        """(key, model) pairs, in insertion order."""
        guard(self._mg_guard_key)
        return list(self._mg_modules.items())

    def pop(self, key: str) -> Model:
        """Remove the entry ``key`` and return its model."""
        module = self._mg_modules.pop(key)
        self._mg_edited()
        return module

    def clear(self) -> None:
        """Remove every entry."""
        self._mg_modules.clear()
        self._mg_edited()


__all__ = ["ModuleDict", "ModuleList"]
