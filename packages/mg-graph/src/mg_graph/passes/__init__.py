"""The generic rewrite stages, which know no maths: constant folding, common
subexpressions and dead code. `GENERIC_PASSES` is what `Graph.freeze` runs by default;
mg-tensor puts its numerical-stability stage in front of dead-code elimination.

>>> [stage.name for stage in GENERIC_PASSES]
['fold_constants', 'cse', 'dce']
"""

from mg_graph.passes.cse import CSE, merge_duplicate
from mg_graph.passes.dce import DCE
from mg_graph.passes.fold import FOLD, fold_constant

GENERIC_PASSES = (FOLD, CSE, DCE)

__all__ = ["CSE", "DCE", "FOLD", "GENERIC_PASSES", "fold_constant", "merge_duplicate"]
