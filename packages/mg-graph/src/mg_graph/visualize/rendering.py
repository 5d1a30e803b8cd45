"""Rendering DOT text to a file with graphviz's ``dot``, never leaving a partial file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import graphviz  # type: ignore[import-untyped]

from mg_graph.errors import GraphError

_FORMATS = {"svg", "png", "pdf", "dot", "gv", "jpg", "jpeg"}


class GraphvizNotFoundError(GraphError, RuntimeError):
    """Rendering needs graphviz's ``dot`` program, which is not installed."""


def _need_dot(what: str, alternative: str = "") -> None:
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError(
            f"visualize: {what} needs graphviz's `dot` program, which is not on PATH.\n"
            "  fix: install the system package (Debian/Ubuntu: `apt-get install graphviz`, "
            f"macOS: `brew install graphviz`){alternative}; `graph.visualize().source` gives "
            "the DOT text without it"
        )


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
    _need_dot(f"rendering {path!r}", ", or save the source with a .dot path")
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


def positions(dot: graphviz.Digraph) -> dict[str, tuple[float, float]]:
    """Where ``dot`` places each node (centre x, y in inches, y growing upwards), read
    from ``dot -Tplain``: for checking a layout without looking at it.

    >>> import shutil
    >>> d = graphviz.Digraph(); d.edge("a", "b")
    >>> shutil.which("dot") is None or positions(d)["a"][1] > positions(d)["b"][1]
    True
    """
    _need_dot("laying out a graph")
    plain = subprocess.run(
        ["dot", "-Tplain"], input=dot.source, capture_output=True, text=True, check=True
    ).stdout
    found = {}
    for name, x, y in re.findall(r'^node ("[^"]*"|\S+) (\S+) (\S+)', plain, re.MULTILINE):
        found[name.strip('"')] = (float(x), float(y))
    return found
