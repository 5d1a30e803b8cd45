"""The MNIST MLP and CNN: onnxruntime agrees at batch 1, 7 and 64 from one export, and
`load(export(m))` gives the same outputs, gradients and optimiser step as ``m``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx_support import CNN, MLP, assert_close, run

import mg_nn
from mg_nn import Model
from mg_onnx import export, load
from mg_optim import SGD
from mg_tensor import Tensor, compute_graph

BATCHES = (1, 7, 64)


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 784), dtype=np.float32)


@pytest.fixture(scope="module", params=["mlp", "cnn"])
def model(request: pytest.FixtureRequest) -> Model:
    mg_nn.manual_seed(0)
    return MLP() if request.param == "mlp" else CNN()


def test_exported_at_batch_64_runs_in_onnxruntime_at_every_batch(
    model: Model, tmp_path: Path
) -> None:
    path = tmp_path / "model.onnx"
    export(model, images(64), path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [
        d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim
    ] == [
        "batch",
        784,
    ]
    assert proto.opset_import[0].version >= 17
    names = {i.name for i in proto.graph.initializer}
    assert names == {name for name, _ in model.named_parameters()}
    assert {n.op_type for n in proto.graph.node} >= {"Softmax", "Relu"}
    forward = compute_graph(model)
    for n in BATCHES:
        x = images(n, seed=n)
        (probabilities,) = run(proto, x)
        assert_close(probabilities, forward(x).data)


def _loss_and_grads(model: Model, x: np.ndarray, y: np.ndarray) -> tuple[Any, dict[str, Any]]:
    @compute_graph
    def loss(x_batch: Tensor, y_batch: Tensor) -> Tensor:
        return -(y_batch * model(x_batch).log()).sum() / x_batch.shape[0]

    value = loss(x, y)
    value.backprop()
    return value.data, {name: p.grad.data for name, p in model.named_parameters()}


def test_round_trip_gives_the_same_outputs_gradients_and_step(model: Model) -> None:
    x = images(7, seed=1)
    y = np.eye(10, dtype=np.float32)[np.arange(7) % 10]
    loaded = load(export(model, x))
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert all(p.requires_grad for p in loaded.parameters())
    assert_close(loaded(x).data, model(x).data)

    loss, grads = _loss_and_grads(model, x, y)
    loaded_loss, loaded_grads = _loss_and_grads(loaded, x, y)
    assert_close(loaded_loss, loss)
    assert grads.keys() == loaded_grads.keys()
    for name in grads:
        np.testing.assert_allclose(loaded_grads[name], grads[name], rtol=1e-5, atol=1e-6)

    before = model.state_dict()
    for m in (model, loaded):
        SGD(m.parameters(), lr=0.5).step()
    after, loaded_after = model.state_dict(), loaded.state_dict()
    changed = {n for n in before if not np.array_equal(before[n], after[n])}
    loaded_changed = {n for n in before if not np.array_equal(before[n], loaded_after[n])}
    assert changed == loaded_changed == set(before)
    for name in before:
        np.testing.assert_allclose(loaded_after[name], after[name], rtol=1e-5, atol=1e-6)


def test_export_restores_training_mode(model: Model) -> None:
    model.train()
    export(model, images(2))
    assert all(m.training for m in model.modules())
