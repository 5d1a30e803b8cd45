"""The VAE example trains on a few MNIST digits, eager and under compute_graph, with the
same random draws and losses for the same seed. MNIST is read from $MACROGRAD_DATA, else
from ../shared/mnist beside the repository; without it these tests are skipped."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


def _example() -> ModuleType:
    path = Path(__file__).with_name("vae.py")
    spec = importlib.util.spec_from_file_location("vae", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _example()
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "mnist"
DATA = Path(os.environ.get("MACROGRAD_DATA") or SHARED)
pytestmark = pytest.mark.skipif(
    not (DATA / "t10k-images-idx3-ubyte.gz").exists(),
    reason=f"MNIST not found in {DATA} (set MACROGRAD_DATA to the folder of its files)",
)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return example.load("test", str(DATA), limit=512)  # type: ignore[no-any-return]


def test_compiled_and_eager_training_agree(digits: np.ndarray) -> None:
    _, eager = example.train(digits, 5, compiled=False, batch_size=64)
    _, compiled = example.train(digits, 5, compiled=True, batch_size=64)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    _, other_seed = example.train(digits, 5, compiled=True, batch_size=64, seed=1)
    assert not np.allclose(other_seed, eager)


def test_the_reparameterisation_draws_fresh_codes(digits: np.ndarray) -> None:
    model = example.VAE()
    _, mu, logvar = model(digits[:4])
    assert mu.shape == logvar.shape == (4, 16)
    first, second = model(digits[:4])[0].data, model(digits[:4])[0].data
    assert not np.allclose(first, second)  # a new code every call
    example.manual_seed(3)
    again = model(digits[:4])[0].data
    example.manual_seed(3)
    np.testing.assert_array_equal(model(digits[:4])[0].data, again)


def test_it_learns(digits: np.ndarray) -> None:
    model, losses = example.train(digits, 40, batch_size=64)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert example.evaluate(model, digits[:256]) < 0.5 * losses[0]
    picture = example.draw(model, 3)
    assert len(picture.splitlines()) == 14


def test_main_runs(capsys: pytest.CaptureFixture[str]) -> None:
    example.main(["--data-dir", str(DATA), "--epochs", "1", "--train-size", "256"])
    assert "VAE: test loss" in capsys.readouterr().out
