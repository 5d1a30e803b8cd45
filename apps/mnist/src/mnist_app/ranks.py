"""Under ``mpiexec``: agreeing, before training, that every rank is ready.

A mistake that only some ranks find (the data missing on one machine, a checkpoint
folder one machine cannot read) must end every rank, not leave the others waiting
forever in the first collective. So a training run owes the other ranks one `ready`
call: after its set-up, or with its error; all ranks then learn whether any failed, and
the first failing rank alone prints its one line (the same mistake on every rank is
said once).
"""

from __future__ import annotations

from macrograd import distributed as dist
from mg_dist.runtime import comm
from mnist_app import options

_owed = {"ready": False}


def expect() -> None:
    """From now on this rank owes the others a `ready` (a training run's set-up).

    >>> expect(); ready(failed=False)  # a world of one owes nothing
    """
    _owed["ready"] = dist.world_size() > 1


def ready(failed: bool) -> list[bool] | None:
    """Tell the other ranks whether this rank's set-up failed; every rank's answer, or
    None when nothing was owed (a world of one, or already told)."""
    if not _owed["ready"]:
        return None
    _owed["ready"] = False
    c = comm()
    assert c is not None  # owed only in a world of several processes
    return [bool(flag) for flag in c.allgather(failed)]


def others_failed() -> bool:
    """Whether another rank failed to set up (it printed why); this rank is ready."""
    return any(ready(failed=False) or ())


def fail(message: str, code: int) -> int:
    """Print ``mnist: message`` (only on the first failing rank under mpiexec) and
    return ``code``.

    >>> fail("no such file", 2)
    2
    """
    flags = ready(failed=True)
    if flags is None or flags.index(True) == dist.rank():
        options.fail(message)
    return code
