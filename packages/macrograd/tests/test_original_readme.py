"""The three "Graph Execution" examples of the original README, verbatim but for the
`softmax` helper each later example reuses, run in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SOFTMAX = """
from macrograd import Tensor

# functions can be designed with the same notation that `numpy` uses:
def softmax(x: Tensor) -> Tensor:
    e_x = x.exp()
    return e_x / (e_x.sum(axis=1, keepdims=True))

def cross_entropy(y_true, y_pred) -> Tensor:
    return -1 * (y_true * (y_pred).log()).sum() / y_true.data.shape[0]
"""

EXAMPLE_1 = (
    SOFTMAX
    + """
my_tensor = Tensor(
    [[1, 2, 3, 4],
     [5, 6, 7, 8]])

logits = softmax(my_tensor)
logits.realize() # execture the graph
# would be the same as `logits.graph.realize()

# access the computed tensor
logits.data
"""
)

EXAMPLE_2 = (
    SOFTMAX
    + """
from macrograd import Tensor
from macrograd.engine import get_default_graph


default_graph = get_default_graph()

my_tensor = Tensor(
    [[1, 2, 3, 4],
     [5, 6, 7, 8]])

logits = softmax(my_tensor)

# the whole graph is executed
default_graph.realize()

# access the computed tensor
logits.data
"""
)

EXAMPLE_3 = (
    SOFTMAX
    + """
from macrograd import Tensor
from macrograd.engine import Graph

my_graph = Graph() # create a custom graph
my_tensor = Tensor(
    [[1, 2, 3, 4], [5, 6, 7, 8]],
    graph=my_graph, # pass the graph as an argument
)

logits = softmax(my_tensor)

# the whole graph is executed
my_graph.realize()

# access the computed tensor
logits.data
"""
)

# As printed in the original README.
SHOWN = [[0.0320586, 0.08714432, 0.23688282, 0.64391426]] * 2

PROBE = """
import json
print(json.dumps({
    "values": logits.data.tolist(),
    "dtype": str(logits.dtype),
    "computed_before_data": logits.node.value is not None,
}))
"""


def run(code: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + PROBE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "code", [EXAMPLE_1, EXAMPLE_2, EXAMPLE_3], ids=["realize", "default", "custom"]
)
def test_example_prints_the_shown_values(code: str) -> None:
    out = run(code)
    assert out["dtype"] == "float32"
    assert out["computed_before_data"] is True  # realize() computed it, not .data
    np.testing.assert_array_equal(np.round(out["values"], 6), np.round(SHOWN, 6))


def test_values_print_like_the_readme() -> None:
    code = EXAMPLE_1 + "\nprint(logits.data)\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    printed = result.stdout.replace("[", " ").replace("]", " ").split()
    for shown in ["0.0320586", "0.08714432", "0.23688282"]:
        assert shown in printed
    assert any(word.startswith("0.643914") for word in printed)


def test_nothing_is_computed_before_it_is_asked_for() -> None:
    code = (
        SOFTMAX
        + """
my_tensor = Tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
logits = softmax(my_tensor)
assert logits.node.value is None
assert logits.shape == (2, 4) and logits.node.value is None
logits.data
"""
    )
    run(code)
