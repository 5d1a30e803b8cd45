"""Every file the tool writes, in one table: checked before training starts, written
atomically at the end, and a failure to write one never loses the others.

To add an output option, add one `Output` to `OUTPUTS` (its flag, allowed extensions,
and an extra check if it needs a program or module); `add_options` puts it on the parser
(which checks the extension), `preflight` checks its folder before training, and the
code producing it calls ``writer.write(flag, path, content)``.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import os
import shutil
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from macrograd.data import write_atomically


class UsageError(Exception):
    """A mistake in the command line or its inputs: one line, exit status 2."""


def _needs_dot(path: str) -> str | None:
    if path.endswith(".dot") or shutil.which("dot"):
        return None
    return "drawing needs graphviz's `dot`: apt-get install graphviz (or use a .dot name)"


def _needs_matplotlib(path: str) -> str | None:
    if importlib.util.find_spec("matplotlib") is not None:
        return None
    return "needs matplotlib: run `uv run --with matplotlib mnist ...` (or pip install matplotlib)"


@dataclass(frozen=True)
class Output:
    """One output option: ``extensions`` empty means the value is a folder."""

    flag: str
    metavar: str
    help: str
    extensions: tuple[str, ...] = ()
    check: Callable[[str], str | None] | None = None  # a problem beyond the path, or None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def parse(self, text: str) -> str:
        """The parser's check of the value: a known extension (files only)."""
        if self.extensions and not text.lower().endswith(self.extensions):
            raise argparse.ArgumentTypeError(f"{text!r} must end in {', '.join(self.extensions)}")
        return text


WEIGHTS = (".safetensors",)
OUTPUTS: tuple[Output, ...] = (
    Output("--save", "FILE", "write the final weights (safetensors)", WEIGHTS),
    Output(
        "--save-initial",
        "FILE",
        "write the initial weights (to start another framework from them)",
        WEIGHTS,
    ),
    Output(
        "--export",
        "FILE",
        "write the trained model as ONNX (onnxruntime runs it; `mnist eval --weights` reads it)",
        (".onnx",),
    ),
    Output(
        "--graph",
        "FILE",
        "draw the training graph (.svg, .png and .pdf need graphviz's dot; .dot does not)",
        (".svg", ".png", ".pdf", ".dot"),
        _needs_dot,
    ),
    Output(
        "--plot",
        "FILE",
        "draw loss/accuracy curves (needs matplotlib: uv run --with matplotlib mnist ...)",
        (".png", ".svg", ".pdf"),
        _needs_matplotlib,
    ),
    Output(
        "--checkpoint",
        "DIR",
        "write model, optimiser, schedule, random state and data position to DIR at the "
        "end of every epoch (atomically: the last good one stays); see --resume",
    ),
)


def add_options(parser: argparse.ArgumentParser) -> None:
    """Put every output option of `OUTPUTS` on ``parser``."""
    for output in OUTPUTS:
        parser.add_argument(
            output.flag, metavar=output.metavar, help=output.help, type=output.parse
        )


def _path_problem(path: str, folder_wanted: bool) -> str | None:
    """What stops us writing ``path`` (a file, or a folder we may create), or None."""
    parent = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        return err.strerror if err.errno != errno.ENAMETOOLONG else "the name is too long"
    if mode is not None and folder_wanted:
        return (
            None
            if stat.S_ISDIR(mode) and os.access(path, os.W_OK | os.X_OK)
            else ("not a writable folder")
        )
    if mode is not None and stat.S_ISDIR(mode):
        return "is a folder: give a file name"
    if mode is not None and not stat.S_ISREG(mode):
        return "exists and is not a regular file"
    if not os.path.isdir(parent):
        return f"no folder {parent}: create it first"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the folder {parent} is not writable"
    return None


def expand(path: str) -> str:
    """``path`` with ``~`` expanded; an unknown user is a UsageError."""
    if path.startswith("~") and os.path.expanduser(path) == path:
        raise UsageError(f"{path}: no such user or home directory; write the full path")
    return os.path.expanduser(path)


def preflight(args: argparse.Namespace) -> None:
    """Check every output given in ``args`` before any work; expand their ``~``.

    Raises UsageError naming the option and what is wrong, for the first problem found.
    """
    for output in OUTPUTS:
        value = getattr(args, output.dest, None)
        if value is None:
            continue
        try:
            path = expand(value)
        except UsageError as err:
            raise UsageError(f"{output.flag} {err}") from None
        problem = _path_problem(path, folder_wanted=not output.extensions)
        if problem is None and output.check is not None:
            problem = output.check(path)
        if problem is not None:
            raise UsageError(f"{output.flag} {value}: {problem}")
        setattr(args, output.dest, path)


class Writer:
    """Writes outputs; a failure is reported in one line and remembered, not raised, so
    the other outputs and the summary still come out (exit status 4 at the end)."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def write(self, flag: str, path: str, content: bytes | Callable[[BinaryIO], object]) -> bool:
        """Write ``content`` (bytes, or a function writing to a binary file) to ``path``
        atomically; returns whether it worked."""
        return self.attempt(flag, path, lambda: write_atomically(path, content))

    def attempt(self, flag: str, path: str, action: Callable[[], object]) -> bool:
        """Run ``action``, which writes ``path``; returns whether it worked."""
        try:
            action()
        except Exception as err:  # any failure: the run's other results must survive
            self.fail(flag, path, err)
            return False
        return True

    def fail(self, flag: str, path: str, err: BaseException) -> None:
        message = f"{flag} {path}: could not write it: {type(err).__name__}: {err}"
        self.failures.append(message)
        print(f"mnist: {message}", file=sys.stderr)
