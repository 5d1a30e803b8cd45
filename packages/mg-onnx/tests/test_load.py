"""ONNX models written with `onnx.helper` (not by our exporter) load as Models that run
equal to onnxruntime, can be drawn, differentiated and fine-tuned; unsupported op types
are refused with their list."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_support import MLP, assert_close, run

import mg_nn
from mg_graph import Role, ShapeError
from mg_nn import F
from mg_onnx import LoadError, OnnxModel, UnsupportedOpsError, export, load
from mg_optim import SGD
from mg_tensor import compute_graph

rng = np.random.default_rng(0)


def _init(name: str, array: Any) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def _floats(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def conv_net(opset: int = 17) -> onnx.ModelProto:
    """Conv (pads) -> BatchNormalization -> Relu -> MaxPool -> Reshape fed by
    Shape/Gather/Unsqueeze/Concat -> Flatten -> Gemm (transB) -> Softmax."""
    nodes = [
        helper.make_node(
            "Conv", ["x", "conv.W", "conv.B"], ["c"], pads=[1, 1, 1, 1], name="/conv/Conv"
        ),
        helper.make_node(
            "BatchNormalization",
            ["c", "bn.scale", "bn.bias", "bn.mean", "bn.var"],
            ["n"],
            epsilon=1e-3,
        ),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Shape", ["p"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["n_batch"], axis=0),
        helper.make_node("Unsqueeze", ["n_batch", "axes0"], ["n_batch_1"]),
        helper.make_node("Concat", ["n_batch_1", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["p", "target"], ["grouped"]),
        helper.make_node("Flatten", ["grouped"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1),
    ]
    initializers = [
        _init("conv.W", _floats(4, 3, 3, 3)),
        _init("conv.B", _floats(4)),
        _init("bn.scale", _floats(4)),
        _init("bn.bias", _floats(4)),
        _init("bn.mean", _floats(4)),
        _init("bn.var", np.abs(_floats(4)) + 0.5),
        _init("zero", np.array(0, np.int64)),
        _init("axes0", np.array([0], np.int64)),
        _init("tail", np.array([4, -1], np.int64)),
        _init("fc.weight", _floats(10, 64)),
        _init("fc.bias", _floats(10)),
    ]
    graph = helper.make_graph(
        nodes,
        "conv_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def test_a_helper_built_model_runs_equal_to_onnxruntime() -> None:
    proto = conv_net()
    model = load(proto)
    for n in (1, 5):
        x = _floats(n, 3, 8, 8)
        (expected,) = run(proto, x)
        assert_close(model(x).data, expected)
        assert_close(compute_graph(model)(x).data, expected)


def test_initializers_become_parameters_buffers_and_static_values() -> None:
    model = load(conv_net())
    assert [n for n, _ in model.named_parameters()] == [
        "conv.W", "conv.B", "bn.scale", "bn.bias", "fc.weight", "fc.bias",
    ]  # fmt: skip
    assert [n for n, _ in model.named_buffers()] == ["bn.mean", "bn.var"]
    assert all(not b.requires_grad for _, b in model.named_buffers())
    assert list(model.state_dict()) == [
        *(n for n, _ in model.named_parameters()), "bn.mean", "bn.var",
    ]  # fmt: skip


def test_a_loaded_model_is_drawn_with_its_parameters_and_input_buffers() -> None:
    y = load(conv_net())(_floats(2, 3, 8, 8))
    nodes = y.graph.nodes
    roles = {n.name: n.role for n in nodes if n.name}
    assert roles["conv.W"] is Role.PARAMETER and roles["x"] is Role.INPUT
    assert roles["bn.mean"] is Role.INPUT  # a buffer: never folded
    assert any("conv" in n.scope for n in nodes)  # node names become clusters
    source = y.graph.visualize().source
    assert "conv.W" in source and "#4a7bd0" in source


def test_a_loaded_model_is_differentiable_and_fine_tunes() -> None:
    model = load(conv_net())
    x, labels = _floats(8, 3, 8, 8), np.arange(8) % 10
    optimizer = SGD(model.parameters(), lr=0.05)

    @compute_graph
    def loss(x_batch: Any, y_batch: Any) -> Any:
        return F.nll_loss(model(x_batch).log(), y_batch)

    first = float(loss(x, labels).data)
    for _ in range(20):
        step = loss(x, labels)
        step.backprop()
        optimizer.step()
    assert float(loss(x, labels).data) < first / 2
    assert all(p.grad is not None for p in model.parameters())


def test_old_opset_forms_load() -> None:
    """Opset 11: axes as attributes, Softmax over the flattened trailing axes, Clip bounds
    as inputs, Squeeze/Unsqueeze/ReduceSum attributes."""
    nodes = [
        helper.make_node("Unsqueeze", ["x"], ["u"], axes=[1]),
        helper.make_node("Squeeze", ["u"], ["s"], axes=[1]),
        helper.make_node("Softmax", ["s"], ["p"], axis=1),
        helper.make_node("ReduceSum", ["p"], ["total"], axes=[2], keepdims=0),
        helper.make_node("Clip", ["total", "low", "high"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "old",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [_init("low", np.float32(0.05)), _init("high", np.float32(0.3))],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    proto.ir_version = 6
    x = _floats(2, 3, 4)
    (expected,) = run(proto, x)
    assert_close(load(proto)(x).data, expected)


def test_gemm_in_its_general_form() -> None:
    nodes = [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=1, alpha=0.5, beta=2.0)]
    graph = helper.make_graph(
        nodes,
        "gemm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [3, "N"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [_init("b", _floats(3, 2)), _init("c", _floats(1, 2))],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    a = _floats(3, 4)
    (expected,) = run(proto, a)
    assert_close(load(proto)(a).data, expected)


def test_unsupported_op_types_are_refused_with_their_list() -> None:
    nodes = [
        helper.make_node("Atan", ["x"], ["e"]),
        helper.make_node("Relu", ["e"], ["r"]),
        helper.make_node("Fancy", ["r"], ["f"], domain="com.example"),
        helper.make_node("Atan", ["f"], ["y"]),
        helper.make_node("LSTM", ["y", "w", "w"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes,
        "unsupported",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
    )
    with pytest.raises(UnsupportedOpsError) as error:
        load(helper.make_model(graph))
    assert error.value.missing == ["Atan", "LSTM", "com.example.Fancy"]
    assert "Atan, LSTM, com.example.Fancy" in str(error.value)


def test_unsupported_forms_of_supported_ops_name_the_node() -> None:
    proto = conv_net()
    proto.graph.node[0].attribute[0].CopyFrom(helper.make_attribute("pads", [0, 0, 1, 1]))
    with pytest.raises(LoadError, match=r"Conv node '/conv/Conv': asymmetric pads"):
        load(proto)(_floats(1, 3, 8, 8))


def test_inputs_of_the_wrong_shape_are_named() -> None:
    with pytest.raises(
        ShapeError, match=r"input 'x' has shape \(2, 3, 9, 8\).*\('batch', 3, 8, 8\)"
    ):
        load(conv_net())(_floats(2, 3, 9, 8))


def test_load_reads_paths_bytes_and_protos(tmp_path: Any) -> None:
    mg_nn.manual_seed(0)
    proto = export(MLP(hidden=16), np.zeros((2, 784), np.float32))
    path = tmp_path / "mlp.onnx"
    onnx.save(proto, str(path))
    x = rng.random((3, 784), dtype=np.float32)
    outputs = [
        load(source)(x).data for source in (str(path), path, proto.SerializeToString(), proto)
    ]
    for out in outputs[1:]:
        assert_close(out, outputs[0])
    assert isinstance(load(path), OnnxModel)


def test_a_file_that_is_not_onnx_is_a_load_error(tmp_path: Any) -> None:
    path = tmp_path / "weights.onnx"
    path.write_bytes(b"certainly not protobuf \xff\xff\xff")
    with pytest.raises(LoadError, match="is not an ONNX model"):
        load(path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.onnx")
