"""Optimisers and learning-rate schedules (mg-optim).

>>> from macrograd.optim import SGD
>>> SGD.__name__
'SGD'
"""

from mg_optim import *  # noqa: F403
from mg_optim import __all__ as __all__
