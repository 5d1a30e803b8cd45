"""Outputs: one pre-flight check before training, atomic writes, and a failure to write
one output at the end neither loses the others nor the summary (exit status 4)."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mnist_support import QUICK, Mnist, one_line

import mnist_app.cli as cli
from mnist_app import outputs


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pre-flight problems must stop the run before the data is even loaded."""

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run started despite a bad output option")

    monkeypatch.setattr(cli, "load", fail)


def _refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(args) == 2
    return one_line(capsys.readouterr().err)


@pytest.mark.usefixtures("no_training")
@pytest.mark.parametrize("flag", ["--save", "--save-initial", "--export", "--graph", "--plot"])
def test_a_missing_folder_is_refused_before_training(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs.shutil, "which", lambda name: "/usr/bin/dot")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        outputs.importlib.util,
        "find_spec",
        lambda name: object() if name == "matplotlib" else real_find_spec(name),
    )
    extension = {"--graph": ".svg", "--plot": ".png", "--export": ".onnx"}.get(flag, ".safetensors")
    target = tmp_path / "no" / f"out{extension}"
    line = _refused([flag, str(target)], capsys)
    assert flag in line and "no folder" in line and str(tmp_path / "no") in line


def _folder(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _file(path: Path) -> None:
    path.write_text("")


@pytest.mark.usefixtures("no_training")
@pytest.mark.parametrize(
    ("flag", "name", "make", "expected"),
    [
        ("--save", "w.safetensors", _folder, "is a folder"),
        ("--save", "w.safetensors", _fifo, "not a regular file"),
        ("--checkpoint", "ck", _file, "not a writable folder"),
    ],
)
def test_an_existing_thing_of_the_wrong_kind_is_refused(
    flag: str,
    name: str,
    make: Callable[[Path], None],
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make(tmp_path / name)
    assert expected in _refused([flag, str(tmp_path / name)], capsys)


@pytest.mark.usefixtures("no_training")
def test_an_unwritable_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: False)  # tests run as root
    line = _refused(["--save", str(tmp_path / "w.safetensors")], capsys)
    assert "not writable" in line


@pytest.mark.usefixtures("no_training")
@pytest.mark.parametrize(
    "name", ["~no_such_user_for_mnist/w.safetensors", "x" * 5000 + ".safetensors"]
)
def test_odd_output_paths_are_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "--save" in _refused(["--save", name], capsys)


@pytest.mark.usefixtures("no_training")
def test_drawing_without_dot_names_the_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs.shutil, "which", lambda name: None)
    line = _refused(["--graph", str(tmp_path / "g.svg")], capsys)
    assert "apt-get install graphviz" in line


@pytest.mark.usefixtures("no_training")
def test_plot_without_matplotlib_says_which_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs.importlib.util, "find_spec", lambda name: None)
    assert "--with matplotlib" in _refused(["--plot", str(tmp_path / "c.png")], capsys)


def test_a_bad_save_path_fails_at_once_from_the_real_command(mnist: Mnist) -> None:
    result = mnist(*QUICK, "--save", "missing/w.safetensors")
    assert result.returncode == 2 and "--save" in one_line(result.stderr)


def test_a_failed_output_spares_the_others_and_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(model: Any) -> bytes:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "weights_bytes", disk_full)
    code = cli.main(
        [
            *QUICK,
            "--json",
            "--save",
            str(tmp_path / "w.safetensors"),
            "--graph",
            str(tmp_path / "g.dot"),
            "--checkpoint",
            str(tmp_path / "ck"),
        ]
    )
    assert code == 4
    captured = capsys.readouterr()
    assert "--save" in captured.err and "No space left" in captured.err
    assert json.loads(captured.out.splitlines()[-1])["test_accuracy"] is not None
    assert (tmp_path / "g.dot").exists() and (tmp_path / "ck" / "checkpoint.safetensors").exists()
    assert sorted(os.listdir(tmp_path)) == ["ck", "g.dot"]  # no partial weights file


def test_a_failed_export_spares_the_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unexportable(model: Any, example: Any) -> Any:
        raise ValueError("export: no mapping for op Foo")

    monkeypatch.setattr(cli, "export", unexportable)
    weights, model = tmp_path / "w.safetensors", tmp_path / "m.onnx"
    code = cli.main([*QUICK, "--json", "--save", str(weights), "--export", str(model)])
    assert code == 4
    captured = capsys.readouterr()
    assert "mnist: --export" in captured.err and "no mapping for op Foo" in captured.err
    assert json.loads(captured.out.splitlines()[-1])["test_accuracy"] is not None
    assert sorted(os.listdir(tmp_path)) == ["w.safetensors"]  # no partial ONNX file


@pytest.mark.usefixtures("no_training")
def test_export_needs_an_onnx_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--export", str(tmp_path / "model.safetensors")])
    assert info.value.code == 2
    assert ".onnx" in one_line(capsys.readouterr().err)


def test_temporaries_are_unique_and_orphans_are_cleaned(mnist: Mnist, tmp_path: Path) -> None:
    """The old fixed temporary name followed a planted symlink and deleted its target."""
    precious = tmp_path / "precious"
    precious.write_text("keep")
    (tmp_path / "g.partial.dot").symlink_to(precious)
    orphan = tmp_path / ".w.safetensors.0123abcd.partial"  # a save killed mid-write
    orphan.write_bytes(b"half")
    result = mnist(*QUICK, "--graph", "g.dot", "--save", "w.safetensors")
    assert result.returncode == 0, result.stderr
    assert precious.read_text() == "keep" and (tmp_path / "g.partial.dot").is_symlink()
    assert not orphan.exists() and (tmp_path / "w.safetensors").exists()
