"""What export refuses, and how it says so: the op, the reason and the user's line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
from onnx_support import assert_close, run

from mg_graph import Node
from mg_nn import ops as nn
from mg_onnx import ExportError, export
from mg_tensor import Tensor, compute_graph
from mg_tensor.ops.base import TensorOp
from mg_tensor.ops.core import apply

X = np.arange(12, dtype=np.float32).reshape(4, 3)


@dataclass(frozen=True)
class Cube(TensorOp):
    """An op outside the export table."""

    name: ClassVar[str] = "cube"

    def infer(self, *inputs: Node) -> Any:
        return inputs[0].shape, inputs[0].dtype

    def forward(self, *arrays: Any, out: Any = None) -> Any:
        return np.power(arrays[0], 3, out=out)


def test_an_op_without_mapping_is_named_with_the_users_line() -> None:
    def cubed(x: Tensor) -> Tensor:
        return apply(Cube(), x) + 1  # the line the error points at

    with pytest.raises(ExportError) as error:
        export(cubed, X)
    message = str(error.value)
    assert message.startswith("cube: cannot export Cube: no ONNX mapping")
    assert "test_export_errors.py:" in message and "EXPORTERS" in message


def test_a_gradient_only_op_says_why() -> None:
    def spread(x: Tensor) -> Tensor:
        return apply(nn.AvgPool2dGrad((1, 1), (1, 1), (4, 3)), x)

    with pytest.raises(ExportError, match="gradient-only"):
        export(spread, X)


def test_a_constant_that_depends_on_the_batch_size_is_refused() -> None:
    def weighted(x: Tensor) -> Tensor:
        return x * np.arange(x.shape[0], dtype=np.float32)[:, None]

    with pytest.raises(ExportError, match=r"constant of shape .* depends on the batch size"):
        export(weighted, X)
    proto = export(weighted, X, dynamic_batch=False)  # a fixed batch is fine
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    (out,) = run(proto, X)
    assert_close(out, X * np.arange(4, dtype=np.float32)[:, None])


def test_a_graph_that_changes_with_the_batch_size_is_refused() -> None:
    def branchy(x: Tensor) -> Tensor:
        return x.sum(axis=1) if x.shape[0] == 4 else x.mean(axis=1)

    with pytest.raises(ExportError, match="changes with the batch size"):
        export(branchy, X)


def test_the_batch_is_not_guessed_from_sizes() -> None:
    """A feature axis as long as the example batch stays fixed: only the axis that
    changes between the two traces is symbolic."""
    square = np.ones((3, 3), np.float32)

    def rows(x: Tensor) -> Tensor:
        return x.reshape((x.shape[0], 3)).transpose() @ x  # (3, B) @ (B, 3): (3, 3)

    proto = export(rows, square)
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [3, 3]
    for n in (1, 5):
        x = np.random.default_rng(n).random((n, 3), dtype=np.float32)
        (out,) = run(proto, x)
        assert_close(out, x.T @ x)


def test_inputs_and_outputs_are_named() -> None:
    def two(a: Tensor, b: Tensor) -> dict[str, Tensor]:
        return {"total": a + b, "product": a * b}

    proto = export(two, (X, X))
    assert [i.name for i in proto.graph.input] == ["a", "b"]
    assert [o.name for o in proto.graph.output] == ["total", "product"]
    proto = export(two, (X, X), input_names=["left", "right"], output_names=["s", "p"])
    assert [i.name for i in proto.graph.input] == ["left", "right"]
    assert [o.name for o in proto.graph.output] == ["s", "p"]
    with pytest.raises(ValueError, match="1 output names for 2 outputs"):
        export(two, (X, X), output_names=["s"])


def test_a_compiled_function_exports_with_its_parameter_names() -> None:
    @compute_graph
    def scaled(images: Tensor) -> Tensor:
        return images * 2 + 1

    scaled(X)
    proto = export(scaled, X)
    assert [i.name for i in proto.graph.input] == ["images"]
    assert len(scaled.variants) == 1  # the user's function keeps its own variants
    (out,) = run(proto, X[:1])
    assert_close(out, X[:1] * 2 + 1)
