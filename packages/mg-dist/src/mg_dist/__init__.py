"""mg-dist: data-parallel training across processes and machines, on MPI.

Run the same script on every process with ``mpiexec -n N python train.py``; each
process (rank) trains on its own shard of the data and the gradients are averaged
over the ranks before every optimiser step, so all ranks hold the same weights.

>>> import mg_dist as dist
>>> dist.init()
>>> dist.rank(), dist.world_size()  # without mpiexec: a world of one process
(0, 1)
"""

from mg_dist.optimizer import DistributedOptimizer
from mg_dist.params import broadcast_parameters, check_same_parameters
from mg_dist.runtime import (
    CollectiveError,
    all_sum,
    barrier,
    init,
    launched,
    rank,
    world_size,
)

__all__ = [
    "CollectiveError",
    "DistributedOptimizer",
    "all_sum",
    "barrier",
    "broadcast_parameters",
    "check_same_parameters",
    "init",
    "launched",
    "rank",
    "world_size",
]
__version__ = "0.1.0"
