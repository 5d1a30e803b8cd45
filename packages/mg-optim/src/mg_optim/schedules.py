"""Learning-rate schedules with PyTorch's semantics.

A schedule is created after its optimiser and sets ``optimizer.lr`` at once to its
value for step 0; each `LRScheduler.step` call (once per batch or per epoch, as you
choose) moves to the next value. Every schedule is written in closed form of the
step count ``last_epoch`` and the base learning rate (the optimiser's lr when the
first schedule was attached, kept as ``optimizer.initial_lr``), so values never
drift and `SequentialLR` can chain them.

>>> from mg_tensor import Tensor
>>> from mg_optim import SGD
>>> opt = SGD([Tensor([0.0], requires_grad=True)], lr=0.1)
>>> sched = LinearLR(opt, total_iters=4)  # 0.1 decaying linearly to 0 over 4 steps
>>> lrs = []
>>> for _ in range(5):
...     lrs.append(round(opt.lr, 6))  # train one batch with opt.lr, then:
...     sched.step()
>>> lrs
[0.1, 0.075, 0.05, 0.025, 0.0]
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from mg_graph import describe, user_location
from mg_optim.optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses implement `lr_at` (the lr after ``epoch`` steps).

    ``last_epoch`` counts the `step` calls since creation (0 right after it).
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                describe(
                    type(self).__name__,
                    f"expected an Optimizer, got {type(optimizer).__name__}",
                    user_location(),
                )
            )
        self.optimizer = optimizer
        for group in optimizer.param_groups:  # each group's base lr, as PyTorch keeps it
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs: list[float] = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = 0
        self._last_lr = self.base_lrs[0]

    @property
    def base_lr(self) -> float:
        """The first group's base learning rate."""
        return self.base_lrs[0]

    def _start(self) -> None:
        """Set the optimiser's lr to the value at step 0 (end of subclass __init__)."""
        self._apply()

    def lr_at(self, epoch: int, base_lr: float | None = None) -> float:
        """The learning rate after ``epoch`` calls of `step`, for a group whose base
        learning rate is ``base_lr`` (the first group's by default)."""
        return self._lr(epoch, self.base_lr if base_lr is None else base_lr)

    def _lr(self, epoch: int, base_lr: float) -> float:
        """Subclasses: the schedule's formula."""
        raise NotImplementedError

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self._lr(self.last_epoch, base)
        self._last_lr = self.optimizer.param_groups[0]["lr"]

    def step(self) -> None:
        """Advance one step and set the optimiser's learning rate."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> float:
        """The learning rate this schedule set last in the first group (each group's
        is in ``optimizer.param_groups``)."""
        return self._last_lr

    def _config(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        """The schedule's position and settings (plain Python values)."""
        return {
            "scheduler": type(self).__name__,
            "last_epoch": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "last_lr": self._last_lr,
            **self._config(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a `state_dict` of the same kind of schedule. The optimiser's lr is
        not touched: it is restored by the optimiser's own state dict (or the next
        `step`)."""
        expected = self.state_dict()
        if state.get("scheduler") != expected["scheduler"] or set(state) != set(expected):
            raise ValueError(
                describe(
                    f"{type(self).__name__}.load_state_dict",
                    f"got the state of a {state.get('scheduler')!r} with keys "
                    f"{sorted(state)}, expected {sorted(expected)}",
                    user_location(),
                )
            )
        self._load(state)

    def _load(self, state: Mapping[str, Any]) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.base_lrs = [float(b) for b in state["base_lrs"]]
        self._last_lr = float(state["last_lr"])
        for key, value in self._config().items():
            if state[key] != value:
                setattr(self, key, state[key])

    def __repr__(self) -> str:
        config = "".join(f", {k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}(last_epoch={self.last_epoch}{config})"


def _positive_int(what: str, name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            describe(what, f"{name} must be a positive int, got {value!r}", user_location())
        )
    return value


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (epoch // step_size)``.

    >>> from mg_tensor import Tensor
    >>> from mg_optim import SGD
    >>> opt = SGD([Tensor([0.0], requires_grad=True)], lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> [sched.lr_at(e) for e in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        self.gamma = float(gamma)
        self._start()

    def _lr(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)

    def _config(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma}


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

    >>> from mg_tensor import Tensor
    >>> from mg_optim import SGD
    >>> opt = SGD([Tensor([0.0], requires_grad=True)], lr=1.0)
    >>> sched = CosineAnnealingLR(opt, T_max=2)
    >>> [round(sched.lr_at(e), 6) for e in range(3)]
    [1.0, 0.5, 0.0]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer)
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = float(eta_min)
        self._start()

    def _lr(self, epoch: int, base_lr: float) -> float:
        cosine = (1.0 + math.cos(math.pi * epoch / self.T_max)) / 2.0
        return self.eta_min + (base_lr - self.eta_min) * cosine

    def _config(self) -> dict[str, Any]:
        return {"T_max": self.T_max, "eta_min": self.eta_min}


class LinearLR(LRScheduler):
    """Multiply the base lr by a factor going linearly from ``start_factor`` to
    ``end_factor`` over ``total_iters`` steps, then constant:
    ``lr = base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)``.

    The defaults decay to zero: the MNIST recipe (lr 0.1 to 0 over the run, one step
    per batch) is ``LinearLR(opt, total_iters=batches_per_run)``.

    >>> from mg_tensor import Tensor
    >>> from mg_optim import SGD
    >>> opt = SGD([Tensor([0.0], requires_grad=True)], lr=0.1)
    >>> sched = LinearLR(opt, total_iters=2)
    >>> [round(sched.lr_at(e), 6) for e in range(4)]
    [0.1, 0.05, 0.0, 0.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0,
        end_factor: float = 0.0,
        total_iters: int | None = None,
    ) -> None:
        super().__init__(optimizer)
        if total_iters is None:
            raise TypeError(
                describe(
                    "LinearLR",
                    "total_iters is required",
                    user_location(),
                    "pass total_iters=<steps until end_factor is reached>",
                )
            )
        self.total_iters = _positive_int("LinearLR", "total_iters", total_iters)
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)
        if self.start_factor < 0 or self.end_factor < 0:
            raise ValueError("LinearLR: start_factor and end_factor must be >= 0")
        self._start()

    def _lr(self, epoch: int, base_lr: float) -> float:
        done = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * done)

    def _config(self) -> dict[str, Any]:
        return {
            "start_factor": self.start_factor,
            "end_factor": self.end_factor,
            "total_iters": self.total_iters,
        }


class LinearWarmup(LRScheduler):
    """Ramp the lr linearly up to the base lr over ``warmup_steps`` steps, then hold it:
    ``lr = base_lr * min(1, (epoch + 1) / warmup_steps)``, so the first step already
    trains (with ``base_lr / warmup_steps``) and step ``warmup_steps - 1`` uses the
    full lr. Chain it with another schedule through `SequentialLR`.

    >>> from mg_tensor import Tensor
    >>> from mg_optim import SGD
    >>> opt = SGD([Tensor([0.0], requires_grad=True)], lr=1.0)
    >>> sched = LinearWarmup(opt, warmup_steps=4)
    >>> [sched.lr_at(e) for e in range(6)]
    [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int) -> None:
        super().__init__(optimizer)
        self.warmup_steps = _positive_int("LinearWarmup", "warmup_steps", warmup_steps)
        self._start()

    def _lr(self, epoch: int, base_lr: float) -> float:
        return base_lr * min(1.0, (epoch + 1) / self.warmup_steps)

    def _config(self) -> dict[str, Any]:
        return {"warmup_steps": self.warmup_steps}


class SequentialLR(LRScheduler):
    """Run ``schedulers[0]`` until step ``milestones[0]``, then ``schedulers[1]``
    (restarted at its own step 0) and so on, as PyTorch's SequentialLR.

    >>> from mg_tensor import Tensor
    >>> from mg_optim import SGD
    >>> opt = SGD([Tensor([0.0], requires_grad=True)], lr=1.0)
    >>> warm = LinearWarmup(opt, warmup_steps=2)
    >>> decay = CosineAnnealingLR(opt, T_max=2)
    >>> sched = SequentialLR(opt, [warm, decay], milestones=[2])
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(round(opt.lr, 6))
    ...     sched.step()
    >>> lrs
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
    ) -> None:
        super().__init__(optimizer)
        self.schedulers = list(schedulers)
        self.milestones = [int(m) for m in milestones]
        if not self.schedulers or len(self.milestones) != len(self.schedulers) - 1:
            raise ValueError(
                describe(
                    "SequentialLR",
                    f"{len(self.schedulers)} schedulers need {len(self.schedulers) - 1} "
                    f"milestones, got {len(self.milestones)}",
                    user_location(),
                )
            )
        if any(s.optimizer is not optimizer for s in self.schedulers):
            raise ValueError("SequentialLR: every scheduler must drive the same optimizer")
        if self.milestones != sorted(self.milestones) or any(m <= 0 for m in self.milestones):
            raise ValueError("SequentialLR: milestones must be positive and increasing")
        self._start()

    def _locate(self, epoch: int) -> tuple[int, int]:
        index = bisect.bisect_right(self.milestones, epoch)
        return index, epoch - (self.milestones[index - 1] if index else 0)

    def _lr(self, epoch: int, base_lr: float) -> float:
        index, local = self._locate(epoch)
        return self.schedulers[index]._lr(local, base_lr)

    def _apply(self) -> None:
        index, local = self._locate(self.last_epoch)
        current = self.schedulers[index]
        current.last_epoch = local
        current._apply()
        self._last_lr = current.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["schedulers"] = [s.state_dict() for s in self.schedulers]
        return state

    def _config(self) -> dict[str, Any]:
        return {"milestones": list(self.milestones)}

    def _load(self, state: Mapping[str, Any]) -> None:
        if len(state["schedulers"]) != len(self.schedulers):
            raise ValueError("SequentialLR.load_state_dict: a different number of schedulers")
        super()._load(state)
        for sched, sub in zip(self.schedulers, state["schedulers"], strict=True):
            sched.load_state_dict(sub)
