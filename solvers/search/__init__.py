"""Tensor-network structure search: greedy edge growing, TnALE and TNLS.

>>> from solvers import search
>>> res = search.greedy(x, target_rse=1e-5)          # doctest: +SKIP
>>> res.network, res.rse, res.n_params, res.n_evaluations, res.history  # doctest: +SKIP

All searches share one calling convention (``lam``/``target_rse``, ``budget``, ``mask``,
``workers``/``scheduler``, ``checkpoint``/``resume``, ``seed``, ``progress``); see
``docs/structure_search.md``.
"""

from .greedy import greedy
from .objective import FitOptions, Objective
from .result import SearchResult
from .structure import Structure
from .tnale import tnale
from .tnls import tnls

METHODS = ("greedy", "tnale", "tnls")

__all__ = [
    "METHODS",
    "FitOptions",
    "Objective",
    "SearchResult",
    "Structure",
    "greedy",
    "tnale",
    "tnls",
]
