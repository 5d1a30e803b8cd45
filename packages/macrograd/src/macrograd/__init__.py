"""Macrograd: deep learning with lazy execution over explicit computational graphs.

Every tensor operation adds a node to a graph; nothing is computed until you ask
(``realize()``, ``.data``, ``backprop()``). The graph is a first-class object you can
freeze, optimise, replay, inspect and draw.

>>> from macrograd import Tensor
>>> t = Tensor([[1, 2], [3, 4]])
>>> (t * t).sum().data
array(30., dtype=float32)
>>> import macrograd as mg
>>> mg.cat([t, mg.sin(t)], dim=0).shape
(4, 2)
"""

import mg_tensor as _mg_tensor
from mg_graph import AnomalyError, Node, Role, detect_anomaly
from mg_tensor import *  # noqa: F403  (Tensor, the op library, autodiff, random ops...)

__all__ = ["AnomalyError", "Node", "Role", "detect_anomaly"]
__all__ += _mg_tensor.__all__  # one list of names: mg-tensor's, kept there
__version__ = "0.1.0"
