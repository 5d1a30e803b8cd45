"""A fresh clone trains with no flags and no network: MNIST ships with the app."""

from __future__ import annotations

import gzip
import hashlib
from importlib.resources import files
from pathlib import Path

from mnist_support import QUICK, Mnist

from macrograd.data import MNIST_SHA256


def test_the_four_files_and_a_notice_ship_as_package_data() -> None:
    shipped = files("mnist_app") / "dataset"
    for name, sha256 in MNIST_SHA256.items():
        content = gzip.decompress((shipped / f"{name}.gz").read_bytes())
        assert hashlib.sha256(content).hexdigest() == sha256, name
    notice = (shipped / "NOTICE").read_text()
    for author in ("Yann LeCun", "Corinna Cortes", "Christopher J.C. Burges"):
        assert author in notice
    assert "CC BY-SA 3.0" in notice


def test_trains_without_data_dir_environment_or_cache(mnist: Mnist, tmp_path: Path) -> None:
    result = mnist(*QUICK, env={"MACROGRAD_DATA": ""})  # empty counts as unset
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    home = tmp_path / "home"
    assert not (home / ".cache").exists()  # nothing downloaded, nothing cached
