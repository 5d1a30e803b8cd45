"""Tests here run under ``mpiexec -n 2`` (`.ci/run`) and skip in a world of one; a
launched run that did not get two ranks fails instead of skipping everything."""

import mg_dist as dist

if dist.launched() and dist.world_size() != 2:
    raise RuntimeError(f"tests/mpi need mpiexec -n 2 with the MPI runtime, got {dist.world_size()}")
