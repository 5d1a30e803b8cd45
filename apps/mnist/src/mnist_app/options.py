"""Option values checked by the parser: a bad one is one line and exit status 2."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one line (no usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _number(text: str, kind: type[int] | type[float]) -> float:
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def at_least(minimum: int) -> Callable[[str], int]:
    """The check of an integer option of at least ``minimum``.

    >>> at_least(1)("3")
    3
    """

    def check(text: str) -> int:
        value = int(_number(text, int))
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return check


positive_int = at_least(1)
non_negative_int = at_least(0)


def positive_float(text: str) -> float:
    """A finite number above 0 (``inf`` and ``nan`` are refused).

    >>> positive_float("0.1")
    0.1
    """
    value = _number(text, float)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def momentum(text: str) -> float:
    """A number in [0, 1).

    >>> momentum("0.9")
    0.9
    """
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def threads(text: str) -> int:
    """A thread count between 1 and the number of cores.

    >>> threads("1")
    1
    """
    value = int(_number(text, int))
    cores = os.cpu_count() or 1
    if not 1 <= value <= cores:
        raise argparse.ArgumentTypeError(
            f"must be between 1 and {cores} (this machine's cores), got {value}"
        )
    return value


def fail(message: str, code: int = 2) -> int:
    """Print ``mnist: message`` to stderr and return ``code``."""
    print(f"mnist: {message}", file=sys.stderr)
    return code
