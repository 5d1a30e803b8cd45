"""write_atomically: unique exclusive temporaries, no partial files, no orphans."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import pytest

from mg_data import write_atomically


def test_writes_bytes_or_through_a_function(tmp_path: Path) -> None:
    write_atomically(tmp_path / "a", b"bytes")

    def writer(out: BinaryIO) -> None:
        out.write(b"streamed")

    write_atomically(tmp_path / "b", writer)
    assert (tmp_path / "a").read_bytes() == b"bytes"
    assert (tmp_path / "b").read_bytes() == b"streamed"
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "w.bin"
    target.write_bytes(b"old")

    def interrupted(out: BinaryIO) -> None:
        out.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, interrupted)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["w.bin"]


def test_a_symlink_at_a_temporary_name_is_neither_followed_nor_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old fixed 'X.partial.svg' name followed a planted symlink and deleted a file."""
    precious = tmp_path / "precious"
    precious.write_bytes(b"keep me")
    planted = tmp_path / ".graph.svg.00000000.partial"
    planted.symlink_to(precious)
    monkeypatch.setattr("mg_data.files.secrets.token_hex", lambda n: "00000000")
    with pytest.raises(FileExistsError):
        write_atomically(tmp_path / "graph.svg", b"<svg/>")
    assert precious.read_bytes() == b"keep me" and planted.is_symlink()
    assert not (tmp_path / "graph.svg").exists()


def test_the_next_save_removes_what_a_killed_save_left_behind(tmp_path: Path) -> None:
    orphan = tmp_path / ".w.safetensors.1a2b3c4d.partial"  # as a kill -9 mid-write leaves it
    orphan.write_bytes(b"half")
    other = tmp_path / ".other.1a2b3c4d.partial"  # another target's: not ours to remove
    other.write_bytes(b"half")
    write_atomically(tmp_path / "w.safetensors", b"full")
    assert sorted(os.listdir(tmp_path)) == [".other.1a2b3c4d.partial", "w.safetensors"]
