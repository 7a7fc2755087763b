"""Tucker decomposition: ST-HOSVD with an error guarantee, HOOI refinement, rank budgets.

Sequentially truncated HOSVD (Vannieuwenhoven, Vandebril & Meerbergen, SIAM J. Sci. Comput.
2012): for k = 0..N-1 take the leading left singular subspace ``U_k`` of the current core's
mode-k unfolding and replace the core by ``core ×_k U_kᴴ``. Truncating mode k with error
``δ_k = tol · ||x|| / sqrt(N)`` gives ``||x - core ×_0 U_0 ⋯||² = Σ_k δ_k² ≤ tol² ||x||²``.

HOOI (De Lathauwer, De Moor & Vandewalle, SIAM J. Matrix Anal. Appl. 2000) alternates
``U_k ← leading r_k left singular vectors of (x ×_{j≠k} U_jᴴ)_(k)``; the error
``sqrt(||x||² - ||core||²)`` never increases. Each update here is one block power step
warm-started from the previous ``U_k`` (a randomized range finder on the first sweep, from a
random start), and the products ``x ×_{j<k} U_jᴴ`` are shared between the updates of a sweep,
so a sweep costs two full-size contractions of ``x`` whatever N.

``core_budget`` picks the multilinear rank for a parameter budget from the higher-order
singular values σ_{k,i} (Ghadiri, Fahrbach, Fu & Mirrokni, "Approximately optimal core shapes
for tensor decompositions", ICML 2023): maximise ``Σ_k Σ_{i<r_k} σ_{k,i}²`` subject to
``Π r_k + Σ n_k r_k ≤ budget``. Solved exactly by enumeration when the grid of ranks is small,
else greedily by captured energy per added parameter.

``nonnegative=True`` fits ``core >= 0`` and ``factors >= 0`` instead
(:mod:`tnkit.decompose.tucker_nonneg`: HALS factor updates, FISTA core updates, from the
nonnegative parts of the ST-HOSVD factors).

A :class:`tnkit.sparse.SparseTensor` is fitted from its listed entries: HOOI with zeros
unlisted (:mod:`tnkit.decompose.tucker_sparse`), completion by ALS with missing entries
unlisted (:mod:`tnkit.decompose.tucker_completion`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend, checks, linalg
from ..formats.tucker import Tucker
from ..sparse import SparseTensor, check_for_fit
from . import _common as cm
from . import tucker_completion, tucker_nonneg, tucker_sparse

METHODS = ("hooi", "sthosvd")
_ENUMERATION_LIMIT = 2_000_000


def tucker(
    x: Any,
    rank: int | list[int] | None = None,
    tol: float | None = None,
    *,
    method: str = "hooi",
    max_iter: int | None = None,
    stop_tol: float | None = 1e-8,
    core_budget: int | None = None,
    mask: Any = None,
    nonnegative: bool = False,
    seed: int = 0,
    progress: bool | Callable[[int, float], Any] = False,
) -> Tucker:
    """Tucker decomposition of ``x``.

    Parameters
    ----------
    x : N-way array (N >= 2; numpy, torch or cupy; float or complex), or a
        :class:`tnkit.sparse.SparseTensor` (needs ``rank=`` and ``method="hooi"``): with zeros
        unlisted, HOOI from its listed entries (:mod:`tnkit.decompose.tucker_sparse`, random
        start); with missing entries unlisted, Tucker completion by ALS from the listed
        entries only (:mod:`tnkit.decompose.tucker_completion`, spectral start; converging to
        an exact low-rank tensor takes tens to a hundred sweeps).
    rank : multilinear rank, one int per mode (or one int for all); ``rank[k] <= n_k``.
    tol : relative error target in (0, 1): ST-HOSVD picks the ranks so that the error is
        ``<= tol`` (HOOI then only lowers it).
    method : ``"hooi"`` (ST-HOSVD or random start, then HOOI sweeps) or ``"sthosvd"``.
    max_iter : maximum number of HOOI (or completion ALS) sweeps; default 20, and 300 for
        the completion of a SparseTensor.
    stop_tol : stop when a sweep lowers the relative error by less than this (None: always
        run ``max_iter`` sweeps).
    core_budget : choose the rank so that ``n_params <= core_budget`` (see module docstring).
    mask : boolean array of ``x``'s shape, True where ``x`` is observed; missing entries are
        imputed by EM (each sweep refits the data filled in with the current model); ``x``
        may hold NaN where unobserved.
    nonnegative : constrain the core and the factors to be ``>= 0`` (real ``x``; needs
        ``rank=`` or ``core_budget=`` and ``method="hooi"``, whose sweeps become the
        nonnegative HALS sweeps of :mod:`tnkit.decompose.tucker_nonneg`). The factors then
        have unit-norm columns but are not orthonormal.
    seed : seed of the random start (of the spectral start's random parts for completion).
    progress : True for a progress bar, or a callable ``progress(sweep, rel_error)``.

    Returns
    -------
    Tucker with ``history`` (relative error per sweep, on the observed entries with a mask or
    missing entries unlisted) and ``options``. Ctrl-C during the sweeps returns the model of
    the last finished sweep (completion sets ``options["interrupted"]``).
    """
    sparse = isinstance(x, SparseTensor)
    if sparse:
        check_for_fit(x, mask)
        others = {"tol": tol, "core_budget": core_budget}
        tucker_sparse.check_options(x, method, others, nonnegative, rank)
    else:
        x, mask = cm.check_masked_data(x, mask, "x", min_ndim=2)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    cm.check_tol(tol)
    completion = sparse and x.unlisted == "missing"
    max_iter = cm.default_sweeps(max_iter, 20, completion)
    stop_tol = checks.check_real(stop_tol, "stop_tol", optional=True)
    seed = checks.check_seed(seed)
    shape = tuple(int(d) for d in x.shape)
    given = [a for a in (rank, tol, core_budget) if a is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of rank=, tol= or core_budget=")
    if mask is not None and method != "hooi":
        raise ValueError("mask= needs method='hooi' (missing entries are imputed between sweeps)")
    if not isinstance(nonnegative, (bool, np.bool_)):
        raise TypeError(f"nonnegative must be True or False, got {nonnegative!r}")
    if nonnegative:
        _check_nonnegative_options(x, method, tol)
    options = {"method": method, "rank": rank, "tol": tol, "core_budget": core_budget}
    options.update(max_iter=max_iter, stop_tol=stop_tol, seed=seed, masked=mask is not None)
    options["nonnegative"] = bool(nonnegative)
    history: list[float] = []
    if sparse:
        ranks = cm.check_ranks(rank, list(shape), "mode ranks")
        options.update(nnz=x.nnz, unlisted=x.unlisted)
        if x.unlisted == "missing":
            return _complete(x, ranks, max_iter, stop_tol, seed, progress, options)
        core, factors = tucker_sparse.hooi(
            x, _random_start(shape, x.values, ranks, seed), max_iter, stop_tol, progress, history
        )
        return Tucker(core, factors, history=history, options=options)
    data = x if mask is None else mask * x
    if core_budget is not None:
        ranks = core_shape(data, core_budget)
        options["rank"] = ranks
    elif rank is not None:
        ranks = cm.check_ranks(rank, list(shape), "mode ranks")
    else:
        ranks = None
    if cm.fro(x) == 0.0:
        ranks = ranks or [1] * len(shape)
        return _zero(x, ranks, options)
    if nonnegative:
        core, factors = tucker_nonneg.nonnegative_start(data, sthosvd(data, ranks, None)[1])
        core, factors = tucker_nonneg.hals_sweeps(
            x, mask, core, factors, max_iter, stop_tol, progress, history
        )
        return Tucker(core, factors, history=history, options=options)
    if method == "sthosvd" or tol is not None:
        core, factors = sthosvd(data, ranks or list(shape), tol)
    else:
        core, factors = None, _random_start(shape, x, ranks, seed)
    if method == "hooi":
        core, factors = _hooi(x, mask, factors, core, max_iter, stop_tol, progress, history)
    return Tucker(core, factors, history=history, options=options)


def _complete(
    x: SparseTensor,
    ranks: list[int],
    max_iter: int,
    stop_tol: float | None,
    seed: int,
    progress: Any,
    options: dict[str, Any],
) -> Tucker:
    """Tucker completion from the listed entries (:mod:`tnkit.decompose.tucker_completion`)."""
    core, factors, history, interrupted = tucker_completion.complete(
        x, ranks, max_iter, stop_tol, seed, progress
    )
    options.update(rank=ranks, masked=True, observed=x.density, interrupted=interrupted)
    return Tucker(core, factors, history=history, options=options)


def _check_nonnegative_options(x: Any, method: str, tol: float | None) -> None:
    if backend.is_complex(x):
        raise TypeError("nonnegative=True needs real x, got a complex array")
    if method != "hooi":
        raise ValueError(
            f"nonnegative=True fits by HALS sweeps: method must be 'hooi', got {method!r}"
        )
    if tol is not None:
        raise ValueError(
            "nonnegative=True needs rank= or core_budget= (tol= sets ranks from the "
            "unconstrained ST-HOSVD, whose error bound a nonnegative fit does not keep)"
        )


def sthosvd(x: Any, caps: list[int], tol: float | None) -> tuple[Any, list[Any]]:
    """ST-HOSVD (module docstring) with mode ranks ``<= caps`` and error ``<= tol``."""
    n = x.ndim
    max_err = None if tol is None else tol * cm.fro(x) / math.sqrt(n)
    core, factors = x, []
    for k in range(n):
        u, _ = cm.left_subspace(core, k, caps[k], max_err)
        factors.append(u)
        core = cm.mode_product(core, cm.ct(u), k)
    return core, factors


def _random_start(shape: tuple[int, ...], like: Any, ranks: list[int], seed: int) -> list[Any]:
    """Orthonormal ``n_k × r_k`` factors from Gaussian matrices (``like``'s backend)."""
    rng = np.random.default_rng(seed)
    return [linalg.qr(backend.random_normal((d, r), like, rng))[0] for d, r in zip(shape, ranks)]


def _hooi(
    x: Any,
    mask: Any,
    factors: list[Any],
    core: Any,
    max_iter: int,
    stop_tol: float,
    progress: Any,
    history: list[float],
) -> tuple[Any, list[Any]]:
    """HOOI sweeps (module docstring); appends the relative error of each sweep to history."""
    if mask is None:
        data = x
    else:
        data = mask * x if core is None else cm.impute(x, mask, _expand(core, factors))
    norm2 = cm.fro(x) ** 2
    xp = backend.namespace(x)

    def sweep(data: Any, _core: Any, factors: list[Any]) -> tuple[Any, list[Any], Any]:
        core, factors = _sweep(data, factors)
        return core, factors, norm2 - xp.sum(xp.abs(core) ** 2)  # ||x||² - ||core||²

    core, factors = cm.tucker_sweeps(
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
        "HOOI",
        history,
    )
    if core is None:  # interrupted before the first sweep finished
        core = _project(data, factors)
    return core, factors


def _sweep(x: Any, factors: list[Any]) -> tuple[Any, list[Any]]:
    """One HOOI sweep; returns the new core and factors."""
    n = x.ndim
    factors = list(factors)
    prefix = x  # x ×_{j<k} U_jᴴ with the factors already updated in this sweep
    for k in range(n):
        y = prefix
        for j in range(n - 1, k, -1):
            y = cm.mode_product(y, cm.ct(factors[j]), j)
        factors[k] = _power_step(y, k, factors[k])
        prefix = cm.mode_product(prefix, cm.ct(factors[k]), k)
    return prefix, factors


def _power_step(y: Any, mode: int, u: Any) -> Any:
    """One block power step for the leading left subspace of ``Y_(mode)``: orth(Y Yᴴ u)."""
    w = cm.mode_product(y, cm.ct(u), mode)
    q, _ = linalg.qr(cm.mode_cross(y, w, mode))
    return q


def _project(x: Any, factors: list[Any]) -> Any:
    return cm.mode_products(x, [cm.ct(u) for u in factors])


def _expand(core: Any, factors: list[Any]) -> Any:
    return cm.mode_products(core, factors)


def _zero(x: Any, ranks: list[int], options: dict[str, Any]) -> Tucker:
    core = backend.asarray_like(np.zeros(ranks), x)
    factors = [backend.asarray_like(np.eye(d, r), x) for d, r in zip(x.shape, ranks)]
    return Tucker(core, factors, options=options)


# ---------------------------------------------------------------------- core budget
def core_shape(x: Any, budget: int) -> list[int]:
    """Multilinear rank with ``Π r_k + Σ n_k r_k <= budget`` maximising the captured
    higher-order singular value energy (module docstring)."""
    shape = [int(d) for d in x.shape]
    smallest = 1 + sum(shape)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < smallest:
        raise ValueError(f"core_budget must be an integer >= {smallest} (rank 1), got {budget!r}")
    gains = []
    for k in range(x.ndim):
        s, _ = cm.eigh_desc(cm.mode_gram(x, k))
        gains.append(np.cumsum(backend.to_numpy(s).astype(np.float64) ** 2))
    if math.prod(shape) <= _ENUMERATION_LIMIT:
        return _enumerate(gains, shape, budget)
    return _greedy(gains, shape, budget)


def _cost(ranks: Any, shape: list[int]) -> Any:
    return np.prod(ranks, axis=0) + sum(n * r for n, r in zip(shape, ranks))


def _enumerate(gains: list[np.ndarray], shape: list[int], budget: int) -> list[int]:
    grids = np.meshgrid(*[np.arange(1, d + 1) for d in shape], indexing="ij", sparse=False)
    ranks = [g.ravel() for g in grids]
    ok = _cost(ranks, shape) <= budget
    value = sum(gains[k][ranks[k] - 1] for k in range(len(shape)))
    best = int(np.argmax(np.where(ok, value, -np.inf)))
    return [int(r[best]) for r in ranks]


def _greedy(gains: list[np.ndarray], shape: list[int], budget: int) -> list[int]:
    ranks = [1] * len(shape)
    while True:
        base = _cost(ranks, shape)
        best, best_ratio = None, 0.0
        for k, d in enumerate(shape):
            if ranks[k] == d:
                continue
            trial = ranks.copy()
            trial[k] += 1
            extra = _cost(trial, shape) - base
            if _cost(trial, shape) > budget:
                continue
            ratio = (gains[k][ranks[k]] - gains[k][ranks[k] - 1]) / extra
            if best is None or ratio > best_ratio:
                best, best_ratio = k, ratio
        if best is None:
            return ranks
        ranks[best] += 1
