"""Every op of the table (op_table.py) through one helper: forward against its numpy
reference, float64 gradcheck, second order, compiled = eager; hypothesis varies the
shapes of elementwise ops (broadcasting) and the axes of reductions."""

from __future__ import annotations

import zlib
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mgt_support import SETTINGS, axis_args, expect, quiet
from op_table import NAMES, OPS, OpSpec, by_kind, tensors

from mg_tensor import Tensor, compute_graph, grad
from mg_tensor.testing import gradcheck


def call(spec: OpSpec, fn: Any, inputs: Any, args: tuple[Any, ...]) -> Any:
    """``fn`` applied the way ``spec`` says (a reduction's args by keyword)."""
    if spec.kind == "reduction":
        axis, keepdims = args
        return fn(*inputs, axis=axis, keepdims=keepdims)
    return fn(*inputs, *args)


def rng_for(spec: OpSpec) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(spec.name.encode()))


def check_forward(spec: OpSpec, arrays: list[np.ndarray], args: tuple[Any, ...]) -> None:
    with quiet():
        expected = np.asarray(call(spec, spec.reference, arrays, args))
    expect(call(spec, spec.ours, tensors(arrays), args), expected)


def check_gradients(spec: OpSpec, arrays: list[np.ndarray]) -> None:
    """First order, then (if smooth) a Hessian-vector product, both against central
    differences in float64."""
    assert gradcheck(lambda *ts: call(spec, spec.ours, ts, spec.args), *arrays)
    if not spec.second:
        return
    rng = np.random.default_rng(1)
    shape = call(spec, spec.ours, tensors(arrays), spec.args).shape
    w = rng.standard_normal(shape)
    v = [rng.standard_normal(a.shape) for a in arrays]

    def hvp(*ts: Tensor) -> Tensor:
        gs = grad((call(spec, spec.ours, ts, spec.args) * w).sum(), list(ts))
        total = (gs[0] * v[0]).sum()
        for g, d in zip(gs[1:], v[1:], strict=True):
            total = total + (g * d).sum()
        return total

    assert gradcheck(hvp, *arrays)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", OPS, ids=NAMES)
def test_forward_matches_the_reference(spec: OpSpec, dtype: Any) -> None:
    check_forward(spec, spec.inputs(rng_for(spec), dtype), spec.args)


@pytest.mark.parametrize("spec", [s for s in OPS if s.grad], ids=[s.name for s in OPS if s.grad])
def test_gradients_match_central_differences(spec: OpSpec) -> None:
    check_gradients(spec, spec.inputs(rng_for(spec)))


@pytest.mark.parametrize("spec", OPS, ids=NAMES)
def test_compiled_equals_eager(spec: OpSpec) -> None:
    """Values, and gradients through ``backprop()`` of a frozen graph, on two replays."""
    arrays = spec.inputs(rng_for(spec))
    eager = call(spec, spec.ours, tensors(arrays), spec.args)

    @compute_graph
    def value(*xs: Tensor) -> Tensor:
        return call(spec, spec.ours, xs, spec.args)  # type: ignore[no-any-return]

    np.testing.assert_array_equal(value(*arrays).data, eager.data)
    if not spec.grad:
        return
    params = tensors(arrays, requires_grad=True)

    @compute_graph
    def loss(w: Tensor) -> Tensor:
        return (call(spec, spec.ours, params, spec.args) * w).sum()  # type: ignore[no-any-return]

    rng = np.random.default_rng(2)
    for _ in range(2):
        w = rng.standard_normal(eager.shape)
        compiled = loss(w)
        compiled.backprop()
        leaves = tensors(arrays, requires_grad=True)
        expected = grad((call(spec, spec.ours, leaves, spec.args) * w).sum(), leaves)
        for p, e in zip(params, expected, strict=True):
            assert p.grad is not None
            np.testing.assert_allclose(p.grad.data, e.data, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- hypothesis properties
def _draw_inputs(
    data: st.DataObject, spec: OpSpec, shapes: list[tuple[int, ...]]
) -> list[np.ndarray]:
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    return [spec.input(rng, i, shape, dtype) for i, shape in enumerate(shapes)]


ELEMENTWISE = by_kind("elementwise")
REDUCTIONS = by_kind("reduction")


@SETTINGS
@given(spec=st.sampled_from(ELEMENTWISE), data=st.data())
def test_elementwise_ops_broadcast_like_numpy(spec: OpSpec, data: st.DataObject) -> None:
    shapes = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=len(spec.shapes), max_dims=3, max_side=4)
    )
    check_forward(spec, _draw_inputs(data, spec, list(shapes.input_shapes)), ())


@SETTINGS
@given(spec=st.sampled_from(REDUCTIONS), data=st.data())
def test_reductions_reduce_the_axes_numpy_does(spec: OpSpec, data: st.DataObject) -> None:
    min_side = 1 if spec.name in ("max_axes", "min_axes") else 0  # numpy refuses empty max
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=min_side, max_side=4))
    axis = data.draw(axis_args(len(shape)))
    keepdims = data.draw(st.booleans())
    check_forward(spec, _draw_inputs(data, spec, [shape]), (axis, keepdims))


def test_every_kind_is_known() -> None:
    assert {s.kind for s in OPS} <= {"elementwise", "reduction", "fixed"}
    assert {s.values for s in OPS} <= {"float", "distinct", "int", "bool"}
