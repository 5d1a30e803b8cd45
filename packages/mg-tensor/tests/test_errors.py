"""Errors are raised when an op is built (never when it runs), have the right class, and
name the op, the operand shapes and the caller's own ``file:line``."""

from __future__ import annotations

import numpy as np
import pytest
from mgt_support import location_of_next_line

import mg_tensor as mt
from mg_graph import (
    DTypeError,
    GradientError,
    Graph,
    GraphError,
    MixedGraphError,
    ShapeError,
)
from mg_tensor import Tensor, grad


def lazy(shape: tuple[int, ...], dtype: type = np.float64) -> Tensor:
    """A computed tensor (a view node) that has not been computed: errors must not need
    its value."""
    return Tensor(np.ones(shape, dtype))[...]


def check(message: str, op: str, shapes: list[tuple[int, ...]], where: str) -> None:
    assert message.startswith(f"{op}: "), message
    for shape in shapes:
        assert str(shape) in message, (shape, message)
    assert f"at {where}" in message, (where, message)
    assert "fix: " in message


def test_broadcast_error(graph: Graph) -> None:
    a, b = lazy((2, 3)), lazy((4,))
    before = len(graph)
    with pytest.raises(ShapeError) as err:
        where = location_of_next_line()
        a + b
    check(str(err.value), "add", [(2, 3), (4,)], where)
    assert "do not broadcast" in str(err.value)
    assert len(graph) == before  # no node was added
    assert a.node.value is None and b.node.value is None  # nothing was computed


def test_the_location_is_this_file_and_line() -> None:
    with pytest.raises(ShapeError) as err:
        Tensor(np.ones((2, 3))) + Tensor(np.ones((4,)))  # the offending line
    line = err.traceback[0].lineno + 1  # traceback line numbers count from 0
    assert f"{__file__}:{line}" in str(err.value)
    assert "test_errors.py" in str(err.value)


@pytest.mark.parametrize(
    ("op", "build", "shapes"),
    [
        ("subtract", lambda: lazy((3,)) - lazy((2, 1, 2)), [(3,), (2, 1, 2)]),
        ("multiply", lambda: lazy((2, 3)) * np.ones((3, 2)), [(2, 3), (3, 2)]),
        ("maximum", lambda: mt.maximum(lazy((2,)), lazy((3,))), [(2,), (3,)]),
        ("less", lambda: lazy((2,)) < lazy((3,)), [(2,), (3,)]),
        ("matmul", lambda: lazy((2, 3)) @ lazy((4, 5)), [(2, 3), (4, 5)]),
        ("matmul", lambda: lazy((2, 2, 3)) @ lazy((3, 3, 4)), [(2, 2, 3), (3, 3, 4)]),
        ("reshape", lambda: lazy((2, 3)).reshape(4, 2), [(2, 3)]),
        ("reshape", lambda: lazy((2, 3)).reshape(-1, 4), [(2, 3)]),
        ("sum", lambda: lazy((2, 3)).sum(axis=2), [(2, 3)]),
        ("mean", lambda: lazy((2, 3)).mean(axis=(0, -3)), [(2, 3)]),
        ("max", lambda: lazy((2, 3)).max(axis=(1, 1)), [(2, 3)]),
        ("max", lambda: lazy((0, 3)).max(axis=0), [(0, 3)]),
        ("argmax", lambda: lazy((2, 3)).argmax(axis=-3), [(2, 3)]),
        ("argmin", lambda: lazy((0,)).argmin(), [(0,)]),
        ("softmax", lambda: lazy((2, 3)).softmax(axis=2), [(2, 3)]),
        ("transpose", lambda: lazy((2, 3)).transpose(1, 1), [(2, 3)]),
        ("broadcast_to", lambda: lazy((2, 3)).expand(3, 3), [(2, 3)]),
        ("squeeze", lambda: lazy((2, 3)).squeeze(0), [(2, 3)]),
        ("unsqueeze", lambda: lazy((2, 3)).unsqueeze(3), [(2, 3)]),
        ("concatenate", lambda: mt.concatenate([lazy((2, 3)), lazy((3, 2))]), [(2, 3), (3, 2)]),
        ("stack", lambda: mt.stack([lazy((2, 3)), lazy((3, 2))]), [(2, 3), (3, 2)]),
        ("where", lambda: mt.where(lazy((2,)) > 0, lazy((3,)), 0.0), [(2,), (3,)]),
        ("index", lambda: lazy((2, 3))[2], [(2, 3)]),
        ("index", lambda: lazy((2, 3))[0, 1, 2], [(2, 3)]),
        ("gather", lambda: lazy((2, 3))[:, [0, 3]], [(2, 3)]),
        ("index", lambda: lazy((2, 3))[True], [(2, 3)]),
        ("swapaxes", lambda: mt.swapaxes(lazy((2, 3)), 0, 2), [(2, 3)]),
        ("argmax", lambda: lazy((2, 3)).argmax(axis=(0, 1)), [(2, 3)]),
    ],
)
def test_shape_errors(op: str, build, shapes: list[tuple[int, ...]]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ShapeError) as err:
        build()
    # the caller is the lambda in the parameter list above: a line of this file
    where = f"{__file__}:{err.traceback[1].frame.code.raw.co_firstlineno}"
    check(str(err.value), op, shapes, where)


@pytest.mark.parametrize(
    ("op", "build"),
    [
        ("subtract", lambda: lazy((2,), bool) - lazy((2,), bool)),
        ("subtract", lambda: lazy((2,), bool) - True),
        ("negative", lambda: -lazy((2,), bool)),
        ("softmax", lambda: lazy((2,), np.int64).softmax()),
        ("log_softmax", lambda: lazy((2,), np.int32).log_softmax()),
    ],
)
def test_dtype_errors(op: str, build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DTypeError) as err:
        build()
    message = str(err.value)
    where = f"{__file__}:{err.traceback[1].frame.code.raw.co_firstlineno}"
    check(message, op, [(2,)], where)
    assert "operand dtypes" in message


def test_dtype_error_reports_the_numpy_reason_and_location() -> None:
    a = Tensor(np.ones(2), dtype=bool)
    b = Tensor(np.zeros(2), dtype=bool)
    with pytest.raises(DTypeError) as err:
        where = location_of_next_line()
        a - b
    message = str(err.value)
    check(message, "subtract", [(2,)], where)
    assert "bool, bool" in message and "numpy boolean subtract" in message
    assert isinstance(err.value, TypeError)  # DTypeError is a TypeError, ShapeError a ValueError
    assert issubclass(ShapeError, ValueError) and issubclass(ShapeError, GraphError)


def test_errors_point_at_the_user_line_through_helper_functions() -> None:
    def layer(x: Tensor, w: Tensor) -> Tensor:
        return x @ w  # the user's own helper is user code: this line is reported

    with pytest.raises(ShapeError) as err:
        layer(lazy((4, 3)), lazy((4, 3)))
    line = err.traceback[1].lineno + 1
    assert f"{__file__}:{line}" in str(err.value)


def test_mixed_graphs_are_refused_naming_both() -> None:
    first, second = Graph("first"), Graph("second")
    a = Tensor(np.ones(3), graph=first)
    b = Tensor(np.ones(3), graph=second)
    assert a.graph is first and b.graph is second
    with pytest.raises(MixedGraphError) as err:
        where = location_of_next_line()
        a + b
    message = str(err.value)
    assert message.startswith("add: ")
    assert "'first'" in message and "'second'" in message
    assert f"at {where}" in message
    with pytest.raises(MixedGraphError):
        mt.concatenate([a, b])
    with pytest.raises(MixedGraphError):
        mt.where(a > 0, a, b)


def test_tensors_of_one_graph_combine() -> None:
    g = Graph("mine")
    a = Tensor(np.ones(2), graph=g)
    with g.as_default():
        b = Tensor(np.ones(2))
    c = a + b + 1
    assert c.graph is g
    np.testing.assert_array_equal(c.data, [3.0, 3.0])


def test_gradient_errors() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    y = x * 2
    with pytest.raises(GradientError) as err:
        where = location_of_next_line()
        grad(y, [x])
    message = str(err.value)
    assert message.startswith("grad: ")
    assert "(3,)" in message and "grad_output" in message and "scalar" in message
    assert f"at {where}" in message
    with pytest.raises(GradientError, match=r"grad_output has shape \(2,\)"):
        grad(y, [x], grad_output=np.ones(2))
    with pytest.raises(GradientError, match="implicit gradient needs a scalar"):
        y.backprop()


def test_assign_errors() -> None:
    constant = Tensor([1.0, 2.0])
    with pytest.raises(GraphError, match="constant"):
        constant.assign([3.0, 4.0])
    w = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match="computed tensor"):
        (w * 2).assign([3.0, 4.0])
    with pytest.raises(ValueError, match=r"value of shape \(3,\) does not fit tensor \(2,\)"):
        w.assign([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="does not fit"):
        w.assign(np.ones((2, 2)))


def test_tensor_conversions_refuse_ambiguity() -> None:
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))
