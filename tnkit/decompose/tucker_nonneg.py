"""Nonnegative Tucker decomposition: HALS factor updates and a FISTA core update.

Minimise ``||x - G ×_0 A_0 ⋯ ×_{N-1} A_{N-1}||`` over ``G >= 0`` and ``A_k >= 0`` by block
coordinate descent (Phan & Cichocki, "Extended HALS algorithm for nonnegative Tucker
decomposition", Neurocomputing 2011, with their elementwise core update replaced by
accelerated projected gradient, which costs a few products with the small core only):

* factor ``k``: with ``Y = x ×_{j≠k} A_jᵀ`` the least-squares data are
  ``M = Y_(k) G_(k)ᵀ`` and ``Γ = W_(k) G_(k)ᵀ``, ``W = G ×_{j≠k} A_jᵀA_j``; a few HALS sweeps
  on (M, Γ) update ``A_k`` (:func:`tnkit.decompose._nonneg.hals`). The partial products
  ``x ×_{j<k} A_jᵀ`` are shared along the sweep, as in HOOI. The columns of ``A_k`` are then
  scaled to unit norm and the scale moved into ``G``.
* core: FISTA steps on ``½||x - G ×_k A_k||²`` (:func:`tnkit.decompose._nonneg.fista_core`)
  from ``P = x ×_k A_kᵀ``, which the sweep has just formed.

The error needs no pass over the data:
``||x - x̂||² = ||x||² - 2⟨P, G⟩ + ⟨G ×_k A_kᵀA_k, G⟩``.

The start keeps the larger-norm sign part of each column of the ST-HOSVD factors and fits
the core to them.
"""

from __future__ import annotations

import math
from typing import Any

from .. import backend
from . import _common as cm
from . import _nonneg

CORE_STEPS = 30  # FISTA steps on the core per sweep
START_STEPS = 100  # FISTA steps fitting the core to the starting factors


def nonnegative_start(x: Any, factors: list[Any]) -> tuple[Any, list[Any]]:
    """Nonnegative unit-column factors from ``factors`` (the larger-norm sign part of each
    column, :func:`tnkit.decompose._nonneg.larger_part`) and a core fitted to them."""
    xp = backend.namespace(x)
    factors = [_nonneg.larger_part(u) for u in factors]
    p = cm.mode_products(x, [u.T for u in factors])
    grams = [u.T @ u for u in factors]
    core = _nonneg.fista_core(p, grams, xp.zeros_like(p), START_STEPS)
    return core, factors


def hals_sweeps(
    x: Any,
    mask: Any,
    core: Any,
    factors: list[Any],
    max_iter: int,
    stop_tol: float | None,
    progress: Any,
    history: list[float],
) -> tuple[Any, list[Any]]:
    """Nonnegative Tucker sweeps (module docstring); appends the relative error (on the
    observed entries with a ``mask``) after each sweep to ``history``."""
    data = x if mask is None else cm.impute(x, mask, cm.mode_products(core, factors))
    norm2 = cm.fro(x) ** 2

    def sweep(data: Any, core: Any, factors: list[Any]) -> tuple[Any, list[Any], Any]:
        return _sweep(data, core, factors, norm2)

    return cm.tucker_sweeps(
        math.sqrt(norm2),
        x,
        mask,
        data,
        core,
        factors,
        sweep,
        max_iter,
        stop_tol,
        progress,
        "NTD-HALS",
        history,
    )


def _sweep(x: Any, core: Any, factors: list[Any], norm2: float) -> tuple[Any, list[Any], Any]:
    """One sweep: every factor, then the core (``norm2 = ||x||²``). Returns the core, the
    factors and the squared residual (a 0-d array on the data's device)."""
    xp = backend.namespace(x)
    n = x.ndim
    factors = list(factors)
    grams = [u.T @ u for u in factors]
    prefix = x  # x ×_{j<k} A_jᵀ with the factors already updated in this sweep
    for k in range(n):
        y = prefix
        for j in range(n - 1, k, -1):
            y = cm.mode_product(y, factors[j].T, j)
        w = core
        for j in range(n):
            if j != k:
                w = cm.mode_product(w, grams[j], j)
        m = cm.mode_cross(y, core, k)
        gamma = cm.mode_cross(w, core, k)
        rows, rank = (int(d) for d in factors[k].shape)
        inner = _nonneg.inner_sweeps(rows, rank, 2.0 * math.prod(y.shape) * rank)
        a, scale = _unit_columns(_nonneg.hals(factors[k], m, gamma, inner))
        factors[k], grams[k] = a, a.T @ a
        core = core * xp.reshape(scale, [-1 if j == k else 1 for j in range(n)])
        prefix = cm.mode_product(prefix, a.T, k)
    core = _nonneg.fista_core(prefix, grams, core, CORE_STEPS)
    model = cm.mode_products(core, grams)
    err2 = norm2 - 2 * xp.sum(prefix * core) + xp.sum(model * core)
    return core, factors, err2


def _unit_columns(a: Any) -> tuple[Any, Any]:
    """``a`` with unit-norm columns (zero columns kept) and the column norms."""
    xp = backend.namespace(a)
    n = xp.linalg.vector_norm(a, axis=0)
    n = xp.where(n > 0, n, xp.ones_like(n))
    return a / n[None, :], n
