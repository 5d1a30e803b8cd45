"""mg-nn: Macrograd's models, layers, initialisers and losses.

>>> import numpy as np
>>> import mg_nn
>>> from mg_nn import F, Linear, Model
>>> class Classifier(Model):
...     def __init__(self):
...         super().__init__()
...         self.hidden = Linear(4, 16)
...         self.out = Linear(16, 3)
...     def forward(self, x):
...         return self.out(self.hidden(x).relu())
>>> _ = mg_nn.manual_seed(0)
>>> model = Classifier()
>>> loss = F.cross_entropy(model(np.ones((2, 4), np.float32)), np.array([0, 2]))
>>> loss.backprop()
>>> [(name, p.grad.shape) for name, p in model.named_parameters()][:2]
[('hidden.weight', (16, 4)), ('hidden.bias', (16,))]
"""

import os as _os

from mg_graph import register_internal as _register_internal

_register_internal(_os.path.dirname(__file__))

from mg_nn import functional, init  # noqa: E402
from mg_nn import functional as F  # noqa: E402
from mg_nn.activation import ELU, GELU, Identity, LeakyReLU, SiLU, Softplus  # noqa: E402
from mg_nn.attention import MultiheadAttention  # noqa: E402
from mg_nn.containers import ModuleDict, ModuleList  # noqa: E402
from mg_nn.init import manual_seed  # noqa: E402
from mg_nn.layers import (  # noqa: E402
    AvgPool2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from mg_nn.losses import (  # noqa: E402
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from mg_nn.model import IncompatibleKeys, Model, StateDictError  # noqa: E402
from mg_nn.norms import BatchNorm1d, BatchNorm2d, GroupNorm, RMSNorm  # noqa: E402
from mg_nn.recurrent import GRU, LSTM, GRUCell, LSTMCell  # noqa: E402

__all__ = [
    "ELU",
    "GELU",
    "GRU",
    "LSTM",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "F",
    "Flatten",
    "GRUCell",
    "GroupNorm",
    "HuberLoss",
    "Identity",
    "IncompatibleKeys",
    "KLDivLoss",
    "L1Loss",
    "LSTMCell",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Model",
    "ModuleDict",
    "ModuleList",
    "MultiheadAttention",
    "NLLLoss",
    "RMSNorm",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Softplus",
    "StateDictError",
    "Tanh",
    "functional",
    "init",
    "manual_seed",
]
