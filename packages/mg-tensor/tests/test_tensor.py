"""The Tensor surface: attributes, conversions to numpy, laziness and repr."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import ALL_DTYPES, SETTINGS, arrays, shapes

import mg_tensor as mt
from mg_graph import Graph, Role
from mg_tensor import Tensor


@SETTINGS
@given(x=arrays(st.sampled_from(ALL_DTYPES), shapes(max_dims=4)))
def test_attributes_mirror_numpy(x: np.ndarray) -> None:
    t = Tensor(x)
    lazy = t[...]  # a computed tensor: attributes must not compute it
    for tensor in (t, lazy):
        assert tensor.shape == x.shape
        assert tensor.dtype == x.dtype
        assert tensor.ndim == x.ndim
        assert tensor.size == x.size
    assert lazy.node.value is None
    if x.ndim:
        assert len(lazy) == len(x)
    else:
        with pytest.raises(TypeError):
            len(lazy)
    np.testing.assert_array_equal(lazy.data, x)
    np.testing.assert_array_equal(lazy.numpy(), x)
    np.testing.assert_array_equal(np.asarray(lazy), x)
    assert np.asarray(lazy).dtype == x.dtype
    if x.dtype.kind in "if":
        assert np.allclose(lazy, x)
    if x.size == 1:
        assert lazy.item() == x.item()
        assert type(lazy.item()) is type(x.item())


def test_conversions() -> None:
    x = np.array([[1.5, -2.0], [3.0, 4.25]])
    t = Tensor(x) * 2
    data = t.data
    assert isinstance(data, np.ndarray) and data.dtype == np.float64
    np.testing.assert_array_equal(data, 2 * x)
    assert not data.flags.writeable  # Macrograd's own value: read-only
    assert not t.numpy().flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        t.data[0, 0] = 0.0  # a write that would be lost must not be silent
    copy = t.numpy(copy=True)
    assert copy.flags.writeable and np.array(t).flags.writeable
    copy[0, 0] = 100.0
    np.testing.assert_array_equal(t.data, 2 * x)  # the tensor is not affected
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert np.allclose(t, 2 * x) and not np.allclose(t, x)
    assert t.sum().item() == pytest.approx(2 * x.sum())
    assert float(t[0, 0]) == 3.0 and int(t[1, 1]) == 8
    assert bool(Tensor([0.0])) is False and bool(Tensor([2.0])) is True
    leaf = Tensor(x, requires_grad=True)
    with pytest.raises(ValueError, match="read-only"):
        leaf.data[0, 0] = 99.0  # use assign (or p -= ...) to change a parameter
    np.testing.assert_array_equal(leaf.data, x)


def test_operations_are_lazy_and_realize_computes_only_what_is_needed(graph: Graph) -> None:
    x = Tensor(np.arange(4.0))
    y = x * 2
    z = y + 1
    unrelated = x.exp()
    assert len(graph) == 6  # x, 2, y, 1, z and exp were built (scalars are constants)...
    assert y.node.value is None and z.node.value is None  # ...and none computed
    assert z.realize() is z
    assert z.node.value is not None and y.node.value is not None
    assert unrelated.node.value is None  # not needed by z
    np.testing.assert_array_equal(z.data, [1.0, 3.0, 5.0, 7.0])
    graph.realize()  # everything
    assert unrelated.node.value is not None


def test_repr_does_not_force_computation() -> None:
    y = Tensor(np.array([1.0, 2.0])) * 3
    text = repr(y)
    assert "not computed" in text and "multiply" in text and "(2,)" in text
    assert "float64" in text
    assert y.node.value is None
    y.realize()
    text = repr(y)
    assert "not computed" not in text and "3." in text and "6." in text
    named = Tensor([1.0], name="weights")
    assert "name='weights'" in repr(named) and "1." in repr(named)


def test_repr_shows_the_fixed_value_until_realize() -> None:
    w = Tensor(np.array([1.0]), requires_grad=True)
    y = w * 5
    assert "not computed" in repr(y)
    y.realize()
    w.assign([2.0])
    assert "[5.]" in repr(y)  # a value is fixed when first computed
    np.testing.assert_array_equal(y.data, [5.0])
    np.testing.assert_array_equal(y.realize().data, [10.0])


def test_leaf_roles_and_names() -> None:
    p = Tensor([1.0], requires_grad=True, name="w")
    c = Tensor([1.0])
    i = Tensor.input(np.zeros(2, np.float32), name="batch")
    assert p.role is Role.PARAMETER and p.requires_grad and p.name == "w"
    assert c.role is Role.CONSTANT and not c.requires_grad
    assert i.role is Role.INPUT and i.name == "batch"
    assert (p * c).role is Role.COMPUTED


def test_graph_argument_and_default_graph() -> None:
    g = Graph("empty at first")
    assert len(g) == 0
    t = Tensor([1.0], graph=g)  # an empty graph is still the graph asked for
    assert t.graph is g and len(g) == 1
    i = Tensor.input(np.zeros(2), graph=Graph("inputs"))
    assert i.graph.name == "inputs"
    with g.as_default():
        assert Tensor([2.0]).graph is g
        assert mt.get_default_graph() is g
    assert Tensor([3.0]).graph is not g


def test_assign_is_seen_by_realize_and_by_new_values() -> None:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (w * w).sum()
    assert y.item() == 5.0
    w.assign(np.array([3.0, 4.0]))
    assert y.item() == 5.0  # fixed at its first computation
    assert y.realize().item() == 25.0 and (w * w).sum().item() == 25.0
    w.assign(0.5)  # broadcast into the buffer
    assert y.realize().item() == 0.5
    buffer_input = Tensor.input(np.zeros(2))
    total = (buffer_input + 1).sum()
    assert total.item() == 2.0
    buffer_input.assign([1.0, 2.0])
    assert total.realize().item() == 5.0


def test_detach_stops_gradients_but_keeps_values() -> None:
    w = Tensor(np.array([2.0]), requires_grad=True)
    y = w * w.detach()
    np.testing.assert_array_equal(y.data, [4.0])
    (dw,) = mt.grad(y.sum(), [w])
    np.testing.assert_array_equal(dw.data, [2.0])  # only through the live factor


def test_reading_a_detached_parameter_leaves_it_writable() -> None:
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    frozen = w.detach()
    np.testing.assert_array_equal(frozen.data, [1.0, 2.0])
    w.assign([5.0, 6.0])  # used to fail: the parameter's own buffer had become read-only
    np.testing.assert_array_equal(frozen.data, [1.0, 2.0])  # a view of a leaf is copied
    np.testing.assert_array_equal(frozen.realize().data, [5.0, 6.0])
    np.testing.assert_array_equal(w.data, [5.0, 6.0])


def test_iteration_yields_rows_and_stops() -> None:
    x = np.arange(6.0).reshape(3, 2)
    rows = list(Tensor(x))
    assert len(rows) == 3 and all(isinstance(r, Tensor) for r in rows)
    for row, expected in zip(rows, x, strict=True):
        np.testing.assert_array_equal(row.data, expected)
    assert sum(Tensor([1.0, 2.0, 3.0])).item() == 6.0  # builtin sum iterates
    assert 2.0 in Tensor([1.0, 2.0]) and 5.0 not in Tensor([1.0, 2.0])
    assert list(Tensor(np.ones((0, 2)))) == []
    with pytest.raises(TypeError, match="0-d"):
        iter(Tensor(1.0))
