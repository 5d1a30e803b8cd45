"""The `mnist` command end to end: the one-epoch accuracy target, eval, data errors."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest
from mnist_support import QUICK, Mnist, needs_dot, one_line

from mnist_app.cli import main
from mnist_app.models import MNIST_model

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "mnist_app" / "dataset"
DATA = Path(os.environ.get("MACROGRAD_DATA") or SHIPPED)
FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def last_json(text: str) -> dict:  # type: ignore[type-arg]
    return json.loads(text.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_default_run_reaches_97_percent_in_one_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = tmp_path / "graph.dot"
    weights = tmp_path / "weights.safetensors"
    code = main(["--json", "--no-progress", "--graph", str(graph), "--save", str(weights)])
    assert code == 0
    summary = last_json(capsys.readouterr().out)
    assert summary["test_accuracy"] >= 0.97, summary
    assert summary["epoch_seconds"] > 0 and summary["samples_per_second"] > 0
    assert summary["config"]["lr"] == 0.1 and summary["config"]["batch_size"] == 64
    assert graph.read_text().startswith("digraph") and "input_layer.weight" in graph.read_text()

    assert main(["eval", "--weights", str(weights), "--json", "--no-progress"]) == 0
    evaluated = last_json(capsys.readouterr().out)
    assert evaluated["test_accuracy"] == summary["test_accuracy"]


@needs_dot
def test_graph_rendered_as_svg(mnist: Mnist, tmp_path: Path) -> None:
    result = mnist(*QUICK, "--graph", "graph.svg")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "graph.svg").read_text().startswith("<?xml")


def test_missing_data_dir_is_reported_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    assert main(["--data-dir", str(missing), "--no-progress"]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(missing) in line and "not created" in line
    assert not missing.exists()


def test_data_dir_without_the_files_offline_lists_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mg_data.download as download

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(download, "_open_url", offline)
    assert main(["--data-dir", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mnist: ") and "Traceback" not in err
    assert "train-images-idx3-ubyte" in err and str(tmp_path) in err


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_damaged_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    for name in FILES:
        source = DATA / f"{name}.gz"
        if source.exists():
            shutil.copy(source, tmp_path / f"{name}.gz")
        else:
            shutil.copy(DATA / name, tmp_path / name)
    victim = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(victim.read_bytes())
    raw = raw[:-100] if damage == "truncate" else raw[:-1] + bytes([raw[-1] ^ 1])
    victim.write_bytes(gzip.compress(raw))
    assert main(["--data-dir", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "t10k-labels-idx1-ubyte" in err and "Traceback" not in err


def test_eval_without_weights_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["eval", "--weights", str(tmp_path / "none.safetensors")]) == 2
    assert "mnist --save" in one_line(capsys.readouterr().err)


def test_eval_rejects_weights_of_another_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "mlp.safetensors"
    MNIST_model(784, 10).save(str(path))
    assert main(["eval", "--weights", str(path), "--model", "cnn"]) == 2
    assert "cannot load" in capsys.readouterr().err


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in [
        "--epochs",
        "--batch-size",
        "--lr",
        "--momentum",
        "--optimizer",
        "--model",
        "--seed",
        "--data-dir",
        "--threads",
        "--save",
        "--graph",
        "--plot",
        "--json",
        "--checkpoint",
        "--resume",
        "Exit status",
    ]:
        assert option in text
