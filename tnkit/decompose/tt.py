"""TT-SVD: a dense tensor to a tensor train with a guaranteed relative error.

Oseledets (SIAM J. Sci. Comput. 2011), Alg. 1: sweep left to right; at bond k reshape the
remainder to ``C ∈ K^{(r_{k-1} n_k) × (n_{k+1} ⋯ n_{N-1})}``, keep its leading singular
subspace ``U``, and continue with ``Uᴴ C``. Truncating each bond with error
``δ = tol · ||x||_F / sqrt(N-1)`` gives ``||x - TT||_F ≤ tol · ||x||_F``.

While ``C`` is wide (the usual case for large tensors) the singular subspace comes from the
eigen-decomposition of the small Gram matrix ``C Cᴴ`` (``_common.left_subspace``): ``C`` is a
free reshape of the input and ``Uᴴ C`` is smaller than ``C``, so peak memory stays near the
input size. When the kept
singular values are too small for Gram accuracy the step falls back to LAPACK.

With a ``mask`` (tensor completion) the TT is fitted to the observed entries only, by ALS:
each sweep solves every core's exact per-slice masked normal equations
(:func:`tnkit.fit_network`), after a QR sweep that makes cores ``0 .. N-2`` left-orthonormal
(a gauge change: the TT is unchanged, the slice systems stay well conditioned). The start is
the TT-SVD of the data with its missing entries set to the mean of the observed ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend, checks, linalg
from ..formats.tt import TT
from ..sparse import SparseTensor, check_for_fit
from . import _common as cm
from . import tr_sparse, tt_sparse
from .network import MaskedSweep


def tt(
    x: Any,
    rank: int | list[int] | None = None,
    tol: float | None = None,
    *,
    mask: Any = None,
    max_iter: int = 100,
    improvement_tol: float = 1e-10,
    seed: int = 0,
    restarts: int = 1,
    progress: bool | Callable[[int, float], Any] = False,
) -> TT:
    """TT-SVD of ``x`` with bond ranks ``<= rank`` and/or relative error ``<= tol``; with
    ``mask``, TT completion by ALS on the observed entries (module docstring).

    Parameters
    ----------
    x : N-way array (N >= 2; numpy, torch or cupy; float or complex), or a
        :class:`tnkit.sparse.SparseTensor` with missing entries unlisted: TT completion from
        the listed entries only, rank-adaptive from a random start
        (:mod:`tnkit.decompose.tt_sparse`; needs ``rank``).
    rank : one cap for every bond, or a list of the N-1 bond ranks. Each bond k is bounded by
        ``min(n_0⋯n_k, n_{k+1}⋯n_{N-1})`` and a larger request raises ``ValueError``.
    tol : relative Frobenius error target in (0, 1). With ``rank`` too, both caps apply (then
        the error may exceed ``tol``). With a mask: ALS stops once the relative error on the
        observed entries, ``||W (x - TT)|| / ||W x||``, is at most ``tol``.
    mask : boolean/0-1 array of ``x``'s shape, True where ``x`` is observed (``x`` may hold NaN
        elsewhere); needs ``rank``.
    max_iter, improvement_tol : with a mask, at most ``max_iter`` ALS sweeps, stopping when a
        sweep lowers the observed error by less than ``improvement_tol``.
    seed : seed of the random start of sparse completion.
    restarts : sparse completion only: at most this many random starts (seeds ``seed``,
        ``seed + 1``, ...), stopping at the first whose observed error reaches ``tol``; the
        lowest-error fit is returned (``options["starts"]``: how many ran). A start settles in
        a local minimum now and then at low sampling (2 of 24 at 5 % of an ``8^6`` tensor),
        so ``restarts=3`` with a ``tol`` is worth its cost there.
    progress : with a mask, ``True`` for a progress bar or a callable ``(sweep, error)``.

    Returns
    -------
    TT with ``options = {"rank", "tol", "error"}`` where ``error`` is the bound
    ``sqrt(sum of squared discarded singular values) / ||x||`` (exact for TT-SVD).
    The zero tensor gives a rank-1 TT of zeros. With a mask: ``history`` (the observed
    relative error after each sweep) and ``options`` with ``masked``, ``observed`` (the
    observed fraction), ``max_iter`` and ``interrupted`` (Ctrl-C returns the TT of the last
    finished sweep).

    Examples
    --------
    >>> import numpy as np, tnkit as tk
    >>> rng = np.random.default_rng(0)
    >>> x = tk.TT([rng.standard_normal(s) for s in [(1, 6, 2), (2, 6, 3), (3, 6, 2), (2, 6, 1)]])
    >>> x = x.to_tensor()
    >>> seen = rng.random(x.shape) < 0.4
    >>> fit = tk.tt(np.where(seen, x, np.nan), rank=[2, 3, 2], mask=seen, tol=1e-10)
    >>> bool(np.linalg.norm(fit.to_tensor() - x) < 1e-6 * np.linalg.norm(x))
    True
    """
    sparse = isinstance(x, SparseTensor)
    if sparse:
        check_for_fit(x, mask)
        tr_sparse.check_options(x, rank, "tt")
        w = None
    else:
        x, w = cm.check_masked_data(x, mask, "x", min_ndim=2)
    if rank is None and tol is None:
        raise ValueError("tt needs rank= or tol=")
    cm.check_tol(tol)
    shape = tuple(int(d) for d in x.shape)
    n = len(shape)
    bounds = cm.tt_bond_bounds(shape)
    caps = cm.check_ranks(rank, bounds, "bond ranks") if rank is not None else bounds
    cm.check_positive_int(max_iter, "max_iter")
    checks.check_real(improvement_tol, "improvement_tol", low=0)
    seed = checks.check_seed(seed)
    checks.check_progress(progress)
    if sparse:
        restarts = checks.check_int(restarts, "restarts")
        return tt_sparse.complete(x, caps, tol, max_iter, improvement_tol, seed, progress, restarts)
    if restarts != 1:
        raise ValueError("restarts applies to the completion of a SparseTensor only")
    if w is not None:
        if rank is None:
            raise ValueError("tt with mask= needs rank= (the bond ranks to fit)")
        return _completion(x, w, caps, tol, max_iter, improvement_tol, progress)
    xp = backend.namespace(x)
    norm = cm.fro(x)
    options = {"rank": rank, "tol": tol}
    if norm == 0.0:
        return TT([backend.asarray_like(np.zeros((1, d, 1)), x) for d in shape], options=options)
    max_err = None if tol is None else tol * norm / math.sqrt(n - 1)
    cores, dropped = [], 0.0
    c, r_prev = x, 1
    for k in range(n - 1):
        m = r_prev * shape[k]
        mat = xp.reshape(c, (m, -1))
        if max_err is None and caps[k] >= m:  # nothing to truncate: identity core, no pass
            u, err, c = backend.asarray_like(np.eye(m), x), 0.0, mat
        elif m > mat.shape[1]:  # tall: the small Gram is on the right, so a thin SVD is cheap
            u, sv, vh, err = linalg.truncated_svd(
                mat, rank=caps[k], max_error=max_err, method="lapack"
            )
            c = sv[:, None] * vh
        else:
            u, err = cm.left_subspace(mat, 0, caps[k], max_err)
            c = cm.ct(u) @ mat
        dropped += err**2
        cores.append(xp.reshape(u, (r_prev, shape[k], u.shape[1])))
        r_prev = int(u.shape[1])
    cores.append(xp.reshape(c, (r_prev, shape[-1], 1)))
    options["error"] = math.sqrt(dropped) / norm
    return TT(cores, options=options)


def _completion(
    x: Any,
    w: Any,
    caps: list[int],
    tol: float | None,
    max_iter: int,
    improvement_tol: float,
    progress: bool | Callable[[int, float], Any],
) -> TT:
    """Masked ALS from the TT-SVD of the mean-filled data (module docstring)."""
    xp = backend.namespace(x)
    options = {"rank": caps, "tol": tol, "max_iter": max_iter, "masked": True}
    options["observed"] = float(xp.sum(w)) / math.prod(int(d) for d in x.shape)
    start = tt(cm.mean_filled(x, w), rank=caps).cores
    if float(xp.linalg.vector_norm(w * x)) == 0.0:
        return TT([g * 0 for g in start], history=[0.0], options=options)

    sweep = MaskedSweep(x, w, lambda cores: TT(cores).orthogonalize(len(cores) - 1))
    fit = cm.Sweeps(sweep, max_iter, improvement_tol, tol, progress, "TT completion")
    try:
        cores, history = fit.run(start)
    finally:
        fit.bar.close()
    options["interrupted"] = fit.interrupted
    return TT(cores if history else start, history=history, options=options)
