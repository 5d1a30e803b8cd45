"""ModuleList, ModuleDict and model.to(dtype): PyTorch's names, parameters found through
the containers, and dtype conversion that keeps every reference valid."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mg_nn import F, Linear, Model, ModuleDict, ModuleList, ReLU, Sequential
from mg_tensor import Tensor, compute_graph


class Tower(Model):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = ModuleList([Linear(3, 3, generator=i) for i in range(2)])
        self.heads = ModuleDict({"cls": Linear(3, 2, generator=5), "reg": Linear(3, 1)})
        self.shared = self.blocks[0]  # the same model reachable twice

    def forward(self, x: Any) -> Any:
        for block in self.blocks:
            x = F.relu(block(x))
        return {key: head(x) for key, head in self.heads.items()}


def test_names_follow_pytorch() -> None:
    names = [name for name, _ in Tower().named_parameters()]
    assert names == [
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.1.weight",
        "blocks.1.bias",
        "heads.cls.weight",
        "heads.cls.bias",
        "heads.reg.weight",
        "heads.reg.bias",
    ]
    modules = [name for name, _ in Tower().named_modules()]
    assert modules == ["", "blocks", "blocks.0", "blocks.1", "heads", "heads.cls", "heads.reg"]


def test_state_dict_round_trip_and_gradients_through_containers() -> None:
    a, b = Tower(), Tower()
    b.load_state_dict(a.state_dict())
    x = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(a(x)["cls"].data, b(x)["cls"].data)
    loss = a(x)["cls"].sum() + a(x)["reg"].sum()
    loss.backprop()
    assert all(p.grad is not None for p in a.parameters())


def test_module_list_behaves_like_a_list() -> None:
    layers = ModuleList()
    layers.append(Linear(2, 2)).extend([ReLU(), Linear(2, 1)])
    layers.insert(0, ReLU())
    assert [type(m).__name__ for m in layers] == ["ReLU", "Linear", "ReLU", "Linear"]
    assert len(layers[1:]) == 3 and isinstance(layers[1:], ModuleList)
    assert [n for n, _ in layers.named_parameters()] == ["1.weight", "1.bias", "3.weight", "3.bias"]
    layers[0] = Linear(2, 2)
    del layers[2]
    assert len(layers) == 3
    layers += [ReLU()]
    assert len(layers + ModuleList([ReLU()])) == 5
    with pytest.raises(TypeError, match="holds models"):
        layers.append(np.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError):
        layers(np.zeros(2))


def test_module_dict_behaves_like_a_dict() -> None:
    heads = ModuleDict([("a", Linear(2, 1)), ("b", ReLU())])
    heads.update({"c": Linear(2, 3)})
    assert heads.keys() == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert isinstance(heads.pop("b"), ReLU)
    assert [n for n, _ in heads.named_parameters()] == ["a.weight", "a.bias", "c.weight", "c.bias"]
    assert [type(v).__name__ for v in heads.values()] == ["Linear", "Linear"]
    del heads["a"]
    assert list(heads) == ["c"]
    with pytest.raises(TypeError, match="keys are strings"):
        heads[1] = Linear(2, 2)  # type: ignore[index]
    heads.clear()
    assert len(heads) == 0


def test_to_converts_parameters_in_place() -> None:
    tower = Tower()
    before = tower.state_dict()
    weight = tower.blocks[0].weight  # type: ignore[attr-defined]
    assert tower.to(np.float64) is tower
    assert {p.dtype for p in tower.parameters()} == {np.dtype(np.float64)}
    assert weight.dtype == np.float64  # references held elsewhere follow
    assert tower.shared.weight is weight  # type: ignore[attr-defined]
    for key, value in tower.state_dict().items():
        np.testing.assert_array_equal(value, before[key].astype(np.float64))
    out = tower(np.ones((2, 3)))["cls"]
    assert out.dtype == np.float64
    assert (
        tower.to("cpu") is tower and tower.to("cpu", np.float32).blocks[1].bias.dtype == np.float32
    )  # type: ignore[attr-defined]
    assert tower.double().heads["reg"].weight.dtype == np.float64  # type: ignore[attr-defined]
    assert tower.float().heads["reg"].weight.dtype == np.float32  # type: ignore[attr-defined]


def test_to_then_train_compiled() -> None:
    net = Sequential(Linear(3, 4, generator=0), ReLU(), Linear(4, 1, generator=1)).to(np.float64)

    @compute_graph
    def loss_of(x: Any) -> Tensor:
        return (net(x) ** 2).mean()

    loss = loss_of(np.ones((5, 3)))
    loss.backprop()
    assert loss.dtype == np.float64
    assert net[0].weight.grad.dtype == np.float64  # type: ignore[union-attr]


def test_to_rejects_what_it_cannot_do() -> None:
    net = Linear(2, 2)
    with pytest.raises(ValueError, match="device 'cuda' is not available"):
        net.to(device="cuda")
    with pytest.raises(ValueError, match="device 'cuda:0' is not available"):
        net.to("cuda:0")
    with pytest.raises(TypeError, match="floating dtype"):
        net.to(np.int32)


def test_traces_follow_container_edits_and_dtype_changes() -> None:
    blocks = ModuleList([Linear(2, 2, generator=0)])
    heads = ModuleDict({"a": Linear(2, 1, generator=1)})

    @compute_graph
    def run(x: Any) -> Tensor:
        for block in blocks:
            x = block(x)
        return heads["a"](x)

    x = np.ones((3, 2), np.float32)
    first = run(x).data
    blocks.append(Linear(2, 2, generator=2))  # a new member: traced again
    second = run(x).data
    expected = heads["a"](blocks[1](blocks[0](x))).data
    np.testing.assert_allclose(second, expected, rtol=1e-6)
    assert not np.allclose(first, second)
    heads["a"] = Linear(2, 1, generator=3)
    np.testing.assert_allclose(run(x).data, heads["a"](blocks[1](blocks[0](x))).data, rtol=1e-6)
    for model in (blocks, heads):
        model.to(np.float64)
    assert run(x.astype(np.float64)).dtype == np.float64
