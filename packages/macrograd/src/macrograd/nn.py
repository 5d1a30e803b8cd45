"""Layers, models, initialisers and losses (mg-nn).

>>> from macrograd.nn import Linear
>>> Linear(3, 2).weight.shape
(2, 3)
"""

from mg_nn import *  # noqa: F403
from mg_nn import __all__ as __all__
