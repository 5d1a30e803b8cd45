"""A model's call records its class name for its scope: the visualiser's layer boxes
and clusters say ``hidden: Linear``."""

from __future__ import annotations

import numpy as np

from mg_graph import SCOPE_KINDS
from mg_nn import Linear, Model, ReLU, Sequential
from mg_tensor import Tensor


class Net(Model):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = Linear(3, 4)
        self.body = Sequential(ReLU(), Linear(4, 2))

    def __call__(self, x: Tensor) -> Tensor:
        out: Tensor = self.body(self.hidden(x))
        return out


def test_each_call_records_its_class_name() -> None:
    Net()(np.ones((1, 3), np.float32))
    assert SCOPE_KINDS[("Net",)] == "Net"
    assert SCOPE_KINDS[("Net", "hidden")] == "Linear"
    assert SCOPE_KINDS[("Net", "body")] == "Sequential"
    assert SCOPE_KINDS[("Net", "body", "1")] == "Linear"
