"""The algorithms that run on sparse graphs and produce
:class:`~openclrs.sparse.SparseTrace` directly, by name.

Each takes a :class:`~openclrs.sparse.Graph`, the algorithm's other
arguments (a source node; fast_mis's random stream) and ``hints=True``.
"""

from __future__ import annotations

from . import salsa, sparse_depth_first, sparse_graphs

SPARSE_ALGORITHMS = {name: getattr(module, name)
                     for module in (sparse_graphs, sparse_depth_first, salsa) for name in module.__all__}
