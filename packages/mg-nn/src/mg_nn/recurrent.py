"""Recurrent layers as PyTorch's: `LSTMCell`, `GRUCell`, `LSTM`, `GRU` (multi-layer,
``batch_first``, bidirectional, dropout between layers), with the same parameter names
(``weight_ih_l0``, ``weight_ih_l0_reverse``...), gate order (LSTM ``i, f, g, o``; GRU
``r, z, n``), initialisation U(-1/sqrt(H), 1/sqrt(H)) and return values.

A sequence is unrolled into ordinary graph nodes, one step after another, so
``compute_graph`` traces (and replays) the whole sequence and gradients flow back
through time. The input projections of all steps are one matmul per layer.

>>> import numpy as np
>>> lstm = LSTM(3, 5, num_layers=2, batch_first=True, generator=0)
>>> out, (h, c) = lstm(np.ones((4, 7, 3), np.float32))
>>> out.shape, h.shape, c.shape
((4, 7, 5), (2, 4, 5), (2, 4, 5))
>>> list(lstm.state_dict())[:4]
['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from mg_graph import describe, user_location
from mg_nn import functional as F
from mg_nn import init
from mg_nn.model import Model
from mg_nn.operands import as_tensor
from mg_tensor import Tensor
from mg_tensor import ops as _t

_GATES = {"LSTM": 4, "GRU": 3}


def _gate(t: Tensor, k: int, hidden: int) -> Tensor:
    return t[..., k * hidden : (k + 1) * hidden]


def lstm_step(
    x_part: Tensor,
    h: Tensor,
    c: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    weight_hr: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One LSTM step from the input's projection ``x @ W_ih.T + b_ih``: returns (h, c);
    with ``weight_hr`` (proj_size, H), h is projected to proj_size (PyTorch's
    ``proj_size``)."""
    gates = x_part + F.linear(h, weight_hh, bias_hh)
    hidden = c.shape[-1]
    i, f, g, o = (_gate(gates, k, hidden) for k in range(4))
    c = _t.sigmoid(f) * c + _t.sigmoid(i) * _t.tanh(g)
    h = _t.sigmoid(o) * _t.tanh(c)
    return (h if weight_hr is None else F.linear(h, weight_hr)), c


def gru_step(x_part: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """One GRU step from the input's projection ``x @ W_ih.T + b_ih``: returns h."""
    h_part = F.linear(h, weight_hh, bias_hh)
    hidden = h.shape[-1]
    r = _t.sigmoid(_gate(x_part, 0, hidden) + _gate(h_part, 0, hidden))
    z = _t.sigmoid(_gate(x_part, 1, hidden) + _gate(h_part, 1, hidden))
    n = _t.tanh(_gate(x_part, 2, hidden) + r * _gate(h_part, 2, hidden))
    return n + z * (h - n)  # (1 - z) * n + z * h


def _uniform(shape: tuple[int, ...], hidden: int, rng: Any, dtype: DTypeLike, name: str) -> Tensor:
    bound = 1.0 / math.sqrt(hidden)
    array = init.uniform(shape, -bound, bound, generator=rng, dtype=dtype)
    return Tensor(array, requires_grad=True, name=name)


def _check_input(op: str, x: Tensor, features: int, ranks: tuple[int, int]) -> None:
    if x.ndim not in ranks or x.shape[-1] != features:
        raise ValueError(
            describe(
                op,
                f"input of shape {x.shape} must have {' or '.join(map(str, ranks))} axes "
                f"and {features} features last",
                user_location(),
                "pass (batch, features) to a cell, (L, N, features) to a layer "
                "((N, L, features) with batch_first)",
            )
        )


def _zeros(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    return as_tensor(np.zeros(shape, x.dtype), x)


class _Cell(Model):
    """Parameters ``weight_ih`` (G*H, in), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh``."""

    mode = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        generator: init.GeneratorLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        rng = init.as_generator(generator)
        rows = _GATES[self.mode] * hidden_size
        self.weight_ih = _uniform((rows, input_size), hidden_size, rng, dtype, "weight_ih")
        self.weight_hh = _uniform((rows, hidden_size), hidden_size, rng, dtype, "weight_hh")
        self.bias_ih = _uniform((rows,), hidden_size, rng, dtype, "bias_ih") if bias else None
        self.bias_hh = _uniform((rows,), hidden_size, rng, dtype, "bias_hh") if bias else None

    def _input(self, input: Any) -> Tensor:
        x = as_tensor(input, self.weight_ih)
        _check_input(type(self).__name__, x, self.input_size, (1, 2))
        return x

    def _state(self, x: Tensor, given: Any) -> Tensor:
        shape = (*x.shape[:-1], self.hidden_size)
        return _zeros(x, shape) if given is None else as_tensor(given, x)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class LSTMCell(_Cell):
    """One LSTM step: ``(h, c) = cell(x, (h, c))``; ``x`` (N, in) or (in,), states
    (N, H) or (H,), zeros when ``hx`` is None.

    >>> cell = LSTMCell(3, 4, generator=0)
    >>> h, c = cell(np.ones((2, 3), np.float32))
    >>> h.shape, c.shape
    ((2, 4), (2, 4))
    """

    mode = "LSTM"

    def forward(self, input: Any, hx: tuple[Any, Any] | None = None) -> tuple[Tensor, Tensor]:
        x = self._input(input)
        h, c = (None, None) if hx is None else hx
        x_part = F.linear(x, self.weight_ih, self.bias_ih)
        return lstm_step(x_part, self._state(x, h), self._state(x, c), self.weight_hh, self.bias_hh)


class GRUCell(_Cell):
    """One GRU step: ``h = cell(x, h)``; ``x`` (N, in) or (in,), ``h`` (N, H) or (H,),
    zeros when ``hx`` is None.

    >>> GRUCell(3, 4, generator=0)(np.ones((2, 3), np.float32)).shape
    (2, 4)
    """

    mode = "GRU"

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        x = self._input(input)
        x_part = F.linear(x, self.weight_ih, self.bias_ih)
        return gru_step(x_part, self._state(x, hx), self.weight_hh, self.bias_hh)


class _Recurrent(Model):
    """A stack of ``num_layers`` recurrent layers over a sequence."""

    mode = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        generator: init.GeneratorLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        what = type(self).__name__
        if num_layers < 1 or not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{what}: need num_layers >= 1 and 0 <= dropout <= 1")
        if proj_size and (self.mode != "LSTM" or not 0 < proj_size < hidden_size):
            raise ValueError(
                f"{what}: proj_size={proj_size} needs an LSTM and 0 <= proj_size < "
                f"hidden_size={hidden_size}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.batch_first = batch_first
        self.dropout = dropout
        self.bias = bias
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        rng = init.as_generator(generator)
        rows = _GATES[self.mode] * hidden_size
        for layer in range(num_layers):  # PyTorch's order: per layer and direction
            fan = input_size if layer == 0 else self._output_size * self._directions
            shapes: dict[str, tuple[int, ...]] = {
                "weight_ih": (rows, fan),
                "weight_hh": (rows, self._output_size),
            }
            if bias:
                shapes.update(bias_ih=(rows,), bias_hh=(rows,))
            if proj_size:
                shapes.update(weight_hr=(proj_size, hidden_size))
            for suffix in self._suffixes:
                for kind, shape in shapes.items():
                    key = f"{kind}_l{layer}{suffix}"
                    setattr(self, key, _uniform(shape, hidden_size, rng, dtype, key))

    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _output_size(self) -> int:
        """The width of h: ``proj_size`` when projecting, else ``hidden_size``."""
        return self.proj_size or self.hidden_size

    @property
    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def _parameters_of(
        self, layer: int, suffix: str = ""
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None]:
        """One layer and direction's weight_ih, weight_hh, bias_ih, bias_hh and
        weight_hr (None where absent: no bias, no projection)."""
        own = vars(self)
        return (
            own[f"weight_ih_l{layer}{suffix}"],
            own[f"weight_hh_l{layer}{suffix}"],
            own.get(f"bias_ih_l{layer}{suffix}"),
            own.get(f"bias_hh_l{layer}{suffix}"),
            own.get(f"weight_hr_l{layer}{suffix}"),
        )

    def _states(self, x: Tensor, hx: Any, batched: bool) -> list[list[Tensor]]:
        """Initial states per layer and direction: [[h, c], ...] (LSTM) or [[h], ...]."""
        count = self.num_layers * self._directions
        batch = (x.shape[1],) if batched else ()
        widths = [self._output_size, self.hidden_size][: 2 if self.mode == "LSTM" else 1]
        shapes = [(*batch, width) for width in widths]
        if hx is None:
            return [[_zeros(x, shape) for shape in shapes] for _ in range(count)]
        given = [as_tensor(h, x) for h in (hx if self.mode == "LSTM" else (hx,))]
        for h, shape in zip(given, shapes, strict=True):
            if h.shape != (count, *shape):
                raise ValueError(
                    describe(
                        type(self).__name__,
                        f"initial state of shape {h.shape} should be {(count, *shape)} "
                        "(num_layers * directions, batch, hidden_size; proj_size for h "
                        "when projecting)",
                        user_location(),
                        "pass states shaped (num_layers * directions, N, hidden_size)",
                    )
                )
        return [[h[k] for h in given] for k in range(count)]

    def _run(self, x: Tensor, state: list[Tensor], layer: int, suffix: str) -> list[Tensor]:
        """One direction of one layer over time-major ``x``: the outputs (L, N, H) then
        the final state."""
        weight_ih, weight_hh, bias_ih, bias_hh, weight_hr = self._parameters_of(layer, suffix)
        x_parts = F.linear(x, weight_ih, bias_ih)  # every step's input part at once
        steps = range(x.shape[0])
        outputs: list[Tensor] = []
        for step in reversed(steps) if suffix else steps:
            if self.mode == "LSTM":
                h, c = lstm_step(x_parts[step], state[0], state[1], weight_hh, bias_hh, weight_hr)
                state = [h, c]
            else:
                state = [gru_step(x_parts[step], state[0], weight_hh, bias_hh)]
            outputs.append(state[0])
        if suffix:
            outputs.reverse()
        return [_t.stack(outputs, 0), *state]

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Any]:
        x = as_tensor(input, self._parameters_of(0)[0])
        _check_input(type(self).__name__, x, self.input_size, (2, 3))
        batched = x.ndim == 3
        if not batched:
            x = _t.expand_dims(x, 1)
        elif self.batch_first:
            x = _t.swapaxes(x, 0, 1)  # time first: (L, N, in)
        states = iter(self._states(x, hx, batched))
        if not batched:
            states = iter([[_t.expand_dims(s, 0) for s in state] for state in states])
        finals: list[list[Tensor]] = []
        for layer in range(self.num_layers):
            if layer:
                x = F.dropout(x, self.dropout, self.training)
            runs = [self._run(x, next(states), layer, suffix) for suffix in self._suffixes]
            x = runs[0][0] if len(runs) == 1 else _t.concatenate([r[0] for r in runs], -1)
            finals.extend(run[1:] for run in runs)
        if not batched:
            x = x[:, 0]
        elif self.batch_first:
            x = _t.swapaxes(x, 0, 1)
        stacked = [_t.stack([s[k] for s in finals], 0) for k in range(len(finals[0]))]
        if not batched:
            stacked = [s[:, 0] for s in stacked]
        return x, (tuple(stacked) if self.mode == "LSTM" else stacked[0])

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"batch_first={self.batch_first}, dropout={self.dropout}"
            + (", bidirectional=True" if self.bidirectional else "")
            + (f", proj_size={self.proj_size}" if self.proj_size else "")
        )


class LSTM(_Recurrent):
    """Multi-layer LSTM over a sequence: ``output, (h_n, c_n) = lstm(x, (h_0, c_0))``.

    ``x`` is (L, N, in), (N, L, in) with ``batch_first``, or unbatched (L, in);
    ``output`` holds the last layer's ``h`` at every step (both directions' side by
    side, ``2 * H`` wide, when ``bidirectional``), ``h_n``/``c_n`` (num_layers *
    directions, N, H) the final states of every layer and direction, as PyTorch orders
    them; zero initial states when ``hx`` is None. With ``proj_size`` P > 0, each layer's
    h is projected by ``weight_hr_l{k}`` (P, H): ``output`` and ``h_n`` are P wide
    (``c_n`` stays H), as in PyTorch.

    >>> out, (h, c) = LSTM(3, 5, proj_size=2, generator=0)(np.ones((4, 1, 3), np.float32))
    >>> out.shape, h.shape, c.shape
    ((4, 1, 2), (1, 1, 2), (1, 1, 5))
    """

    mode = "LSTM"


class GRU(_Recurrent):
    """Multi-layer GRU over a sequence: ``output, h_n = gru(x, h_0)``; shapes as `LSTM`.

    >>> out, h = GRU(3, 4, generator=0)(np.ones((6, 2, 3), np.float32))
    >>> out.shape, h.shape
    ((6, 2, 4), (1, 2, 4))
    """

    mode = "GRU"


__all__ = ["GRU", "LSTM", "GRUCell", "LSTMCell", "gru_step", "lstm_step"]
