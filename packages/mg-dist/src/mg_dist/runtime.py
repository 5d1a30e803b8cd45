"""The MPI runtime, loaded lazily: rank, world size, barrier, fault handling.

``mpi4py.MPI`` is imported only when the process was started by a launcher
(``mpiexec``/``mpirun`` set ``PMI_RANK``, ``PMIX_RANK`` or ``OMPI_COMM_WORLD_RANK``)
and only on first use. Without a launcher, or without the runtime (mpi4py absent, or
``from mpi4py import MPI`` failing with "cannot load MPI library"), the world is one
process: ``rank() == 0``, ``world_size() == 1`` and every collective is a no-op.

>>> from mg_dist import init, rank, world_size, barrier
>>> init()
>>> rank(), world_size()  # no mpiexec here
(0, 1)
>>> barrier()  # a no-op in a world of one
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

from mg_graph import register_internal

register_internal(os.path.dirname(__file__))

_LAUNCHER_VARIABLES = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK")
_state: dict[str, Any] = {"loaded": False, "comm": None, "mpi": None}


class CollectiveError(RuntimeError):
    """An error every rank detects identically (different model shapes, say): only
    rank 0 prints it before the job is aborted."""


def launched() -> bool:
    """True when this process was started by ``mpiexec`` (or another MPI launcher).

    >>> launched() in (True, False)
    True
    """
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def _load() -> Any | None:
    if not _state["loaded"]:
        _state["loaded"] = True
        if launched():
            try:
                MPI = _import_mpi()
            except (ImportError, RuntimeError) as error:  # absent, or no libmpi
                warnings.warn(
                    f"mg_dist: started by an MPI launcher but the MPI runtime is unavailable "
                    f"({error}); running as a world of one process. Install it with "
                    "`pip install mg-dist[mpi]` (mpi4py and the mpich wheel).",
                    RuntimeWarning,
                    stacklevel=3,
                )
            else:
                _state["mpi"] = MPI
                _state["comm"] = MPI.COMM_WORLD
                if MPI.COMM_WORLD.Get_size() > 1:
                    sys.excepthook = _abort_on_exception
    return _state["comm"]


def _import_mpi() -> Any:
    """``mpi4py.MPI``. mpi4py looks for libmpi in its own environment's ``lib``; when
    that fails (a layered environment, ``uv run --with``), try the library installed
    beside the ``mpiexec`` on PATH, the launcher that most likely started us."""
    try:
        from mpi4py import MPI
    except RuntimeError:
        mpiexec = shutil.which("mpiexec")
        if mpiexec is None or "MPI4PY_LIBMPI" in os.environ:
            raise
        os.environ["MPI4PY_LIBMPI"] = str(Path(mpiexec).resolve().parent.parent / "lib")
        from mpi4py import MPI
    return MPI


def comm() -> Any | None:
    """The world communicator (``mpi4py.MPI.Comm``), or None in a world of one process
    without the runtime.

    >>> comm() is None or comm().Get_size() >= 1
    True
    """
    return _load()


def mpi() -> Any:
    """The ``mpi4py.MPI`` module (only valid when `comm` is not None)."""
    _load()
    return _state["mpi"]


def init() -> None:
    """Start the runtime (if launched by ``mpiexec``) and make an uncaught exception on
    any rank abort every rank: the failing rank prints its error once and the job
    exits non-zero instead of hanging in a collective. Calling it again does nothing;
    the other functions call it when needed.

    >>> init()
    """
    _load()


def rank() -> int:
    """This process's rank, 0 to ``world_size() - 1``.

    >>> rank()
    0
    """
    c = _load()
    return 0 if c is None else int(c.Get_rank())


def world_size() -> int:
    """The number of processes taking part (1 without ``mpiexec``).

    >>> world_size()
    1
    """
    c = _load()
    return 1 if c is None else int(c.Get_size())


def all_sum(value: float) -> float:
    """``value`` summed over every rank (a count of correct predictions on each rank's
    share of a test set, say); ``value`` itself in a world of one.

    >>> all_sum(3.0)
    3.0
    """
    c = _load()
    if c is None or c.Get_size() == 1:
        return float(value)
    return float(c.allreduce(float(value)))


def barrier() -> None:
    """Wait until every rank has called `barrier`.

    >>> barrier()
    """
    c = _load()
    if c is not None and c.Get_size() > 1:
        c.Barrier()


def _abort_on_exception(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    """``sys.excepthook`` of a multi-process run: print, then abort every rank.

    Without it the other ranks would wait forever in their next collective. An error
    that every rank raises identically (`CollectiveError`) is printed by rank 0 only;
    the others give it a moment to do so before aborting themselves, and the
    printing rank gives the launcher a moment to forward the text.
    """
    c = _state["comm"]
    me = int(c.Get_rank())
    collective = isinstance(error, CollectiveError)
    if not collective or me == 0:
        text = "".join(traceback.format_exception(kind, error, tb))
        sys.stderr.write(f"[rank {me}] {text}")
        sys.stderr.flush()
        # MPI_Abort tears the launcher down at once: output still in its pipes (ours
        # included) is lost on a loaded machine unless it has a moment to forward it
        time.sleep(1.0)
    else:
        time.sleep(3.0)
    c.Abort(1)
