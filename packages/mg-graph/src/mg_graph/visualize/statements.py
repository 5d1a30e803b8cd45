"""DOT statements written as text, in the form the graphviz package writes them.

The package quotes every ID and attribute through several regular expressions, which
took most of `visualize`'s time on a 5,000-node graph; these lines are built directly
and handed to `graphviz.Digraph` as its body.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)")
_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}


def quote(text: str) -> str:
    """An ID as DOT needs it: bare when it can be, else in double quotes.

    >>> quote("linear"), quote("12"), quote("a b"), quote('say "hi"')
    ('linear', '12', '"a b"', '"say \\\\"hi\\\\""')
    """
    if _PLAIN.fullmatch(text) and text.lower() not in _KEYWORDS:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def attributes(attrs: dict[str, str]) -> str:
    """`` [label=... key=value ...]``: the label first, the rest sorted; empty if none.

    >>> attributes({"style": "invis", "label": "a b"})
    ' [label="a b" style=invis]'
    """
    if not attrs:
        return ""
    keys = sorted(attrs, key=lambda k: (k != "label", k))
    return " [" + " ".join(f"{k}={quote(attrs[k])}" for k in keys) + "]"


class Body:
    """Lines of a graph's body, indented by subgraph depth."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1

    def node(self, name: str, attrs: dict[str, str] | None = None) -> None:
        self.lines.append("\t" * self.depth + quote(name) + attributes(attrs or {}) + "\n")

    def edge(self, tail: str, head: str, attrs: dict[str, str] | None = None) -> None:
        line = f"{quote(tail)} -> {quote(head)}{attributes(attrs or {})}"
        self.lines.append("\t" * self.depth + line + "\n")

    def attr(self, key: str, value: str) -> None:
        self.lines.append("\t" * self.depth + f"{key}={quote(value)}\n")

    def open(self, name: str | None = None) -> None:
        """Start a subgraph (``cluster_...`` names draw a frame); `close` ends it."""
        self.lines.append("\t" * self.depth + (f"subgraph {quote(name)} {{\n" if name else "{\n"))
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.lines.append("\t" * self.depth + "}\n")
