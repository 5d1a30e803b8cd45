"""Public API surface and import hygiene."""

from __future__ import annotations

import subprocess
import sys

import mg_data


def test_all_is_complete_and_importable() -> None:
    assert sorted(mg_data.__all__) == sorted(set(mg_data.__all__))
    for name in mg_data.__all__:
        assert hasattr(mg_data, name), name
    for name in ("load_mnist", "load_split", "DataLoader", "scale", "normalize", "flatten"):
        assert name in mg_data.__all__
    for name in ("one_hot", "from_torchvision", "CorruptFileError", "MissingDataError"):
        assert name in mg_data.__all__


def test_error_hierarchy() -> None:
    assert issubclass(mg_data.DatasetError, ValueError)
    assert issubclass(mg_data.CorruptFileError, mg_data.DatasetError)
    assert issubclass(mg_data.MissingDataError, FileNotFoundError)
    assert issubclass(mg_data.DownloadError, mg_data.MissingDataError)


def test_imports_no_other_macrograd_package_nor_torch() -> None:
    code = (
        "import sys, mg_data\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'macrograd', 'mg_graph', 'mg_tensor', 'mg_nn', 'mg_optim', 'torch', 'torchvision'}]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
