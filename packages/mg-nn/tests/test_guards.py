"""Traces follow the model (issue 11, section 4): a compiled function that reached a
model through a closure traces again when a module's mode, a sub-module or a
parameter's requires_grad changes, and reuses its variants when they change back."""

from __future__ import annotations

from typing import Any

import numpy as np

from mg_nn import Dropout, Linear, Model, ReLU, Sequential
from mg_tensor import Tensor, compute_graph


class Block(Model):
    def __init__(self) -> None:
        super().__init__()
        self.inner = Sequential(Linear(4, 4, generator=0), ReLU())
        self.drop = Dropout(0.5)

    def forward(self, x: Any) -> Tensor:
        h = self.inner(x)
        if self.training:  # a Python branch on the mode: frozen into the trace
            h = h * 2
        return self.drop(h)


class Net(Model):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.head = Linear(4, 1, generator=1)

    def forward(self, x: Any) -> Tensor:
        return self.head(self.block(x))


def test_mode_changes_of_a_nested_module_trace_a_new_variant() -> None:
    model = Net()
    x = np.ones((2, 4), np.float32)

    @compute_graph
    def forward(x: Any) -> Tensor:
        return model(x)  # reaches model through the closure

    forward(x)
    model.eval()
    evaluated = forward(x).data
    np.testing.assert_array_equal(evaluated, model(x).data)  # no dropout, no doubling
    assert len(forward.variants) == 2
    model.block.drop.train()  # one nested module alone
    forward(x)
    assert len(forward.variants) == 3
    model.block.drop.eval()
    np.testing.assert_array_equal(forward(x).data, evaluated)  # back: reused
    assert len(forward.variants) == 3


def test_a_replaced_sub_module_is_seen() -> None:
    model = Net()
    x = np.ones((2, 4), np.float32)
    model.eval()

    @compute_graph
    def forward(x: Any) -> Tensor:
        return model(x)

    before = forward(x).data
    model.block.inner = Sequential(Linear(4, 4, generator=5), ReLU())
    after = forward(x).data
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, model(x).data)


def test_a_frozen_parameter_changes_the_trace() -> None:
    model = Net().eval()
    x = np.ones((2, 4), np.float32)

    @compute_graph
    def loss(x: Any) -> Tensor:
        return model(x).sum()

    loss(x).backprop()
    assert model.head.weight.grad is not None
    model.block.inner[0].weight.requires_grad = False
    model.block.inner[0].weight.grad = None
    loss(x).backprop()
    assert model.block.inner[0].weight.grad is None and model.head.weight.grad is not None


def test_unchanged_state_checks_no_guard() -> None:
    model = Net().eval()
    x = np.ones((2, 4), np.float32)
    checked = []
    key = Block._mg_guard_key

    def counting(self: Block) -> Any:
        checked.append(1)
        return key(self)

    @compute_graph
    def forward(x: Any) -> Tensor:
        return model(x)

    Block._mg_guard_key = counting  # type: ignore[method-assign]
    try:
        forward(x)
        checked.clear()
        for _ in range(10):
            forward(x)
        assert checked == []  # one integer comparison per call, no guard evaluated
        Net().train()  # an unrelated model changed: the guards are evaluated once
        forward(x)
        forward(x)
        assert len(checked) == 1 and len(forward.variants) == 1
    finally:
        Block._mg_guard_key = key  # type: ignore[method-assign]


def test_values_kept_in_attributes_are_not_parameters_and_do_not_retrace() -> None:
    class Recurrent(Model):
        def __init__(self) -> None:
            super().__init__()
            self.cell = Linear(4, 4, generator=0)

        def forward(self, x: Any) -> Tensor:
            self.state = self.cell(x).tanh()  # a computed tensor kept on the model
            return self.state.sum()

    model = Recurrent()
    x = np.ones((1, 4), np.float32)

    @compute_graph
    def step(x: Any) -> Tensor:
        return model(x)

    for _ in range(3):
        step(x).backprop()
    assert len(step.variants) == 1
    assert [name for name, _ in model.named_parameters()] == ["cell.weight", "cell.bias"]
