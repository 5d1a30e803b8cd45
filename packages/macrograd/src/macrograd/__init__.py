"""Macrograd: deep learning with lazy execution over explicit computational graphs.

Every tensor operation adds a node to a graph; nothing is computed until you ask
(``realize()``, ``.data``, ``backprop()``). The graph is a first-class object you can
freeze, optimise, replay, inspect and draw.

>>> from macrograd import Tensor
>>> t = Tensor([[1, 2], [3, 4]])
>>> (t * t).sum().data
array(30., dtype=float32)
"""

from mg_graph import (
    AnomalyError,
    Graph,
    Node,
    Role,
    detect_anomaly,
    get_default_graph,
    named_scope,
)
from mg_tensor import (
    Tensor,
    bernoulli,
    bernoulli_like,
    compute_graph,
    grad,
    is_grad_enabled,
    manual_seed,
    no_grad,
    normal,
    normal_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    realize,
    uniform,
    uniform_like,
)

__all__ = [
    "AnomalyError",
    "Graph",
    "Node",
    "Role",
    "Tensor",
    "bernoulli",
    "bernoulli_like",
    "compute_graph",
    "detect_anomaly",
    "get_default_graph",
    "grad",
    "is_grad_enabled",
    "manual_seed",
    "named_scope",
    "no_grad",
    "normal",
    "normal_like",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "realize",
    "uniform",
    "uniform_like",
]
__version__ = "0.1.0"
