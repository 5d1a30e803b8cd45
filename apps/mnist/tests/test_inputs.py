"""Odd and hostile inputs: weights files and data folders give one line and exit 2."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from mnist_support import one_line
from safetensors.numpy import save_file

from mnist_app.cli import main
from mnist_app.models import build


def _eval(weights: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["eval", "--weights", weights, "--no-progress"]) == 2
    return one_line(capsys.readouterr().err)


def _state(dtype: type[np.floating] = np.float32) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    return {k: v.astype(dtype) for k, v in build("mlp").state_dict().items()}


def test_a_malformed_weights_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\xff" * 64)
    assert "not a valid safetensors file" in _eval(str(path), capsys)


def test_a_fifo_as_weights_does_not_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(tmp_path / "w.safetensors")
    assert "not a regular file" in _eval(str(tmp_path / "w.safetensors"), capsys)


def test_a_device_as_weights(capsys: pytest.CaptureFixture[str]) -> None:
    assert "not a regular file" in _eval("/dev/zero", capsys)


@pytest.mark.parametrize("name", ["~no_such_user_for_mnist/w.safetensors", "x" * 5000])
def test_odd_weights_paths(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert name[:20] in _eval(name, capsys)


def test_weights_of_another_dtype_are_refused_not_cast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_file(_state(np.float64), str(tmp_path / "w.safetensors"))
    line = _eval(str(tmp_path / "w.safetensors"), capsys)
    assert "float64" in line and "refused, not cast" in line


def test_non_finite_weights_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = _state()
    state["hidden_1.bias"][3] = np.nan
    save_file(state, str(tmp_path / "w.safetensors"))
    line = _eval(str(tmp_path / "w.safetensors"), capsys)
    assert "hidden_1.bias" in line and "non-finite" in line


def test_a_data_file_that_cannot_be_read(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mg_data.idx

    def denied(path: Path) -> object:  # tests run as root: chmod 000 would not stop us
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(mg_data.idx, "_open", denied)
    assert main(["--no-progress"]) == 2
    assert "Permission denied" in one_line(capsys.readouterr().err)


def test_a_data_folder_that_cannot_be_entered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(self: Path) -> bool:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", denied)
    assert main(["--data-dir", str(tmp_path), "--no-progress"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "Permission denied" in line and str(tmp_path) in line


@pytest.mark.parametrize("name", ["~no_such_user_for_mnist/mnist", "x" * 5000])
def test_odd_data_dirs(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", name, "--no-progress"]) == 2
    assert "no such folder" in one_line(capsys.readouterr().err)
