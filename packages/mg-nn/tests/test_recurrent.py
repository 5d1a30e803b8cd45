"""LSTMCell, GRUCell, LSTM and GRU against a straightforward numpy implementation of
PyTorch's equations, float64 gradchecks through time and parameters, compiled = eager."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from nn_support import check_compiled, sigmoid

import mg_nn
from mg_nn import GRU, LSTM, GRUCell, LSTMCell
from mg_tensor import Tensor, compute_graph
from mg_tensor.testing import gradcheck

rng = np.random.default_rng(23)


def lstm_cell_reference(x: Any, h: Any, c: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any) -> Any:
    i, f, g, o = np.split(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def gru_cell_reference(x: Any, h: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any) -> Any:
    xr, xz, xn = np.split(x @ w_ih.T + b_ih, 3, axis=-1)
    hr, hz, hn = np.split(h @ w_hh.T + b_hh, 3, axis=-1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def sequence_reference(
    mode: str, state: dict[str, Any], x: Any, layers: int, hx: Any, directions: int = 1
) -> Any:
    """Time-major x (L, N, in); hx: list of (num_layers * directions, N, H) states."""
    finals: list[list[Any]] = []
    for layer in range(layers):
        outputs_by_direction = []
        for d, suffix in enumerate(["", "_reverse"][:directions]):
            w = [
                state[f"{k}_l{layer}{suffix}"]
                for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            ]
            states = [s[layer * directions + d] for s in hx]
            outputs = {}
            times = range(x.shape[0])
            for t in reversed(times) if suffix else times:
                if mode == "LSTM":
                    states = list(lstm_cell_reference(x[t], *states, *w))
                    projection = state.get(f"weight_hr_l{layer}{suffix}")
                    if projection is not None:  # proj_size
                        states[0] = states[0] @ projection.T
                else:
                    states = [gru_cell_reference(x[t], states[0], *w)]
                outputs[t] = states[0]
            outputs_by_direction.append(np.stack([outputs[t] for t in times]))
            finals.append(states)
        x = np.concatenate(outputs_by_direction, -1)
    return x, [np.stack([f[k] for f in finals]) for k in range(len(finals[0]))]


MODES = {"LSTM": LSTM, "GRU": GRU}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("given_state", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_sequence_layers_match_numpy(
    mode: str, layers: int, batch_first: bool, given_state: bool, bidirectional: bool
) -> None:
    net = MODES[mode](
        3,
        4,
        num_layers=layers,
        batch_first=batch_first,
        bidirectional=bidirectional,
        generator=1,
        dtype=np.float64,
    )
    d = 2 if bidirectional else 1
    x = rng.standard_normal((5, 2, 3))  # (L, N, in)
    count = 2 if mode == "LSTM" else 1
    hx = [
        rng.standard_normal((layers * d, 2, 4)) if given_state else np.zeros((layers * d, 2, 4))
        for _ in range(count)
    ]
    expected, finals = sequence_reference(mode, net.state_dict(), x, layers, hx, d)
    given = None if not given_state else (tuple(hx) if mode == "LSTM" else hx[0])
    seq = np.swapaxes(x, 0, 1) if batch_first else x
    out, state = net(seq, given)
    np.testing.assert_allclose(
        out.data, np.swapaxes(expected, 0, 1) if batch_first else expected, rtol=1e-10, atol=1e-12
    )
    states = state if mode == "LSTM" else (state,)
    for ours, reference in zip(states, finals, strict=True):
        np.testing.assert_allclose(ours.data, reference, rtol=1e-10, atol=1e-12)
    check_compiled(lambda s: net(s, given)[0], [seq], net.parameters())


@pytest.mark.parametrize("mode", MODES)
def test_unbatched_sequences(mode: str) -> None:
    net = MODES[mode](3, 4, num_layers=2, bidirectional=True, generator=2, dtype=np.float64)
    x = rng.standard_normal((6, 3))
    batched, batched_state = net(x[:, None])
    out, state = net(x)
    np.testing.assert_allclose(out.data, batched.data[:, 0])
    first = state[0] if mode == "LSTM" else state
    reference = batched_state[0] if mode == "LSTM" else batched_state
    assert first.shape == (4, 4)
    np.testing.assert_allclose(first.data, reference.data[:, 0])


@pytest.mark.parametrize("mode", MODES)
def test_gradients_through_time_and_parameters(mode: str) -> None:
    net = MODES[mode](
        2, 3, num_layers=2, batch_first=True, bidirectional=True, generator=4, dtype=np.float64
    )
    names = [name for name, _ in net.named_parameters()]

    def fn(x: Tensor, *params: Tensor) -> Tensor:
        for name, p in zip(names, params, strict=True):
            setattr(net, name, p)
        out, _ = net(x)
        return out

    state = net.state_dict()
    assert gradcheck(fn, rng.standard_normal((2, 4, 2)), *(state[n] for n in names))


@pytest.mark.parametrize("cell_type", [LSTMCell, GRUCell])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_numpy(cell_type: Any, batched: bool) -> None:
    cell = cell_type(3, 4, generator=5, dtype=np.float64)
    state = cell.state_dict()
    w = [state[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    x = rng.standard_normal((2, 3) if batched else 3)
    h = rng.standard_normal((2, 4) if batched else 4)
    if cell_type is LSTMCell:
        c = rng.standard_normal(h.shape)
        ours = [t.data for t in cell(x, (h, c))]
        expected = list(lstm_cell_reference(x, h, c, *w))
        zero_state = [t.data for t in cell(x)]
        np.testing.assert_allclose(zero_state[1], lstm_cell_reference(x, 0 * h, 0 * h, *w)[1])
    else:
        ours = [cell(x, h).data]
        expected = [gru_cell_reference(x, h, *w)]
        np.testing.assert_allclose(cell(x).data, gru_cell_reference(x, 0 * h, *w))
    for a, b in zip(ours, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)

    def fn(x: Tensor, h: Tensor, *params: Tensor) -> Tensor:
        for name, p in zip(state, params, strict=True):
            setattr(cell, name, p)
        return cell(x, h) if cell_type is GRUCell else cell(x, (h, h))[1]

    assert gradcheck(fn, x, h, *w)


def test_parameter_names_shapes_and_initialisation() -> None:
    lstm = LSTM(3, 5, num_layers=2, generator=0)
    assert {k: v.shape for k, v in lstm.state_dict().items()} == {
        "weight_ih_l0": (20, 3),
        "weight_hh_l0": (20, 5),
        "bias_ih_l0": (20,),
        "bias_hh_l0": (20,),
        "weight_ih_l1": (20, 5),
        "weight_hh_l1": (20, 5),
        "bias_ih_l1": (20,),
        "bias_hh_l1": (20,),
    }
    assert max(np.abs(v).max() for v in lstm.state_dict().values()) <= 1 / np.sqrt(5)
    assert list(GRU(3, 5, bias=False).state_dict()) == ["weight_ih_l0", "weight_hh_l0"]
    assert list(GRU(3, 5, bias=False, num_layers=2, bidirectional=True).state_dict()) == [
        "weight_ih_l0",
        "weight_hh_l0",
        "weight_ih_l0_reverse",
        "weight_hh_l0_reverse",
        "weight_ih_l1",
        "weight_hh_l1",
        "weight_ih_l1_reverse",
        "weight_hh_l1_reverse",
    ]
    assert GRU(3, 5, num_layers=2, bidirectional=True).weight_ih_l1.shape == (15, 10)
    assert list(GRUCell(2, 3).state_dict()) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert GRUCell(2, 3).weight_ih.shape == (9, 2)


def test_dropout_between_layers_only_in_training() -> None:
    gru = GRU(3, 4, num_layers=2, dropout=0.5, generator=0)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    mg_nn.manual_seed(0)
    train = gru(x)[0].data
    evaluated = gru.eval()(x)[0].data
    assert not np.allclose(train, evaluated)
    np.testing.assert_array_equal(gru(x)[0].data, evaluated)


def test_the_whole_sequence_is_one_frozen_graph() -> None:
    lstm = LSTM(3, 4, batch_first=True, generator=0)

    @compute_graph
    def last_step(x: Any) -> Tensor:
        out, _ = lstm(x)
        return (out[:, -1] ** 2).mean()

    x = rng.standard_normal((2, 7, 3)).astype(np.float32)
    loss = last_step(x)
    loss.backprop()
    nodes = len(last_step.graph)  # type: ignore[attr-defined]
    loss = last_step(x + 1)
    loss.backprop()
    assert len(last_step.graph) == nodes  # type: ignore[attr-defined]  (replayed, not re-traced)
    assert lstm.weight_hh_l0.grad is not None  # type: ignore[attr-defined]


def test_errors_name_the_layer_and_shapes() -> None:
    with pytest.raises(ValueError, match=r"LSTM: input of shape \(5, 2, 4\)"):
        LSTM(3, 4)(np.zeros((5, 2, 4)))
    with pytest.raises(
        ValueError, match=r"initial state of shape \(1, 3, 4\) should be \(1, 2, 4\)"
    ):
        GRU(3, 4)(np.zeros((5, 2, 3)), np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="num_layers >= 1"):
        GRU(3, 4, num_layers=0)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_projection_matches_numpy(layers: int, bidirectional: bool, batch_first: bool) -> None:
    """proj_size: h (the output, h_0 and h_n) is projected to proj_size by weight_hr;
    c keeps hidden_size; the next layer and weight_hh read the projected h."""
    d = 2 if bidirectional else 1
    net = LSTM(
        3, 5, layers, batch_first=batch_first, bidirectional=bidirectional, proj_size=2,
        generator=6, dtype=np.float64,
    )  # fmt: skip
    names = list(net.state_dict())
    assert names[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    state = net.state_dict()
    assert state["weight_hh_l0"].shape == (20, 2) and state["weight_hr_l0"].shape == (2, 5)
    if layers > 1:
        assert state["weight_ih_l1"].shape == (20, 2 * d)
    x = rng.standard_normal((4, 2, 3))
    hx = [rng.standard_normal((layers * d, 2, width)) for width in (2, 5)]
    expected, finals = sequence_reference("LSTM", state, x, layers, hx, d)
    seq = np.swapaxes(x, 0, 1) if batch_first else x
    out, (h, c) = net(seq, tuple(hx))
    assert out.shape[-1] == 2 * d and h.shape == (layers * d, 2, 2) and c.shape[-1] == 5
    want = np.swapaxes(expected, 0, 1) if batch_first else expected
    np.testing.assert_allclose(out.data, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h.data, finals[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c.data, finals[1], rtol=1e-10, atol=1e-12)
    check_compiled(lambda s: net(s)[0], [seq], net.parameters())


def test_lstm_projection_gradients_and_errors() -> None:
    net = LSTM(2, 3, 2, proj_size=1, bidirectional=True, generator=7, dtype=np.float64)
    names = [name for name, _ in net.named_parameters()]

    def fn(x: Tensor, *params: Tensor) -> Tensor:
        for name, p in zip(names, params, strict=True):
            setattr(net, name, p)
        return net(x)[0]

    state = net.state_dict()
    assert gradcheck(fn, rng.standard_normal((3, 2, 2)), *(state[n] for n in names))
    assert "proj_size=1" in repr(net)
    for bad in (3, 4, -1):
        with pytest.raises(ValueError, match="proj_size"):
            LSTM(2, 3, proj_size=bad)
    with pytest.raises(ValueError, match="proj_size"):
        GRU(2, 3, proj_size=1)
    with pytest.raises(ValueError, match=r"\(4, 4, 1\)"):  # h_0 is proj_size wide
        net(rng.standard_normal((3, 4, 2)), (np.zeros((2, 4, 3)), np.zeros((2, 4, 3))))
