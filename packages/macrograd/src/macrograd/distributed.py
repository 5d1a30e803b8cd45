"""Data-parallel training on MPI (mg-dist): run the script with ``mpiexec -n N``.

>>> from macrograd import distributed as dist
>>> dist.world_size()  # without mpiexec
1
"""

from mg_dist import *  # noqa: F403
from mg_dist import __all__ as __all__
