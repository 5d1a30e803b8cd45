"""Rendering DOT text to a file with graphviz's ``dot``, never leaving a partial file."""

from __future__ import annotations

import os
import shutil

import graphviz  # type: ignore[import-untyped]

from mg_graph.errors import GraphError

_FORMATS = {"svg", "png", "pdf", "dot", "gv", "jpg", "jpeg"}


class GraphvizNotFoundError(GraphError, RuntimeError):
    """Rendering needs graphviz's ``dot`` program, which is not installed."""


def render(dot: graphviz.Digraph, path: str) -> str:
    """Write ``dot`` to ``path``; the format comes from the file's extension."""
    stem, ext = os.path.splitext(path)
    fmt = ext.lstrip(".").lower()
    if fmt not in _FORMATS:
        raise ValueError(
            f"visualize: cannot tell the format of {path!r}; use one of "
            + ", ".join(sorted(_FORMATS))
        )
    if fmt in {"dot", "gv"}:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(dot.source)
        return path
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError(
            f"visualize: rendering {path!r} needs graphviz's `dot` program, which is not on "
            "PATH.\n  fix: install the system package (Debian/Ubuntu: `apt-get install "
            "graphviz`, macOS: `brew install graphviz`), or save the source with a .dot "
            "path; `graph.visualize().source` gives the DOT text without it"
        )
    tmp = f"{stem}.partial{ext}"
    source = f"{stem}.partial.gv"  # where graphviz saves the DOT text it renders
    try:
        dot.render(filename=source, outfile=tmp, format=fmt, cleanup=True)
        os.replace(tmp, path)
    finally:  # a failed render leaves neither a partial image nor the source behind
        for leftover in (tmp, source):
            if os.path.exists(leftover):
                os.remove(leftover)
    return path
