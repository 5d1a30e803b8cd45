"""A finished run is never lost: divergence, checkpoints and --resume, interrupts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from mnist_support import ENTRY, QUICK, Mnist, one_line
from safetensors.numpy import load_file

import mnist_app.cli as cli
from mnist_app import outputs
from mnist_app.data import Arrays, load
from mnist_app.train import Config, Run, resume, save_run, train


def _refuse_constants(name: str) -> None:
    raise AssertionError(f"--json printed {name}, which is not JSON")


def strict_json(line: str) -> dict:  # type: ignore[type-arg]
    return json.loads(line, parse_constant=_refuse_constants)  # type: ignore[no-any-return]


def test_divergence_stops_at_the_step_and_keeps_json_but_not_weights(
    mnist: Mnist, tmp_path: Path
) -> None:
    result = mnist(*QUICK, "--lr", "1e6", "--json", "--save", "w.safetensors", "--export", "m.onnx")
    assert result.returncode == 3
    line = one_line(result.stderr)
    assert "diverged" in line and "step" in line and "lower --lr" in line
    summary = strict_json(result.stdout.splitlines()[-1])
    step = summary["diverged_at_step"]
    assert isinstance(step, int) and f"step {step}" in line
    assert summary["test_accuracy"] is None and summary["train_loss"] is None
    assert not (tmp_path / "w.safetensors").exists() and not (tmp_path / "m.onnx").exists()


def test_divergence_still_draws_the_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mnist_app.plot

    drawn: list[int] = []

    def fake_plot(losses: list[float], accuracies: list[float], path: str) -> None:
        drawn.append(len(losses))
        Path(path).write_text("plot")

    monkeypatch.setattr(mnist_app.plot, "plot_curves", fake_plot)
    monkeypatch.setattr(outputs.importlib.util, "find_spec", lambda name: object())
    plot = tmp_path / "curves.png"
    assert cli.main([*QUICK, "--lr", "1e6", "--plot", str(plot), "--json"]) == 3
    summary = strict_json(capsys.readouterr().out.splitlines()[-1])
    assert plot.exists() and drawn == [summary["diverged_at_step"]]


def test_two_epochs_equal_one_epoch_and_a_resumed_one(
    mnist: Mnist, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    constant = [*ENTRY, *QUICK, "--schedule", "constant"]
    both = [  # the straight run and the first epoch at the same time: two cores
        subprocess.Popen(
            [*constant, "--epochs", "2", "--save", "straight.safetensors"], cwd=tmp_path
        ),
        subprocess.Popen([*constant, "--epochs", "1", "--checkpoint", "ck"], cwd=tmp_path),
    ]
    assert [process.wait(timeout=300) for process in both] == [0, 0]
    second = mnist(
        "--resume", "ck", "--epochs", "2", "--no-progress", "--save", "resumed.safetensors"
    )
    assert second.returncode == 0, second.stderr
    a, b = load_file(tmp_path / "straight.safetensors"), load_file(tmp_path / "resumed.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)

    # the run's options are the checkpoint's: contradicting them is a mistake
    assert cli.main(["--resume", str(tmp_path / "ck"), "--lr", "0.5"]) == 2
    assert "--lr 0.5 differs" in one_line(capsys.readouterr().err)
    assert cli.main(["--resume", str(tmp_path / "nothing-here")]) == 2
    assert "no checkpoint" in one_line(capsys.readouterr().err)
    assert cli.main(["--resume", str(tmp_path / "ck"), "--save-initial", "i.safetensors"]) == 2
    assert "--save-initial" in one_line(capsys.readouterr().err)


@pytest.fixture(scope="module")
def tiny() -> Arrays:
    return load(None, progress=False, subset=96)


def test_a_linear_schedule_resumes_exactly(tmp_path: Path, tiny: Arrays) -> None:
    """A run killed in epoch 2 and resumed from the epoch-1 checkpoint ends identically."""
    config = Config(epochs=2, batch_size=32, subset=96, progress=False)
    straight, _ = train(config, tiny)

    def stop_after_first(run: Run) -> None:
        save_run(run, str(tmp_path))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tiny, on_epoch_end=stop_after_first)
    resumed, summary = train(config, tiny, run=resume(str(tmp_path), tiny, progress=False))
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert np.array_equal(a, b), name
    assert len(summary.losses) == 2 * 3  # the first epoch's history came back too

    with pytest.raises(ValueError, match="--epochs 2"):  # a linear schedule's length is fixed
        resume(str(tmp_path), tiny, epochs=3)


def test_an_interrupt_exits_130_and_leaves_no_partial_file(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*ENTRY, "--no-progress", "--graph", "g.dot", "--save", "w.safetensors"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job inherits an ignored SIGINT, and Python then never
        # raises KeyboardInterrupt: give the command the default disposition, as a terminal does
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "g.dot").exists() and process.poll() is None:
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert one_line(err) == "mnist: interrupted"
    assert sorted(os.listdir(tmp_path)) == ["g.dot"]
