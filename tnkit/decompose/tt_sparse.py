"""TT completion from the listed entries of a :class:`tnkit.sparse.SparseTensor`.

A TT is a tensor ring whose closing bond has rank 1, so TT completion is the TR completion of
:mod:`tnkit.decompose.tr_sparse` with that bond held at 1: per-slice normal equations over the
listed entries (the ALS of Grasedyck, Kluge & Krämer, "Variants of alternating least squares
tensor completion in the tensor train format", SIAM J. Sci. Comput. 37, 2015), the chains of
every entry through the other cores kept as ``N · nnz · r`` numbers, bond ranks grown from 1,
and ``restarts`` random starts until one reaches ``tol``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..formats.tt import TT
from ..sparse import SparseTensor
from . import tr_sparse


def complete(
    x: SparseTensor,
    caps: list[int],
    tol: float | None,
    max_iter: int,
    improvement_tol: float,
    seed: int,
    progress: bool | Callable[[int, float], Any],
    restarts: int = 1,
) -> TT:
    """Rank-adaptive TT completion up to bond ranks ``caps`` (module docstring)."""
    ring = tr_sparse.complete(
        x, (*caps, 1), tol, max_iter, improvement_tol, seed, progress, restarts, "TT completion"
    )
    return TT(ring.cores, history=ring.history, options={**ring.options, "rank": list(caps)})
