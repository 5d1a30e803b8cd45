"""`Optimizer`: the common base, with flat per-dtype storage for parameters, gradients
and optimiser state.

On construction the optimiser gives every parameter dtype one flat array, copies
each parameter in and re-binds the parameter's storage to a view of it
(`mg_tensor.inplace.rebind`), so a step updates every parameter with a handful of
in-place ufunc calls over one array. A flat gradient array is reserved the same way
(`mg_tensor.gradients.reserve`): a frozen graph (``compute_graph``) then writes
its gradients straight into it during ``backprop()``, with no copy. Gradients that
live elsewhere (eager graphs, gradients folded to constants) are copied in by `step`.

A parameter is updated if and only if its gradient is pending (set by ``backprop()``
or by assignment since the last step; see `mg_tensor.gradients`): parameters the loss
did not reach, frozen ones and those whose ``.grad`` is None are skipped entirely, with
no weight decay and no change of their momentum or moments, as PyTorch skips
gradients that are None.

Parameters may come in groups, as PyTorch writes them: a list of dicts, each with its
``params`` and any hyperparameters of its own (``lr``, ``weight_decay``, ``momentum``,
``betas``...); the optimiser's arguments are the defaults of every group. A group's
parameters sit next to each other in the flat arrays, so a step is still a few passes
per group.

Subclasses implement `Optimizer.update`, which receives a `Segment`: flat views of a
contiguous run of parameters of one group, their gradients and their state arrays.
While `update` runs, the optimiser's hyperparameter attributes (``self.lr``,
``self.momentum``...) are those of that group.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mg_graph import Node, Role, describe, register_internal, user_location
from mg_tensor import Tensor, blas, gradients, parallel
from mg_tensor.inplace import rebind, written

register_internal(os.path.dirname(__file__))

Params = Iterable[Tensor] | Mapping[str, Tensor]
# PyTorch's parameter groups: [{"params": [...], "lr": 0.01}, {"params": [...]}]
ParamGroups = Iterable[Mapping[str, Any]]


class Segment:
    """Flat views over a contiguous run of parameters in one dtype group.

    ``param`` and ``grad`` are 1-d views of the flat parameter and gradient arrays;
    `state` and `scratch` return views of state arrays (kept across steps, zeros at
    first) and scratch arrays (contents undefined) of the same extent.
    """

    __slots__ = ("_scratch", "_state", "grad", "group", "param", "start", "stop")

    def __init__(self, group: _Group, start: int, stop: int) -> None:
        self.group = group
        self.start = start
        self.stop = stop
        self.param: NDArray[Any] = group.data[start:stop]
        self.grad: NDArray[Any] = group.grad[start:stop]
        self._state: dict[str, NDArray[Any]] = {}
        self._scratch: list[NDArray[Any]] = []

    def state(self, name: str) -> NDArray[Any]:
        """The view of state array ``name`` (created as zeros on first use)."""
        view = self._state.get(name)
        if view is None:
            view = self._state[name] = self.group.state_array(name)[self.start : self.stop]
        return view

    def scratch(self, k: int = 0) -> NDArray[Any]:
        """The view of scratch array ``k`` (0, 1, ...): free working memory."""
        while len(self._scratch) <= k:
            array = self.group.scratch_array(len(self._scratch))
            self._scratch.append(array[self.start : self.stop])
        return self._scratch[k]


_STATE_KEYS = frozenset(
    {"optimizer", "hyperparameters", "groups", "step_count", "steps", "params", "state"}
)
_FLUSH_EVERY = 32  # steps between flushes of subnormal state values


class _Group:
    """The parameters of one dtype: flat arrays and each parameter's slot in them."""

    def __init__(
        self,
        dtype: np.dtype[Any],
        params: list[Tensor],
        indices: list[int],
        options: list[dict[str, Any]],
    ) -> None:
        self.dtype = dtype
        self.params = params
        self.indices = indices  # positions in the optimiser's parameter list
        self.options = options  # each parameter's group (its hyperparameters)
        bounds = [0]
        for p in params:
            bounds.append(bounds[-1] + p.size)
        self.bounds = bounds  # parameter i owns elements [bounds[i], bounds[i + 1])
        self.size = bounds[-1]
        self.data: NDArray[Any] = np.zeros(self.size, dtype)
        self.grad: NDArray[Any] = np.zeros(self.size, dtype)
        self.state: dict[str, NDArray[Any]] = {}
        self.scratch: list[NDArray[Any]] = []
        self._small: NDArray[np.bool_] | None = None
        self.steps = [0] * len(params)  # updates each parameter has received
        self.uniform = True  # every entry of self.steps is equal
        self.nodes: list[Node] = []
        self.pviews: list[NDArray[Any]] = []
        self.gviews: list[NDArray[Any]] = []
        for i, p in enumerate(params):
            node = p.node
            start = bounds[i]
            value = node.value
            assert value is not None
            pview = self.data[start : start + p.size].reshape(p.shape)
            gview = self.grad[start : start + p.size].reshape(p.shape)
            np.copyto(pview, value)
            rebind(p, pview)
            gradients.reserve(node, gview)
            self.nodes.append(node)
            self.pviews.append(pview)
            self.gviews.append(gview)
        self.full = Segment(self, 0, self.size)
        self._spans: dict[tuple[int, int], Segment] = {(0, self.size): self.full}

    # ------------------------------------------------------------------ arrays
    def state_array(self, name: str) -> NDArray[Any]:
        array = self.state.get(name)
        if array is None:
            array = self.state[name] = np.zeros(self.size, self.dtype)
        return array

    def flush_subnormals(self) -> None:
        """Set subnormal state values to zero.

        A momentum or moment buffer whose gradient is exactly zero (weights of pixels
        that are always black, dead units) decays geometrically into the subnormal
        range, where every ufunc pass over it gets several times slower on x86 (measured:
        the update of the README's MLP went from 2.4 to 6-8 ms per step late in an
        epoch at batch 32). Values below ~1e-38 change nothing else.
        """
        if not self.state or self.dtype.kind != "f":
            return
        tiny = np.finfo(self.dtype).tiny
        magnitude = self.scratch_array(0)
        if self._small is None:
            self._small = np.empty(self.size, bool)
        for array in self.state.values():
            np.abs(array, out=magnitude)
            np.less(magnitude, tiny, out=self._small)
            np.copyto(array, 0, where=self._small)

    def scratch_array(self, k: int) -> NDArray[Any]:
        while len(self.scratch) <= k:
            self.scratch.append(np.zeros(self.size, self.dtype))
        return self.scratch[k]

    def span(self, start: int, stop: int) -> Segment:
        """Views over elements ``start`` to ``stop - 1`` of the flat arrays (cached)."""
        seg = self._spans.get((start, stop))
        if seg is None:
            if len(self._spans) > 64:
                self._spans = {(0, self.size): self.full}
            seg = self._spans[(start, stop)] = Segment(self, start, stop)
        return seg

    def segment(self, lo: int, hi: int) -> Segment:
        """Views over parameters ``lo`` to ``hi - 1`` (cached)."""
        return self.span(self.bounds[lo], self.bounds[hi])

    # ------------------------------------------------------------------ gradients
    def check_owned(self, i: int) -> None:
        if self.nodes[i].value is not self.pviews[i]:
            node = self.nodes[i]
            raise RuntimeError(
                describe(
                    "Optimizer.step",
                    f"parameter {node.label} is no longer stored in this optimiser's flat "
                    "buffer: another optimiser (or inplace.rebind) took it over since",
                    user_location(),
                    "use the optimiser created last for these parameters, or move the old "
                    "one's state over with state_dict()/load_state_dict()",
                )
            )

    def fetch(self, i: int) -> bool:
        """Make gradient slot ``i`` hold the parameter's pending gradient; False if it
        has none. A gradient that a frozen graph already wrote into the slot costs
        nothing; any other is copied in, and a frozen graph's gradient node is bound to
        the slot from its next replay on (for optimisers created after the first
        ``backprop()``)."""
        self.check_owned(i)
        node = self.nodes[i]
        rec = gradients.record(node)
        if rec is None or not rec.pending:
            return False
        gview = self.gviews[i]
        value = rec.value()
        if value is gview:
            return True
        if value.shape != gview.shape:
            raise ValueError(
                describe(
                    "Optimizer.step",
                    f"the gradient of parameter {node.label} has shape {value.shape}",
                    user_location(),
                    "set .grad to a tensor of the parameter's shape",
                )
            )
        np.copyto(gview, value, casting="same_kind")
        computed = rec.computed
        if computed is not None and computed.graph.frozen:
            computed.graph.executor.bind_output(computed, gview)
        return True


def _groups(params: Params | ParamGroups, what: str) -> list[tuple[list[Tensor], dict[str, Any]]]:
    """(parameters, hyperparameter overrides) of each group: one group for a list (or a
    name -> tensor mapping) of tensors, one per dict for PyTorch's list of groups."""
    if isinstance(params, Mapping):
        return [(list(params.values()), {})]
    items: list[Any] = list(params)
    if not items or not all(isinstance(item, Mapping) for item in items):
        return [(items, {})]
    groups: list[tuple[list[Tensor], dict[str, Any]]] = []
    for k, item in enumerate(items):
        if "params" not in item:
            raise ValueError(
                describe(
                    what,
                    f"parameter group {k} has no 'params' entry",
                    user_location(),
                    'write each group as {"params": [...], "lr": ...}',
                )
            )
        members = item["params"]
        members = [members] if isinstance(members, Tensor) else list(members)
        groups.append((members, {key: v for key, v in item.items() if key != "params"}))
    return groups


def _collect(params: Params, what: str) -> list[Tensor]:
    items = list(params.values() if isinstance(params, Mapping) else params)
    if not items:
        raise ValueError(
            describe(what, "got no parameters", user_location(), "pass a list of parameters")
        )
    seen: set[int] = set()
    for k, p in enumerate(items):
        if not isinstance(p, Tensor):
            raise TypeError(
                describe(
                    what,
                    f"parameter {k} is a {type(p).__name__}, not a Tensor",
                    user_location(),
                    "pass tensors created with Tensor(..., requires_grad=True)",
                )
            )
        node = p.node
        if node.op is not None or node.role is not Role.PARAMETER:
            kind = "computed tensor" if node.op is not None else f"{node.role.value} leaf"
            raise ValueError(
                describe(
                    what,
                    f"parameter {k} ({node.label}) is a {kind}, not a parameter",
                    user_location(),
                    "create parameters with Tensor(..., requires_grad=True)",
                )
            )
        if node.dtype.kind != "f":
            raise TypeError(
                describe(
                    what,
                    f"parameter {k} has dtype {node.dtype}; only real floating dtypes are "
                    "supported",
                    user_location(),
                )
            )
        if id(node) in seen:
            raise ValueError(
                describe(
                    what,
                    f"parameter {k} ({node.label}) appears twice",
                    user_location(),
                    "pass each parameter once",
                )
            )
        seen.add(id(node))
    return items


class Optimizer:
    """Base class of the optimisers: flat storage, `step`, `zero_grad`, `lr`, state dicts.

    Subclasses list their hyperparameters in ``hyperparameters`` (attributes of the
    same names, read on every step) and implement `update`.

    >>> import numpy as np
    >>> from mg_tensor import Tensor
    >>> from mg_optim import SGD
    >>> w = Tensor([1.0, 2.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.5)
    >>> (w * w).sum().backprop()
    >>> opt.step()
    >>> w.data
    array([0., 0.], dtype=float32)
    """

    hyperparameters: ClassVar[tuple[str, ...]] = ("lr",)
    state_names: ClassVar[tuple[str, ...]] = ()  # the per-parameter state arrays it may use
    # `update` treats each element on its own (no norms or sums over a segment), so a
    # segment may be cut into ranges updated at once; subclasses opt in
    elementwise: ClassVar[bool] = False

    def __init__(self, params: Params | ParamGroups, defaults: Mapping[str, Any]) -> None:
        name = type(self).__name__
        self.defaults = self._validate(dict(defaults))
        self.param_groups: list[dict[str, Any]] = []
        for members, overrides in _groups(params, name):
            unknown = sorted(set(overrides) - set(self.hyperparameters) - {"initial_lr"})
            if unknown:
                raise ValueError(
                    describe(
                        name,
                        f"parameter group {len(self.param_groups)} sets {unknown}, which "
                        f"is not a hyperparameter of {name} ({', '.join(self.hyperparameters)})",
                        user_location(),
                    )
                )
            options = self._validate({**self.defaults, **overrides})
            self.param_groups.append({"params": members, **options})
        self._params = _collect([p for g in self.param_groups for p in g["params"]], name)
        self._ids = [id(p.node) for p in self._params]
        self._id_set = frozenset(self._ids)
        self._current = self.param_groups[0]  # whose hyperparameters attributes show
        self.step_count = 0  # calls of step()
        by_dtype: dict[np.dtype[Any], tuple[list[Tensor], list[int], list[dict[str, Any]]]] = {}
        k = 0
        for group in self.param_groups:
            for p in group["params"]:
                members, indices, owners = by_dtype.setdefault(p.dtype, ([], [], []))
                members.append(p)
                indices.append(k)
                owners.append(group)
                k += 1
        self._groups = [_Group(dt, *entry) for dt, entry in by_dtype.items()]

    # ------------------------------------------------------------------ basics
    def __getattr__(self, name: str) -> Any:
        # hyperparameters read as attributes: those of the group being updated (the
        # first group outside a step)
        if name in type(self).hyperparameters and "_current" in self.__dict__:
            return self.__dict__["_current"][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self).hyperparameters and "param_groups" in self.__dict__:
            for group in self.param_groups:  # as schedules do: every group
                group.update(self._validate({**group, name: value}))
            return
        super().__setattr__(name, value)

    @property
    def initial_lr(self) -> float | None:
        """The first group's learning rate when the first schedule was attached."""
        value = self.param_groups[0].get("initial_lr")
        return None if value is None else float(value)

    @property
    def params(self) -> list[Tensor]:
        """The parameters, in the order given (a new list)."""
        return list(self._params)

    @property
    def param_arrays(self) -> dict[np.dtype[Any], NDArray[Any]]:
        """The flat parameter array of each dtype (parameters are views into them).
        Call `mg_tensor.inplace.written` after writing them yourself."""
        return {g.dtype: g.data for g in self._groups}

    @property
    def grad_arrays(self) -> dict[np.dtype[Any], NDArray[Any]]:
        """The flat gradient array of each dtype: frozen graphs write gradients into it;
        `step` copies the others in."""
        return {g.dtype: g.grad for g in self._groups}

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None (the next backprop sets them again)."""
        for p in self._params:
            p.grad = None

    def __repr__(self) -> str:
        hyper = ", ".join(f"{h}={getattr(self, h)!r}" for h in self.hyperparameters)
        groups = f", {len(self.param_groups)} groups" if len(self.param_groups) > 1 else ""
        return f"{type(self).__name__}({len(self._params)} parameters{groups}, {hyper})"

    # ------------------------------------------------------------------ stepping
    def step(self, params: Params | None = None) -> None:
        """Update every parameter that has a gradient; parameters whose ``.grad`` is
        None are left unchanged (their state too).

        ``params`` is accepted for compatibility with ``optimizer.step(parameters)``:
        it must be the optimiser's own parameters and is otherwise ignored.
        """
        if params is not None:
            self._check_params(params)
        touched: list[Tensor] = []
        for group in self._groups:
            present = [group.fetch(i) for i in range(len(group.params))]
            if group.uniform and all(present) and len(self.param_groups) == 1:
                t = group.steps[0] + 1
                self._update(group.full, t)
                group.steps = [t] * len(present)
                touched.extend(group.params)
            else:
                self._step_runs(group, present, touched)
            self._current = self.param_groups[0]
        for p in touched:
            gradients.consume(p.node)
        self.step_count += 1
        if self.step_count % _FLUSH_EVERY == 0:
            for group in self._groups:
                group.flush_subnormals()
        if touched:
            written(*touched)

    def _step_runs(self, group: _Group, present: list[bool], touched: list[Tensor]) -> None:
        """Update maximal runs of present parameters that share a step count and a
        parameter group."""
        steps, options = group.steps, group.options
        n = len(steps)
        i = 0
        while i < n:
            if not present[i]:
                i += 1
                continue
            j = i + 1
            while j < n and present[j] and steps[j] == steps[i] and options[j] is options[i]:
                j += 1
            t = steps[i] + 1
            self._current = options[i]
            self._update(group.segment(i, j), t)
            steps[i:j] = [t] * (j - i)
            touched.extend(group.params[i:j])
            i = j
        group.uniform = len(set(steps)) == 1

    def update(self, seg: Segment, t: int) -> None:
        """Apply one update to the parameters of ``seg``, whose step count becomes ``t``
        (1 on their first update). Write only through in-place ufuncs (``out=``)."""
        raise NotImplementedError

    def _update(self, seg: Segment, t: int) -> None:
        """`update`, on the cores at once when it is `elementwise` and BLAS runs on one
        thread (as `mnist --model cnn` sets it): each worker updates its own range of the
        flat arrays. With BLAS threads, its ``axpby`` passes are threaded already (and
        measured faster so: 2.1-2.3 against 2.6-2.9 ms on the README's MLP)."""
        if not self.elementwise or blas.threads() > 1:
            self.update(seg, t)
            return
        group, start = seg.group, seg.start

        def run(part: slice) -> None:
            self.update(group.span(start + part.start, start + part.stop), t)

        parallel.batch_map(run, seg.stop - start, 4 * seg.param.nbytes)

    def _check_params(self, params: Params) -> None:
        items = list(params.values() if isinstance(params, Mapping) else params)
        ids = [id(p.node) if isinstance(p, Tensor) else id(p) for p in items]
        if ids == self._ids or (len(ids) == len(self._ids) and set(ids) == self._id_set):
            return
        extra = sum(i not in self._id_set for i in ids)
        missing = len(self._id_set - set(ids))
        raise ValueError(
            describe(
                f"{type(self).__name__}.step",
                f"got {len(ids)} parameters that differ from the {len(self._ids)} this "
                f"optimiser was created with ({extra} unknown, {missing} missing)",
                user_location(),
                "call step() without arguments, or create an optimiser for these parameters",
            )
        )

    # ------------------------------------------------------------------ state
    def _hyper_values(self) -> list[dict[str, Any]]:
        """Each group's hyperparameters (and base lr of schedules), without its params."""
        return [{key: v for key, v in g.items() if key != "params"} for g in self.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """A snapshot of the optimiser: hyperparameters, step counts and state arrays
        (numpy copies, one per parameter, in parameter order). Parameter values are not
        included: save them separately.

        >>> from mg_tensor import Tensor
        >>> from mg_optim import Adam
        >>> opt = Adam([Tensor([1.0], requires_grad=True)])
        >>> sorted(opt.state_dict())
        ['groups', 'hyperparameters', 'optimizer', 'params', 'state', 'step_count', 'steps']
        """
        names = sorted({name for g in self._groups for name in g.state})
        state: dict[str, list[NDArray[Any]]] = {name: [] for name in names}
        steps = [0] * len(self._params)
        for group in self._groups:
            for i, k in enumerate(group.indices):
                steps[k] = group.steps[i]
        for name in names:
            arrays: list[NDArray[Any] | None] = [None] * len(self._params)
            for group in self._groups:
                flat = group.state_array(name)
                for i, k in enumerate(group.indices):
                    p = self._params[k]
                    arrays[k] = flat[group.bounds[i] : group.bounds[i + 1]].reshape(p.shape).copy()
            state[name] = [a for a in arrays if a is not None]
        return {
            "optimizer": type(self).__name__,
            "hyperparameters": self._hyper_values(),
            "groups": [len(g["params"]) for g in self.param_groups],
            "step_count": self.step_count,
            "steps": steps,
            "params": [(tuple(p.shape), p.dtype.str) for p in self._params],
            "state": state,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a `state_dict` of an optimiser of the same class over parameters of
        the same shapes and dtypes; anything else raises a ValueError saying what differs.
        Hyperparameters (``lr`` included) are restored too."""
        self._check_state(state_dict)
        try:
            options = [self._validate(dict(h)) for h in state_dict["hyperparameters"]]
        except (ValueError, TypeError) as error:
            raise self._state_error(f"invalid hyperparameters: {error}") from error
        for param_group, values in zip(self.param_groups, options, strict=True):
            param_group.update(values)
        self.step_count = int(state_dict["step_count"])
        steps = [int(s) for s in state_dict["steps"]]
        state = state_dict["state"]
        for group in self._groups:
            for name in list(group.state):
                if name not in state:
                    group.state[name].fill(0)
            for i, k in enumerate(group.indices):
                group.steps[i] = steps[k]
                for name, arrays in state.items():
                    flat = group.state_array(name)
                    flat[group.bounds[i] : group.bounds[i + 1]] = np.asarray(arrays[k]).ravel()
            group.uniform = len(set(group.steps)) == 1

    def _state_error(self, problem: str) -> ValueError:
        what = f"{type(self).__name__}.load_state_dict"
        return ValueError(describe(what, problem, user_location()))

    def _check_state(self, state_dict: Mapping[str, Any]) -> None:
        """Raise a ValueError naming the first way ``state_dict`` does not fit."""
        fail = self._state_error
        if set(state_dict) != _STATE_KEYS:
            raise fail(f"keys {sorted(state_dict)} are not those of a state_dict()")
        if state_dict["optimizer"] != type(self).__name__:
            raise fail(f"the state is of a {state_dict['optimizer']}, not a {type(self).__name__}")
        ours = [(tuple(p.shape), p.dtype.str) for p in self._params]
        theirs = [(tuple(s), str(d)) for s, d in state_dict["params"]]
        if theirs != ours:
            if len(theirs) != len(ours):
                raise fail(f"the state is for {len(theirs)} parameters, not {len(ours)}")
            k = next(k for k, (a, b) in enumerate(zip(theirs, ours, strict=True)) if a != b)
            raise fail(f"parameter {k} is {ours[k]} here but {theirs[k]} in the state")
        steps = [int(s) for s in state_dict["steps"]]
        if len(steps) != len(ours) or min(steps) < 0:
            raise fail("'steps' needs one non-negative count per parameter")
        self._check_groups(state_dict)
        self._check_arrays(state_dict["state"], ours)

    def _check_groups(self, state_dict: Mapping[str, Any]) -> None:
        fail = self._state_error
        sizes = [len(g["params"]) for g in self.param_groups]
        if list(state_dict["groups"]) != sizes:
            raise fail(f"the state has groups of {state_dict['groups']} parameters, not {sizes}")
        for hyper in state_dict["hyperparameters"]:
            if not set(self.hyperparameters) <= set(hyper):
                raise fail(f"hyperparameters {sorted(hyper)} lack {sorted(self.hyperparameters)}")

    def _check_arrays(self, state: Mapping[str, Any], ours: list[tuple[Any, str]]) -> None:
        fail = self._state_error
        for name, arrays in state.items():
            if name not in self.state_names:
                raise fail(f"state {name!r} is not used by {type(self).__name__}")
            if len(arrays) != len(ours):
                raise fail(f"state {name!r} has {len(arrays)} arrays for {len(ours)} parameters")
            for k, (array, (shape, dtype)) in enumerate(zip(arrays, ours, strict=True)):
                a = np.asarray(array)
                if a.shape != shape or a.dtype.str != dtype:
                    raise fail(
                        f"state {name!r} of parameter {k} is {a.shape} {a.dtype}, "
                        f"expected {shape} {np.dtype(dtype)}"
                    )

    def _validate(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` with hyperparameter values checked and normalised (subclasses
        extend it); raise ValueError if one is invalid."""
        lr = float(options["lr"])
        if not lr >= 0.0:
            raise ValueError(
                describe(
                    f"{type(self).__name__}.lr",
                    f"learning rate must be >= 0, got {lr}",
                    user_location(),
                )
            )
        return {**options, "lr": lr}


def check_range(what: str, name: str, value: float, low: float, high: float = math.inf) -> None:
    """Raise a ValueError unless ``low <= value < high`` (a finite hyperparameter)."""
    if not (low <= value < high) or math.isnan(value):
        bound = f"in [{low}, {high})" if high != math.inf else f">= {low}"
        raise ValueError(describe(what, f"{name} must be {bound}, got {value}", user_location()))
