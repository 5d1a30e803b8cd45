"""Dead-code elimination: drop nodes no output depends on.

>>> import numpy as np
>>> from mg_graph import Graph
>>> g = Graph(); a = g.leaf(np.ones(1)); b = g.leaf(np.ones(1))
>>> g.freeze([a], passes=[DCE]); len(g)
1
"""

from __future__ import annotations

from mg_graph.rewrite import Stage

DCE = Stage("dce", prune=True)
