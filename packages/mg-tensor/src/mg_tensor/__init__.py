"""mg-tensor: the user-facing `Tensor`, the op library, symbolic autodiff and
`compute_graph`.

>>> from mg_tensor import Tensor
>>> x = Tensor([[1, 2, 3, 4]])
>>> e = x.exp()
>>> (e / e.sum(axis=1, keepdims=True)).data.round(4)
array([[0.0321, 0.0871, 0.2369, 0.6439]], dtype=float32)
"""

import os as _os

from mg_graph import Graph, get_default_graph, named_scope, register_internal

register_internal(_os.path.dirname(__file__))

from mg_tensor import gradients  # noqa: E402
from mg_tensor import rewrites as _rewrites  # noqa: E402  (registers the stability pass)
from mg_tensor.autodiff import backprop, grad  # noqa: E402
from mg_tensor.function import CompiledFunction, compute_graph  # noqa: E402
from mg_tensor.grad_mode import is_grad_enabled, no_grad  # noqa: E402
from mg_tensor.ops import (  # noqa: E402
    absolute,
    add,
    argmax,
    argmin,
    astype,
    broadcast_to,
    clip,
    concatenate,
    divide,
    equal,
    exp,
    expand_dims,
    flatten,
    getitem,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log_softmax,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    not_equal,
    power,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    stack,
    stop_gradient,
    subtract,
    sum,
    swapaxes,
    tanh,
    transpose,
    where,
)
from mg_tensor.random import (  # noqa: E402
    bernoulli,
    bernoulli_like,
    manual_seed,
    normal,
    normal_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    uniform,
    uniform_like,
)
from mg_tensor.tensor import Tensor, TracingWarning, as_array, realize  # noqa: E402

del _rewrites

__all__ = [
    "CompiledFunction",
    "Graph",
    "Tensor",
    "TracingWarning",
    "absolute",
    "add",
    "argmax",
    "argmin",
    "as_array",
    "astype",
    "backprop",
    "bernoulli",
    "bernoulli_like",
    "broadcast_to",
    "clip",
    "compute_graph",
    "concatenate",
    "divide",
    "equal",
    "exp",
    "expand_dims",
    "flatten",
    "get_default_graph",
    "getitem",
    "grad",
    "gradients",
    "greater",
    "greater_equal",
    "is_grad_enabled",
    "less",
    "less_equal",
    "log",
    "log_softmax",
    "manual_seed",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "multiply",
    "named_scope",
    "negative",
    "no_grad",
    "normal",
    "normal_like",
    "not_equal",
    "power",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "realize",
    "relu",
    "reshape",
    "sigmoid",
    "softmax",
    "sqrt",
    "squeeze",
    "stack",
    "stop_gradient",
    "subtract",
    "sum",
    "swapaxes",
    "tanh",
    "transpose",
    "uniform",
    "uniform_like",
    "where",
]
