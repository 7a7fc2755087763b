"""Nonnegative least-squares steps shared by nonnegative CP and nonnegative Tucker.

Both solve, for one block of unknowns at a time, ``min_{A >= 0} ½||X - A Bᵀ||²`` given only the
normal-equation data ``M = X B`` and ``Γ = BᵀB`` (real, symmetric positive semidefinite):

* :func:`hals` — hierarchical ALS (Cichocki & Phan, IEICE Trans. 2009): exact minimisation over
  one column at a time, ``a_r ← max(0, a_r + (m_r - A γ_r) / γ_rr)``, repeated ``inner`` times
  (Gillis & Glineur, Neural Computation 2012: a few inner sweeps per formed ``M``, ``Γ`` are
  nearly free because forming ``M`` dominates). Columns of a zero ``γ_rr`` stay as they are.
* :func:`fista_core` — a Tucker core ``G >= 0`` minimising ``½||x - G ×_0 A_0 ⋯ ×_{N-1} A_{N-1}||²``
  by accelerated projected gradient (FISTA; Beck & Teboulle, SIAM J. Imaging Sci. 2009) with
  gradient ``G ×_k Γ_k - P`` (``Γ_k = A_kᵀA_k``, ``P = x ×_k A_kᵀ``) and step ``1/L``,
  ``L = Π_k λ_max(Γ_k)``.

Neither reads anything back to the host: the loops have fixed lengths, so on a GPU they queue
kernels only.
"""

from __future__ import annotations

import math
from typing import Any

from .. import backend
from . import _common as cm

INNER_MAX = 10  # most HALS inner sweeps per formed (M, Γ)


def larger_part(u: Any) -> Any:
    """Each column of ``u`` replaced by its positive or its negative part, whichever has the
    larger norm, scaled to unit norm: a nonnegative start from singular vectors (the
    one-sided half of NNDSVD; Boutsidis & Gallopoulos, Pattern Recognition 2008). A leading
    singular vector of nonnegative data is nonnegative up to sign (Perron–Frobenius) and is
    kept whole."""
    xp = backend.namespace(u)
    pos, neg = xp.clip(u, min=0.0), xp.clip(-u, min=0.0)
    npos = xp.linalg.vector_norm(pos, axis=0)
    nneg = xp.linalg.vector_norm(neg, axis=0)
    part = xp.where((npos >= nneg)[None, :], pos, neg)
    norm = xp.where(npos >= nneg, npos, nneg)
    return part / xp.where(norm > 0, norm, xp.ones_like(norm))[None, :]


def inner_sweeps(rows: int, rank: int, formation_cost: float) -> int:
    """HALS inner sweeps worth doing when forming ``M`` and ``Γ`` cost ``formation_cost``
    flops: ``1 + ⌊½ · formation_cost / (rows·rank² + rank²)⌋`` (Gillis & Glineur's rule with
    α = ½), at most :data:`INNER_MAX`."""
    per_sweep = (rows + 1) * rank * rank
    return max(1, min(INNER_MAX, 1 + int(0.5 * formation_cost / per_sweep)))


def hals(a: Any, m: Any, gamma: Any, inner: int) -> Any:
    """``A >= 0`` improving ``½ tr(A Γ Aᵀ) - tr(Aᵀ M)`` by ``inner`` HALS sweeps from ``a``.

    ``a`` and ``m`` are (I, R), ``gamma`` (R, R); returns a new (I, R) array (``a`` untouched).
    """
    xp = backend.namespace(a, m, gamma)
    maximum, zero = _projection(a)
    rank = int(a.shape[1])
    # Aᵀ and Mᵀ in row-major order, so that a column of A is one contiguous row; the flat
    # reshape of the fresh copy makes it row-major on every backend
    at = xp.reshape(xp.reshape(xp.asarray(a.T, copy=True), (-1,)), (rank, -1))
    mt = xp.reshape(xp.reshape(m.T, (-1,)), (rank, -1))
    d = xp.linalg.diagonal(gamma)
    d = xp.where(d > 0, d, xp.ones_like(d))  # γ_rr = 0 ⇒ γ_r = 0 and m_r = 0: no change
    for _ in range(inner):
        for r in range(rank):
            step = (mt[r] - gamma[r] @ at) / d[r]
            at[r] = maximum(at[r] + step, zero)
    return at.T


def hals_rows(a: Any, b: Any, g: Any, inner: int) -> Any:
    """:func:`hals` with a Gram matrix per row: row ``i`` of ``A >= 0`` improves
    ``½ a_iᵀ G_i a_i - b_iᵀ a_i`` (``a``, ``b`` (I, R), ``g`` (I, R, R)), the columns updated
    for all rows at once. Rows whose ``G_i[r, r]`` is 0 keep that entry."""
    xp = backend.namespace(a, b, g)
    maximum, zero = _projection(a)
    rank = int(a.shape[1])
    at = xp.reshape(xp.reshape(xp.asarray(a.T, copy=True), (-1,)), (rank, -1))
    bt = b.T
    d = xp.linalg.diagonal(g)  # (I, R)
    d = xp.where(d > 0, d, xp.ones_like(d))
    for _ in range(inner):
        for r in range(rank):
            step = (bt[r] - xp.sum(g[:, r, :] * at.T, axis=1)) / d[:, r]
            at[r] = maximum(at[r] + step, zero)
    return at.T


def fista_core(p: Any, grams: list[Any], core: Any, steps: int) -> Any:
    """``steps`` FISTA iterations for the nonnegative Tucker core (module docstring) from
    ``core``; ``p = x ×_k A_kᵀ``, ``grams[k] = A_kᵀA_k``."""
    xp = backend.namespace(p, core)
    maximum, zero = _projection(p)
    lip = None
    for g in grams:
        top = xp.linalg.eigvalsh(g)[-1]
        lip = top if lip is None else lip * top
    lip = xp.where(lip > 0, lip, xp.ones_like(lip))
    y, t = core, 1.0
    for _ in range(steps):
        grad = cm.mode_products(y, grams)
        new = maximum(y - (grad - p) / lip, zero)
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        y = new + ((t - 1.0) / t_next) * (new - core)
        core, t = new, t_next
    return core


def _projection(like: Any) -> tuple[Any, Any]:
    """The library's own elementwise ``maximum`` and a 0-d zero on ``like``'s device: the
    projection onto ``>= 0`` runs once per column in the HALS loops, where the array-API
    wrappers' ``clip`` costs ten times the arithmetic on small arrays."""
    xp = backend.namespace(like)
    zero = xp.zeros((), dtype=like.dtype, **backend.device_kwargs(like))
    return backend.native(backend.backend_name(like)).maximum, zero
