"""Datasets and batching (mg-data).

>>> from macrograd.data import DataLoader
>>> import numpy as np
>>> len(DataLoader(np.arange(10), batch_size=4))
3
"""

from mg_data import *  # noqa: F403
from mg_data import __all__ as __all__
