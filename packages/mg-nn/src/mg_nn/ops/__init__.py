"""The graph ops behind mg-nn's layers and losses, one file per family (as in
``mg_tensor.ops``): `linear`, `conv`, `pool`, `dropout`, `losses`, `batch_norm`;
`windows` holds what convolution and pooling share.

Every op is a `mg_tensor.oplib.TensorOp`: ``infer`` (shape rule), ``forward`` (kernel,
writing into the executor's ``out`` buffer) and ``vjp`` (gradient rule written in Tensor
ops, so that gradients are graph nodes too) side by side.

>>> import numpy as np
>>> from mg_tensor.oplib import Tensor, apply
>>> apply(MaxPool2d((2, 2), (2, 2)), Tensor(np.arange(16.0).reshape(1, 1, 4, 4))).shape
(1, 1, 2, 2)
"""

from mg_nn.ops.batch_norm import RunningStats
from mg_nn.ops.conv import Conv2d, Conv2dInputGrad, Conv2dWeightGrad
from mg_nn.ops.dropout import DropoutMask
from mg_nn.ops.linear import Linear
from mg_nn.ops.losses import ClampedLog, CrossEntropy, CrossEntropyGrad
from mg_nn.ops.pool import AvgPool2d, AvgPool2dGrad, MaxPool2d, MaxPool2dGrad, MaxPool2dPick

__all__ = [
    "AvgPool2d",
    "AvgPool2dGrad",
    "ClampedLog",
    "Conv2d",
    "Conv2dInputGrad",
    "Conv2dWeightGrad",
    "CrossEntropy",
    "CrossEntropyGrad",
    "DropoutMask",
    "Linear",
    "MaxPool2d",
    "MaxPool2dGrad",
    "MaxPool2dPick",
    "RunningStats",
]
