"""mg-optim: optimisers over flat parameter storage, learning-rate schedules and
gradient clipping.

>>> import numpy as np
>>> from mg_tensor import Tensor
>>> from mg_optim import SGD, LinearLR
>>> w = Tensor([1.0, -2.0], requires_grad=True)
>>> opt = SGD([w], lr=0.1, momentum=0.9)
>>> sched = LinearLR(opt, total_iters=10)
>>> for _ in range(10):
...     (w * w).sum().backprop()
...     opt.step()
...     sched.step()
>>> float(np.abs(w.data).max()) < 1.0, opt.lr
(True, 0.0)
"""

from mg_optim.adam import Adam, AdamW
from mg_optim.clip import clip_grad_norm
from mg_optim.optimizer import Optimizer, Segment
from mg_optim.rmsprop import RMSprop
from mg_optim.schedules import (
    CosineAnnealingLR,
    LinearLR,
    LinearWarmup,
    LRScheduler,
    SequentialLR,
    StepLR,
)
from mg_optim.sgd import SGD, SGD_Momentum

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "LRScheduler",
    "LinearLR",
    "LinearWarmup",
    "Optimizer",
    "RMSprop",
    "SGD_Momentum",
    "Segment",
    "SequentialLR",
    "StepLR",
    "clip_grad_norm",
]
