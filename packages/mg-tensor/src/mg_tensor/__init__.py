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
from mg_tensor import ops as _ops  # noqa: E402
from mg_tensor.autodiff import backprop, grad  # noqa: E402
from mg_tensor.function import CompiledFunction, compute_graph  # noqa: E402
from mg_tensor.grad_mode import is_grad_enabled, no_grad  # noqa: E402
from mg_tensor.ops import *  # noqa: E402, F403  (the op library, named by its __all__)
from mg_tensor.parallel import get_num_threads, set_num_threads  # noqa: E402
from mg_tensor.random import (  # noqa: E402
    bernoulli,
    bernoulli_like,
    get_rng_state,
    manual_seed,
    normal,
    normal_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    set_rng_state,
    uniform,
    uniform_like,
)
from mg_tensor.tensor import Tensor, TracingWarning, as_array, realize  # noqa: E402

__all__ = [
    "CompiledFunction",
    "Graph",
    "Tensor",
    "TracingWarning",
    "as_array",
    "backprop",
    "bernoulli",
    "bernoulli_like",
    "compute_graph",
    "get_default_graph",
    "get_num_threads",
    "get_rng_state",
    "grad",
    "gradients",
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
    "set_num_threads",
    "set_rng_state",
    "uniform",
    "uniform_like",
]
__all__ += _ops.__all__  # the op library names itself once
