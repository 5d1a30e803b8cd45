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
    model = tmp_path / "model.onnx"
    args = ["--graph", str(graph), "--save", str(weights), "--export", str(model)]
    code = main(["--json", "--no-progress", *args])
    assert code == 0
    summary = last_json(capsys.readouterr().out)
    assert summary["test_accuracy"] >= 0.97, summary
    assert summary["epoch_seconds"] > 0 and summary["samples_per_second"] > 0
    assert summary["config"]["lr"] == 0.1 and summary["config"]["batch_size"] == 64
    assert graph.read_text().startswith("digraph") and "input_layer.weight" in graph.read_text()

    assert main(["eval", "--weights", str(weights), "--json", "--no-progress"]) == 0
    evaluated = last_json(capsys.readouterr().out)
    assert evaluated["test_accuracy"] == summary["test_accuracy"]
    assert main(["eval", "--weights", str(model), "--json", "--no-progress"]) == 0
    assert last_json(capsys.readouterr().out)["test_accuracy"] == summary["test_accuracy"]


def test_export_writes_onnx_that_eval_scores_like_the_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnx

    weights, model = tmp_path / "w.safetensors", tmp_path / "m.onnx"
    assert main([*QUICK, "--json", "--save", str(weights), "--export", str(model)]) == 0
    trained = last_json(capsys.readouterr().out)["test_accuracy"]
    proto = onnx.load(str(model))
    assert [i.name for i in proto.graph.initializer][:2] == [
        "input_layer.weight",
        "input_layer.bias",
    ]
    scores = {}
    for path in (weights, model):
        assert (
            main(["eval", "--weights", str(path), "--subset", "128", "--json", "--no-progress"])
            == 0
        )
        scores[path.suffix] = last_json(capsys.readouterr().out)
    assert scores[".onnx"]["test_accuracy"] == scores[".safetensors"]["test_accuracy"] == trained
    assert scores[".onnx"]["model"] == "onnx"


def test_eval_of_a_damaged_onnx_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model")
    assert main(["eval", "--weights", str(path)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("mnist: cannot load") and "not an ONNX model" in line


def test_eval_of_a_missing_onnx_file_names_export(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["eval", "--weights", str(tmp_path / "none.onnx")]) == 2
    assert "mnist --export" in one_line(capsys.readouterr().err)


def test_eval_of_an_onnx_file_refuses_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"")
    assert main(["eval", "--weights", str(path), "--model", "cnn"]) == 2
    assert "leave --model out" in one_line(capsys.readouterr().err)


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
        "--export",
        "--graph",
        "--plot",
        "--json",
        "--checkpoint",
        "--resume",
        "Exit status",
    ]:
        assert option in text
