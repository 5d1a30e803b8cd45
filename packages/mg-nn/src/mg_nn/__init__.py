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
from mg_nn.init import manual_seed  # noqa: E402
from mg_nn.layers import (  # noqa: E402
    AdaptiveAvgPool2d,
    AvgPool2d,
    Conv2d,
    ConvTranspose2d,
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
from mg_nn.model import IncompatibleKeys, Model, StateDictError  # noqa: E402

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "Conv2d",
    "ConvTranspose2d",
    "Dropout",
    "Embedding",
    "F",
    "Flatten",
    "IncompatibleKeys",
    "LayerNorm",
    "Linear",
    "LogSoftmax",
    "MaxPool2d",
    "Model",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "StateDictError",
    "Tanh",
    "functional",
    "init",
    "manual_seed",
]
