"""Graph passes run when a graph is frozen: small functions that rewrite it in place.

Nodes keep their identity through every pass (tensors the user holds point at
them), so a pass changes a node's ``op`` and ``inputs`` rather than replacing it.
mg-tensor registers its maths-aware rewrites (numerical stability) in front of the
generic ones defined here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mg_graph.passes.cse import eliminate_common_subexpressions
from mg_graph.passes.dce import eliminate_dead_code
from mg_graph.passes.fold import fold_constants

if TYPE_CHECKING:
    from mg_graph.graph import Graph

GraphPass = Callable[["Graph"], None]


@dataclass(frozen=True)
class RegisteredPass:
    """A pass and the stages it runs at: ``freeze`` (after tracing) or ``gradients``."""

    name: str
    run: GraphPass
    stages: frozenset[str] = field(default_factory=lambda: frozenset({"freeze", "gradients"}))


PASSES: list[RegisteredPass] = [
    RegisteredPass("fold_constants", fold_constants),
    RegisteredPass("cse", eliminate_common_subexpressions),
    RegisteredPass("dce", eliminate_dead_code),
]


def register_pass(
    name: str, run: GraphPass, stages: frozenset[str] = frozenset({"freeze"}), first: bool = True
) -> None:
    """Add a pass (once per name), in front of the generic ones by default.

    >>> register_pass("noop", lambda graph: None)
    """
    if any(p.name == name for p in PASSES):
        return
    entry = RegisteredPass(name, run, stages)
    if first:
        PASSES.insert(0, entry)
    else:
        PASSES.append(entry)


def run_passes(graph: Graph, stage: str = "freeze") -> None:
    """Run every pass registered for ``stage``, recording node counts in ``graph.history``.

    Passes may add nodes (a rewrite can need a new view), even to a frozen graph."""
    graph._growth += 1
    try:
        for entry in PASSES:
            if stage in entry.stages:
                before = len(graph)
                entry.run(graph)
                graph.history.append((entry.name, before, len(graph)))
    finally:
        graph._growth -= 1


__all__ = [
    "PASSES",
    "RegisteredPass",
    "eliminate_common_subexpressions",
    "eliminate_dead_code",
    "fold_constants",
    "register_pass",
    "run_passes",
]
