"""Option values are checked by the parser: one line, exit status 2, before any work."""

from __future__ import annotations

import os

import pytest
from mnist_support import Mnist, one_line

from mnist_app.cli import main

CORES = os.cpu_count() or 1


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--epochs", "0", "at least 1"),
        ("--epochs", "two", "not an integer"),
        ("--batch-size", "-3", "at least 1"),
        ("--lr", "0", "finite number above 0"),
        ("--lr", "-0.1", "finite number above 0"),
        ("--lr", "inf", "finite number above 0"),
        ("--lr", "nan", "finite number above 0"),
        ("--momentum", "1", "[0, 1)"),
        ("--momentum", "-0.5", "[0, 1)"),
        ("--seed", "-1", "at least 0"),
        ("--threads", "0", f"between 1 and {CORES}"),
        ("--threads", str(CORES + 1), f"between 1 and {CORES}"),
        ("--graph", "graph.jpg", ".svg, .png, .pdf, .dot"),
        ("--save", "weights.pt", ".safetensors"),
        ("--plot", "curves.gif", ".png"),
        ("--subset", "0", "at least 1"),
    ],
)
def test_bad_values_are_refused_by_the_parser(
    option: str, value: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([option, value])
    assert info.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert option in line and expected in line


def test_a_bad_value_from_the_real_command_is_one_line(mnist: Mnist) -> None:
    result = mnist("--lr", "nan")
    assert result.returncode == 2 and result.stdout == ""
    assert "--lr" in one_line(result.stderr)


def test_eval_help_says_what_happens_to_odd_weights(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "refused, not cast" in " ".join(capsys.readouterr().out.split())
