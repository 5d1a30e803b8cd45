"""Model: parameter discovery and naming, containers, scopes, modes, state and files."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file

import mg_nn
from mg_nn import (
    Conv2d,
    Dropout,
    Embedding,
    IncompatibleKeys,
    LayerNorm,
    Linear,
    Model,
    ReLU,
    Sequential,
    StateDictError,
)
from mg_tensor import Tensor, compute_graph


class Block(Model):
    def __init__(self) -> None:
        super().__init__()
        self.norm = LayerNorm(4)
        self.drop = Dropout(0.1)
        self.proj = Linear(4, 4, generator=1)

    def forward(self, x: Any) -> Tensor:
        return self.proj(self.drop(self.norm(x)))


class Net(Model):
    def __init__(self) -> None:
        super().__init__()
        self.embed = Embedding(10, 4, generator=0)
        self.blocks = [Block(), Block()]
        self.heads = {"a": Linear(4, 2, generator=2), "b": (Linear(4, 1, generator=3),)}
        self.scale = Tensor(np.ones(1, np.float32), requires_grad=True)
        self.constant = Tensor(np.ones(1, np.float32))  # not a parameter
        self.note = "ignored"

    def forward(self, idx: Any) -> Tensor:
        h = self.embed(idx)
        for block in self.blocks:
            h = block(h)
        return self.heads["a"](h) * self.scale


NET_NAMES = [
    "embed.weight",
    "blocks.0.norm.weight",
    "blocks.0.norm.bias",
    "blocks.0.proj.weight",
    "blocks.0.proj.bias",
    "blocks.1.norm.weight",
    "blocks.1.norm.bias",
    "blocks.1.proj.weight",
    "blocks.1.proj.bias",
    "heads.a.weight",
    "heads.a.bias",
    "heads.b.0.weight",
    "heads.b.0.bias",
    "scale",
]


def test_named_parameters_follow_definition_order_through_containers() -> None:
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == NET_NAMES
    assert [p for p in net.parameters()] == [p for _, p in net.named_parameters()]
    assert all(p.requires_grad for p in net.parameters())


def test_parameter_nodes_get_the_dotted_names() -> None:
    net = Net()
    net.named_parameters()
    assert net.blocks[1].proj.weight.name == "blocks.1.proj.weight"
    assert net.heads["b"][0].bias.node.name == "heads.b.0.bias"
    assert net.scale.name == "scale"


def test_prefix_and_sub_model_names_are_relative() -> None:
    net = Net()
    assert [n for n, _ in net.blocks[0].named_parameters()][:2] == ["norm.weight", "norm.bias"]
    assert net.named_parameters(prefix="net.")[0][0] == "net.embed.weight"
    # asking a sub-model still names the nodes from the root
    assert net.blocks[0].norm.weight.name == "blocks.0.norm.weight"


def test_children_and_modules() -> None:
    net = Net()
    assert [n for n, _ in net.named_children()] == [
        "embed",
        "blocks.0",
        "blocks.1",
        "heads.a",
        "heads.b.0",
    ]
    assert net.children()[1] is net.blocks[0]
    names = [n for n, _ in net.named_modules()]
    assert names[:5] == ["", "embed", "blocks.0", "blocks.0.norm", "blocks.0.drop"]
    assert len(net.modules()) == 1 + 1 + 2 * 4 + 2


def test_shared_parameters_and_sub_models_are_listed_once() -> None:
    class Tied(Model):
        def __init__(self) -> None:
            super().__init__()
            self.first = Linear(3, 3)
            self.again = self.first
            self.loop = [self.first.weight]

    tied = Tied()
    assert [n for n, _ in tied.named_parameters()] == ["first.weight", "first.bias"]
    assert len(tied.children()) == 1
    # state_dict keeps every name, as PyTorch does for tied weights
    assert list(tied.state_dict()) == [
        "first.weight",
        "first.bias",
        "again.weight",
        "again.bias",
        "loop.0",
    ]


def test_cycles_do_not_recurse_forever() -> None:
    parent = Sequential(Linear(2, 2))
    child = parent[0]
    child.back = parent  # a reference up the tree
    box: list[Any] = []
    box.append(box)
    child.box = box
    assert [n for n, _ in parent.named_parameters()] == ["0.weight", "0.bias"]


def test_parameters_attached_later_are_renamed_by_their_new_root() -> None:
    inner = Linear(2, 2)
    assert inner.weight.name == "weight"
    outer = Sequential()
    outer.append(ReLU()).append(inner)
    outer.named_parameters()
    assert inner.weight.name == "1.weight"


def test_readme_style_call_override_names_parameters_at_first_call() -> None:
    class Tiny(Model):
        def __init__(self) -> None:
            super().__init__()
            self.input_layer = Linear(3, 5)
            self.output_layer = Linear(5, 2)

        def __call__(self, data: Any) -> Tensor:
            return self.output_layer(self.input_layer(data).relu())

    model = Tiny()
    out = model(np.ones((1, 3), np.float32))
    assert out.shape == (1, 2)
    assert model.input_layer.weight.name == "input_layer.weight"
    assert model.output_layer.bias.name == "output_layer.bias"


def test_calls_are_recorded_as_named_scopes() -> None:
    class Tiny(Model):
        def __init__(self) -> None:
            super().__init__()
            self.input_layer = Linear(3, 5)
            self.layers = [Linear(5, 5)]

        def __call__(self, data: Any) -> Tensor:
            return self.layers[0](self.input_layer(data))

    model = Tiny()
    f = compute_graph(model.__call__)
    f(np.ones((1, 3), np.float32))
    scopes = {node.scope for node in f.graph.nodes if node.op is not None}
    assert ("Tiny", "input_layer") in scopes
    assert ("Tiny", "layers.0") in scopes
    # a sub-model called on its own is scoped by its attribute name
    g = compute_graph(lambda x: model.layers[0](x))
    g(np.ones((1, 5), np.float32))
    assert ("layers.0",) in {node.scope for node in g.graph.nodes if node.op is not None}


def test_super_call_from_an_overriding_call_does_not_nest_the_scope() -> None:
    class Base(Model):
        def __init__(self) -> None:
            super().__init__()
            self.layer = Linear(2, 2)

        def forward(self, x: Any) -> Tensor:
            return self.layer(x)

    class Child(Base):
        def __call__(self, x: Any) -> Tensor:
            result: Tensor = super().__call__(x) * 2
            return result

    f = compute_graph(Child().__call__)
    f(np.ones((1, 2), np.float32))
    scopes = {node.scope for node in f.graph.nodes if node.op is not None}
    assert scopes == {("Child",), ("Child", "layer")}


def test_model_without_forward_raises() -> None:
    with pytest.raises(NotImplementedError, match="neither forward"):
        Model()(1)


def test_train_and_eval_propagate() -> None:
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert not net.heads["b"][0].training
    net.blocks[0].train()
    assert net.blocks[0].drop.training and not net.blocks[1].drop.training
    net.train()
    assert all(m.training for m in net.modules())


def test_state_dict_round_trip() -> None:
    mg_nn.manual_seed(1)
    a, b = Net(), Net()
    b.load_state_dict({k: v + 1 for k, v in a.state_dict().items()})
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(pa.data + 1, pb.data, err_msg=name)
    state = a.state_dict()
    state["scale"][...] = 42  # a copy: the model is unchanged
    assert float(a.scale.data[0]) == 1.0


def test_load_state_dict_is_seen_by_realize_and_new_calls() -> None:
    layer = Linear(2, 1, generator=0)
    y = layer(np.ones((1, 2), np.float32))
    before = y.data
    layer.load_state_dict({"weight": np.ones((1, 2)), "bias": np.zeros(1)})
    np.testing.assert_array_equal(y.data, before)  # fixed at its first computation
    np.testing.assert_array_equal(y.realize().data, [[2.0]])
    np.testing.assert_array_equal(layer(np.ones((1, 2), np.float32)).data, [[2.0]])
    assert layer.weight.dtype == np.float32  # float64 values are cast into the parameter


def test_strict_load_errors_name_every_key() -> None:
    layer = Sequential(Linear(3, 2), ReLU(), Linear(2, 2))
    before = layer.state_dict()
    state = dict(before)
    del state["0.bias"]
    state["2.extra"] = np.zeros(1)
    state["2.weight"] = np.zeros((3, 3))
    with pytest.raises(StateDictError) as info:
        layer.load_state_dict(state)
    message = str(info.value)
    assert "missing keys: '0.bias'" in message
    assert "unexpected keys: '2.extra'" in message
    assert "shape mismatch for '2.weight'" in message
    assert "(3, 3)" in message and "(2, 2)" in message
    for key, value in layer.state_dict().items():  # nothing was loaded
        np.testing.assert_array_equal(value, before[key])


def test_non_strict_load_reports_skipped_keys_but_not_shape_mismatches() -> None:
    layer = Linear(3, 2)
    result = layer.load_state_dict({"weight": np.ones((2, 3)), "other": np.ones(1)}, strict=False)
    assert result == IncompatibleKeys(missing_keys=["bias"], unexpected_keys=["other"])
    np.testing.assert_array_equal(layer.weight.data, np.ones((2, 3)))
    with pytest.raises(StateDictError, match="shape mismatch for 'weight'"):
        layer.load_state_dict({"weight": np.ones((3, 2))}, strict=False)
    with pytest.raises(StateDictError, match="dtype mismatch for 'weight'"):
        layer.load_state_dict({"weight": np.ones((2, 3), complex), "bias": np.ones(2)})


class TorchLike(Model):
    """Mirrors a torch model: conv -> norm -> embedding -> sequential."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = Conv2d(3, 8, (3, 5), stride=2, padding=1)
        self.norm = LayerNorm((4, 5))
        self.embed = Embedding(7, 6)
        self.head = Sequential(Linear(6, 5), ReLU(), Linear(5, 2, bias=False))


def test_save_load_round_trip_is_bitwise_with_pytorch_keys_and_layouts(tmp_path: Path) -> None:
    mg_nn.manual_seed(3)
    model = TorchLike()
    path = tmp_path / "model.safetensors"
    model.save(path)
    assert os.listdir(tmp_path) == ["model.safetensors"]
    raw = load_file(str(path))
    expected = {
        "conv.weight": (8, 3, 3, 5),
        "conv.bias": (8,),
        "norm.weight": (4, 5),
        "norm.bias": (4, 5),
        "embed.weight": (7, 6),
        "head.0.weight": (5, 6),
        "head.0.bias": (5,),
        "head.2.weight": (2, 5),
    }
    assert {k: v.shape for k, v in raw.items()} == expected
    assert all(v.dtype == np.float32 for v in raw.values())
    other = TorchLike()
    assert other.load(path) == IncompatibleKeys([], [])
    for (name, a), (_, b) in zip(model.named_parameters(), other.named_parameters(), strict=True):
        assert a.data.tobytes() == b.data.tobytes(), name
        assert raw[name].tobytes() == a.data.tobytes(), name


def test_save_failure_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.numpy

    path = tmp_path / "model.safetensors"
    Linear(2, 2).save(path)
    old = path.read_bytes()

    def broken(tensors: Any, filename: str, metadata: Any = None) -> None:
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        Linear(2, 2).save(path)
    assert os.listdir(tmp_path) == ["model.safetensors"]
    assert path.read_bytes() == old


def test_load_reads_a_file_written_by_someone_else(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "torch.safetensors"
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    save_file({"0.weight": weight, "0.bias": np.array([1, 2], np.float32)}, str(path))
    net = Sequential(Linear(3, 2))
    net.load(str(path))
    np.testing.assert_array_equal(
        net(np.eye(3, dtype=np.float32)).data, weight.T + np.array([1, 2])
    )


def test_sequential_indexing_and_dict_names() -> None:
    net = Sequential(OrderedDict([("encoder", Linear(2, 3)), ("act", ReLU())]))
    assert [n for n, _ in net.named_parameters()] == ["encoder.weight", "encoder.bias"]
    assert isinstance(net[0], Linear) and isinstance(net[-1], ReLU)
    assert len(net[:1]) == 1 and list(net[:1].state_dict()) == ["encoder.weight", "encoder.bias"]
    assert [type(layer).__name__ for layer in net] == ["Linear", "ReLU"]


def test_repr_shows_the_tree() -> None:
    text = repr(Sequential(Linear(2, 3), Dropout(0.25)))
    assert text == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): Dropout(p=0.25)\n"
        ")"
    )


def test_scopes_become_clusters_in_the_drawing() -> None:
    net = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
    f = compute_graph(net.__call__)
    f(np.ones((2, 3), np.float32))
    source = f.graph.visualize().source
    assert "cluster_Sequential_0" in source and "cluster_Sequential_2" in source
    assert 'label="0: Linear"' in source  # nested in Sequential's cluster, with its type
    assert "0.weight" in source  # the parameter nodes carry their dotted names
