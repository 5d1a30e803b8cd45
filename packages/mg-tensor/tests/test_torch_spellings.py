"""PyTorch's spellings beside numpy's, and the rules where the two disagree
(docs/pytorch-spellings.md lists them)."""

from __future__ import annotations

import numpy as np
import pytest
from mgt_support import location_of_next_line

import mg_tensor as mt
from mg_graph import DTypeError, ShapeError
from mg_tensor import Tensor, compute_graph, grad
from mg_tensor.ops.sort import ValuesIndices

X = np.array([[1.0, 5.0, 2.0], [7.0, 3.0, 0.5]], np.float32)


def test_max_with_dim_returns_values_and_indices() -> None:
    t = Tensor(X)
    values, indices = t.max(dim=1)
    np.testing.assert_array_equal(values.data, X.max(1))
    np.testing.assert_array_equal(indices.data, X.argmax(1))
    pair = t.min(dim=0, keepdim=True)
    assert isinstance(pair, ValuesIndices)
    np.testing.assert_array_equal(pair.values.data, X.min(0, keepdims=True))
    np.testing.assert_array_equal(pair.indices.data, X.argmin(0, keepdims=True))


def test_max_with_axis_or_positional_follows_numpy() -> None:
    t = Tensor(X)
    for result in (t.max(axis=1), t.max(1), t.max(1, True)):
        assert isinstance(result, Tensor)
    np.testing.assert_array_equal(t.max(1, True).data, X.max(1, keepdims=True))
    np.testing.assert_array_equal(t.max().data, X.max())


def test_max_of_a_tensor_is_the_elementwise_maximum() -> None:
    np.testing.assert_array_equal(
        Tensor(X).max(Tensor(X[::-1].copy())).data, np.maximum(X, X[::-1])
    )


def test_axis_and_dim_together_are_an_error() -> None:
    with pytest.raises(TypeError, match="both axis= and dim="):
        Tensor(X).sum(axis=0, dim=0)
    with pytest.raises(TypeError, match="both keepdims= and keepdim="):
        Tensor(X).mean(0, keepdims=True, keepdim=True)


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "logsumexp", "any", "all", "max", "min"])
def test_dim_and_keepdim_mean_axis_and_keepdims(name: str) -> None:
    t = Tensor(X)
    ours = getattr(t, name)(dim=(0, 1) if name not in ("max", "min") else 1, keepdim=True)
    ours = ours.values if isinstance(ours, ValuesIndices) else ours
    axis = (0, 1) if name not in ("max", "min") else 1
    expected = getattr(t, name)(axis=axis, keepdims=True)
    np.testing.assert_array_equal(ours.data, expected.data)


def test_var_and_std_corrections() -> None:
    t = Tensor(X)
    np.testing.assert_allclose(t.var().data, X.var(), rtol=1e-6)  # numpy: ddof 0
    np.testing.assert_allclose(t.var(axis=1).data, X.var(1), rtol=1e-6)
    np.testing.assert_allclose(t.var(dim=1).data, X.var(1, ddof=1), rtol=1e-6)  # PyTorch: 1
    np.testing.assert_allclose(t.std(dim=1, correction=0).data, X.std(1), rtol=1e-6)
    np.testing.assert_allclose(t.std(unbiased=False).data, X.std(), rtol=1e-6)
    np.testing.assert_allclose(t.std(unbiased=True).data, X.std(ddof=1), rtol=1e-6)
    np.testing.assert_allclose(t.var(0, ddof=1).data, X.var(0, ddof=1), rtol=1e-6)
    with pytest.raises(TypeError):
        t.var(ddof=1, correction=1)


def test_sort_and_topk() -> None:
    t = Tensor(X)
    np.testing.assert_array_equal(t.sort().data, np.sort(X))  # numpy's np.sort: values
    np.testing.assert_array_equal(t.sort(0).data, np.sort(X, 0))
    values, indices = t.sort(dim=1, descending=True)
    np.testing.assert_array_equal(values.data, -np.sort(-X, 1))
    np.testing.assert_array_equal(indices.data, np.argsort(-X, 1))
    top = t.topk(2)
    np.testing.assert_array_equal(top.values.data, -np.sort(-X, 1)[:, :2])
    np.testing.assert_array_equal(top.indices.data, np.argsort(-X, 1)[:, :2])
    np.testing.assert_array_equal(t.argsort(dim=0).data, np.argsort(X, 0))


def test_size_numel_dim_tolist() -> None:
    t = Tensor(np.zeros((2, 3, 4)))
    assert t.size == 24 and isinstance(t.size, int)  # numpy's
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4  # PyTorch's
    assert t.numel() == 24 and t.dim() == 3
    assert Tensor([[1, 2], [3, 4]]).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert Tensor(2.5).tolist() == 2.5


def test_casts_and_to() -> None:
    t = Tensor(np.array([1.7, -2.2]))
    assert t.float().dtype == np.float32 and t.double().dtype == np.float64
    assert t.half().dtype == np.float16
    assert t.long().dtype == np.int64 and t.long().tolist() == [1, -2]
    assert t.to(np.float32).dtype == np.float32 and t.to("float16").dtype == np.float16
    assert t.to("cpu") is t and t.to(Tensor(np.zeros(1, np.int32))).dtype == np.int32
    assert t.type_as(Tensor([1])).dtype == np.float32
    with pytest.raises(TypeError, match="neither a dtype nor the cpu device"):
        t.to("cuda")


def test_clone_is_a_copy_with_gradients() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.node is not x.node
    (g,) = grad((c * c).sum(), [x])
    np.testing.assert_array_equal(g.data, [2.0, 4.0])


def test_format() -> None:
    assert f"{Tensor(3.14159):.3f}" == "3.142"
    assert f"{Tensor([[2.0]]):.1f}" == "2.0"
    assert f"{Tensor([1.0, 2.5]):.2f}" == "[1.00, 2.50]"
    assert f"{Tensor([1.0])}" == str(Tensor([1.0]))


def test_numpy_functions_build_nodes() -> None:
    t = Tensor(X)
    for fn in (np.mean, np.sum, np.max, np.min, np.prod, np.var, np.std, np.argmax):
        result = fn(t, axis=1)
        assert isinstance(result, Tensor), fn
        np.testing.assert_allclose(result.data, fn(X, axis=1), rtol=1e-6)
    assert isinstance(np.sum(t), Tensor)
    np.testing.assert_allclose(np.var(t, ddof=1).data, np.var(X, ddof=1), rtol=1e-6)
    for fn in (np.exp, np.sin, np.sqrt, np.tanh, np.floor):
        assert isinstance(fn(t), Tensor)
        np.testing.assert_allclose(fn(t).data, fn(X), rtol=1e-6)
    np.testing.assert_array_equal(np.concatenate([t, t]).data, np.concatenate([X, X]))
    np.testing.assert_array_equal(np.where(X > 2, t, 0).data, np.where(X > 2, X, 0))
    np.testing.assert_array_equal(np.maximum(t, 2).data, np.maximum(X, 2))
    assert np.shape(t) == (2, 3) and np.ndim(t) == 2 and np.size(t) == 6
    assert isinstance(X + Tensor(X), Tensor)  # an ndarray operator defers to the Tensor


def test_numpy_split_keeps_numpy_meaning() -> None:
    t = Tensor(np.arange(6.0))
    assert [p.shape for p in np.split(t, 3)] == [(2,), (2,), (2,)]
    assert [p.shape for p in np.split(t, [1, 4])] == [(1,), (3,), (2,)]
    with pytest.raises(ValueError):
        np.split(t, 4)


def test_numpy_functions_without_a_tensor_version_compute_on_values() -> None:
    t = Tensor(X)
    assert isinstance(np.median(t), np.floating)
    np.testing.assert_allclose(np.median(t), np.median(X))
    np.testing.assert_allclose(np.linalg.norm(t), np.linalg.norm(X), rtol=1e-6)
    with pytest.raises(TypeError, match="out="):
        np.exp(X, out=t)  # type: ignore[call-overload]
    array = X.copy()
    array += t  # numpy's in-place update reads the values
    np.testing.assert_array_equal(array, 2 * X)
    np.testing.assert_allclose(np.exp(t, out=np.empty_like(X)), np.exp(X))


def test_numpy_functions_trace_in_compute_graph() -> None:
    @compute_graph
    def f(x: Tensor) -> Tensor:
        return np.mean(np.exp(x), axis=0)  # type: ignore[no-any-return]

    np.testing.assert_allclose(f(X).data, np.exp(X).mean(0), rtol=1e-6)
    np.testing.assert_allclose(f(2 * X).data, np.exp(2 * X).mean(0), rtol=1e-6)


def test_shape_spellings() -> None:
    t = Tensor(np.arange(24.0).reshape(2, 3, 4))
    a = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(t.view(4, 6).data, a.reshape(4, 6))
    np.testing.assert_array_equal(t.view((-1,)).data, a.reshape(-1))
    np.testing.assert_array_equal(t.permute(2, 0, 1).data, a.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.permute((1, 2, 0)).data, a.transpose(1, 2, 0))
    np.testing.assert_array_equal(t.transpose(0, 2).data, a.swapaxes(0, 2))  # not 2-d: a swap
    np.testing.assert_array_equal(t.transpose(2, 0, 1).data, a.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.flatten(1).data, a.reshape(2, 12))
    np.testing.assert_array_equal(t.flatten(0, 1).data, a.reshape(6, 4))
    np.testing.assert_array_equal(t.flatten(start_dim=1).data, a.reshape(2, 12))
    np.testing.assert_array_equal(t.unsqueeze(dim=1).data, a[:, None])
    np.testing.assert_array_equal(t[:, :1].squeeze(dim=1).data, a[:, 0])
    np.testing.assert_array_equal(t.softmax(dim=1).data, t.softmax(1).data)
    assert t.contiguous() is t
    assert t.view_as(Tensor(np.zeros((6, 4)))).shape == (6, 4)
    assert Tensor([1.0]).expand_as(t).shape == t.shape


def test_transpose_of_a_matrix_follows_numpy_positionally() -> None:
    m = Tensor(X)
    np.testing.assert_array_equal(m.transpose(0, 1).data, X)  # numpy: the identity permutation
    np.testing.assert_array_equal(m.transpose(1, 0).data, X.T)
    np.testing.assert_array_equal(m.transpose(dim0=0, dim1=1).data, X.T)  # PyTorch's keywords
    np.testing.assert_array_equal(m.swapaxes(0, 1).data, X.T)


def test_repeat_follows_numpy_and_tile_is_pytorchs_repeat() -> None:
    t = Tensor(X)
    np.testing.assert_array_equal(t.repeat(2, 1).data, np.repeat(X, 2, 1))  # numpy's reading
    np.testing.assert_array_equal(t.tile(2, 1).data, np.tile(X, (2, 1)))  # torch.repeat(2, 1)
    np.testing.assert_array_equal(t.repeat_interleave(2, dim=0).data, np.repeat(X, 2, 0))


def test_methods_numpy_lacks_follow_pytorch() -> None:
    t = Tensor(np.arange(10.0).reshape(5, 2))
    assert [p.shape for p in t.split(2)] == [(2, 2), (2, 2), (1, 2)]
    assert [p.shape for p in t.split([1, 4])] == [(1, 2), (4, 2)]
    assert [p.shape for p in t.chunk(2, dim=1)] == [(5, 1), (5, 1)]
    np.testing.assert_array_equal(t.flip(0).data, np.arange(10.0).reshape(5, 2)[::-1])
    np.testing.assert_array_equal(t.roll(1, 0).data, np.roll(np.arange(10.0).reshape(5, 2), 1, 0))
    index = np.array([[1], [0], [1], [0], [0]])
    np.testing.assert_array_equal(t.gather(1, index).data, np.take_along_axis(t.data, index, 1))
    mask = t.data > 4
    np.testing.assert_array_equal(t.masked_fill(mask, 0).data, np.where(mask, 0, t.data))
    np.testing.assert_array_equal(t.where(t > 4, -1.0).data, np.where(mask, t.data, -1))
    np.testing.assert_allclose(t.norm().data, np.linalg.norm(t.data), rtol=1e-6)
    np.testing.assert_allclose(t.norm(1, dim=1).data, np.abs(t.data).sum(1), rtol=1e-6)
    np.testing.assert_array_equal(t.clamp(1, 3).data, np.clip(t.data, 1, 3))


def test_operators() -> None:
    a, b = np.array([True, False, True]), np.array([True, True, False])
    ta, tb = Tensor(a), Tensor(b)
    np.testing.assert_array_equal((ta & tb).data, a & b)
    np.testing.assert_array_equal((ta | tb).data, a | b)
    np.testing.assert_array_equal((ta ^ tb).data, a ^ b)
    np.testing.assert_array_equal((~ta).data, ~a)
    np.testing.assert_array_equal((True & tb).data, True & b)
    i = np.array([5, -7, 12])
    np.testing.assert_array_equal((Tensor(i) & 6).data, i & 6)
    np.testing.assert_array_equal((~Tensor(i)).data, ~i)
    x = np.array([7.5, -7.5, 3.0], np.float32)
    np.testing.assert_array_equal((Tensor(x) // 2).data, x // 2)
    np.testing.assert_array_equal((Tensor(x) % 2).data, x % 2)
    np.testing.assert_array_equal((10 // Tensor(x)).data, 10 // x)
    np.testing.assert_array_equal((10 % Tensor(x)).data, 10 % x)
    with pytest.raises(DTypeError, match="bitwise_and"):
        _ = Tensor(x) & Tensor(x)


def test_combined_masks_in_attention_style_code() -> None:
    causal = Tensor(np.tril(np.ones((3, 3), bool)))
    padding = Tensor(np.array([True, True, False]))
    scores = Tensor(np.zeros((3, 3), np.float32)).masked_fill(~(causal & padding), -np.inf)
    expected = np.where(np.tril(np.ones((3, 3), bool)) & [True, True, False], 0, -np.inf)
    np.testing.assert_array_equal(scores.data, expected)


def test_errors_name_the_op_and_the_users_line() -> None:
    t = Tensor(X)
    cases = [
        (lambda: t.masked_fill(X, 0), DTypeError, "masked_fill"),
        (lambda: t.gather(1, X), DTypeError, "take_along_axis"),
        (lambda: mt.pad(t, -1), ShapeError, "pad"),
        (lambda: t.topk(4), ShapeError, "topk"),
        (lambda: mt.einsum("ij,jk", t, t), ShapeError, "einsum"),
        (lambda: t.split([1, 2]), ShapeError, "split"),
        (lambda: mt.tril(Tensor([1.0])), ShapeError, "tril"),
        (lambda: t.masked_fill(np.ones((3, 3), bool), 0), ShapeError, "masked_fill"),
    ]
    for build, error, op in cases:
        with pytest.raises(error) as err:
            build()
        assert str(err.value).startswith(op), str(err.value)
    with pytest.raises(ShapeError) as err:
        where = location_of_next_line()
        t.cumsum(axis=2)
    assert where in str(err.value)


def test_max_with_dim_sends_the_gradient_to_the_index_like_pytorch() -> None:
    x = Tensor(np.array([[2.0, 2.0, 1.0]]), requires_grad=True)
    (g,) = grad(x.max(dim=1).values.sum(), [x])
    np.testing.assert_array_equal(g.data, [[1.0, 0.0, 0.0]])  # the first maximum
    (g,) = grad(x.max(axis=1).sum(), [x])
    np.testing.assert_array_equal(g.data, [[0.5, 0.5, 0.0]])  # numpy-style: ties share
