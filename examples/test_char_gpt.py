"""The character-level GPT example trains on a slice of its text, eager and under
compute_graph, with the same losses for the same seed, and learns."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


def _example() -> ModuleType:
    path = Path(__file__).with_name("char_gpt.py")
    spec = importlib.util.spec_from_file_location("char_gpt", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _example()
SMALL = {"batch_size": 8, "context": 16, "dim": 32, "chars": 20_000}


def test_the_text_is_in_the_repository_and_small() -> None:
    assert example.DATA.stat().st_size <= 1_000_000
    assert (example.DATA.parent / "README.md").exists()
    vocab, train, val = example.load()
    assert len(train) > 100_000 and len(val) > 10_000
    assert vocab.decode(vocab.encode("First Citizen:")) == "First Citizen:"


def test_compiled_and_eager_training_agree() -> None:
    _, _, eager = example.train(5, compiled=False, **SMALL)
    _, _, compiled = example.train(5, compiled=True, **SMALL)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)


def test_dropout_draws_are_the_same_eager_and_compiled() -> None:
    _, _, eager = example.train(3, compiled=False, dropout=0.2, **SMALL)
    _, _, compiled = example.train(3, compiled=True, dropout=0.2, **SMALL)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)


def test_weight_tying_and_parameter_groups() -> None:
    model = example.CharGPT(10, context=8, dim=16)
    assert model.head.weight is model.tok_emb.weight
    names = [name for name, _ in model.named_parameters()]
    assert "tok_emb.weight" in names and "head.weight" not in names  # listed once
    decay, no_decay = example.parameter_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"])
    assert any(p is model.ln_f.weight for p in no_decay["params"])
    assert any(p is model.pos_emb.weight for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(model.parameters())


def test_a_short_run_learns() -> None:
    """The full run beats the bigram baseline by 0.3 nats; 100 steps of a small model
    get within 0.3 nats of it, far below the uniform guess."""
    vocab, train, val = example.load(chars=40_000)
    bigram = example.bigram_loss(train, val, len(vocab))
    model, _, losses = example.train(
        100, batch_size=16, context=32, dim=32, lr=1e-2, warmup=10, chars=40_000
    )
    loss = example.evaluate(model, val)
    assert loss < bigram + 0.3 < math.log(len(vocab)) - 1.0
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
    text = example.sample(model, vocab, "ROMEO:", 20)
    assert text.startswith("ROMEO:") and len(text) == 26


def test_main_runs(capsys: pytest.CaptureFixture[str]) -> None:
    example.main(["--steps", "2", "--sample", "10"])
    out = capsys.readouterr().out
    assert "bigram baseline" in out and "GPT: validation loss" in out


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_the_model_exports_to_onnx_and_runs_equal_in_onnxruntime(batch: int) -> None:
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime: uv sync (dev group)")
    from macrograd.onnx import export

    example.manual_seed(0)
    model = example.CharGPT(40, 16, 32).eval()
    rng = np.random.default_rng(0)
    proto = export(model, rng.integers(0, 40, size=(64, 16)))  # one export, at batch 64
    session = ort.InferenceSession(proto.SerializeToString())
    tokens = rng.integers(0, 40, size=(batch, 16))
    (theirs,) = session.run(None, {session.get_inputs()[0].name: tokens.astype(np.int64)})
    np.testing.assert_allclose(model(tokens).data, theirs, rtol=1e-5, atol=1e-6)
