"""The `mnist` command: the one-epoch accuracy target, data errors, eval, options."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest

from mnist_app.cli import main
from mnist_app.models import MNIST_model

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "mnist"
DATA = Path(os.environ.get("MACROGRAD_DATA") or SHARED)
FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
needs_mnist = pytest.mark.skipif(
    not all((DATA / f"{f}.gz").exists() or (DATA / f).exists() for f in FILES),
    reason=f"MNIST not found in {DATA} (set MACROGRAD_DATA)",
)


def last_json(text: str) -> dict:  # type: ignore[type-arg]
    return json.loads(text.strip().splitlines()[-1])  # type: ignore[no-any-return]


@needs_mnist
def test_default_run_reaches_97_percent_in_one_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = tmp_path / "graph.svg"
    weights = tmp_path / "weights.safetensors"
    code = main(
        [
            "--data-dir",
            str(DATA),
            "--json",
            "--no-progress",
            "--graph",
            str(graph),
            "--save",
            str(weights),
        ]
    )
    assert code == 0
    summary = last_json(capsys.readouterr().out)
    assert summary["test_accuracy"] >= 0.97, summary
    assert summary["epoch_seconds"] > 0 and summary["samples_per_second"] > 0
    assert summary["config"]["lr"] == 0.1 and summary["config"]["batch_size"] == 64
    assert graph.read_text().startswith("<?xml") and "input_layer.weight" in graph.read_text()

    assert (
        main(
            ["eval", "--weights", str(weights), "--data-dir", str(DATA), "--json", "--no-progress"]
        )
        == 0
    )
    evaluated = last_json(capsys.readouterr().out)
    assert evaluated["test_accuracy"] == summary["test_accuracy"]


def test_missing_directory_is_a_short_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mg_data.download as download

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(download, "_open_url", offline)
    missing = tmp_path / "nowhere"
    assert main(["--data-dir", str(missing), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mnist: ") and "Traceback" not in err
    assert "train-images-idx3-ubyte" in err and str(missing) in err


@needs_mnist
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
    assert "mnist --save" in capsys.readouterr().err


def test_eval_rejects_weights_of_another_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "mlp.safetensors"
    MNIST_model(784, 10).save(str(path))
    assert main(["eval", "--weights", str(path), "--model", "cnn"]) == 2
    assert "cannot load" in capsys.readouterr().err


def test_plot_without_matplotlib_says_which_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main(["--plot", "curves.png", "--no-progress"]) == 2
    assert "--with matplotlib" in capsys.readouterr().err


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
    ]:
        assert option in text
