"""``tr``: tensor ring decomposition of a data tensor (TR-SVD and TR-ALS).

The model (Zhao et al., "Tensor ring decomposition", arXiv:1606.05535, 2016) is

    X[i_0, ..., i_{N-1}] ~ trace( G_0[:, i_0, :] ... G_{N-1}[:, i_{N-1}, :] ),

cores ``G_k`` of shape ``(r_{k-1}, n_k, r_k)``; ``rank[k]`` joins core ``k`` and core ``k+1``.

* ``method="svd"``: the Kronecker-split TR-SVD of :mod:`tnkit.decompose.tr_svd` — exact for
  exact rings at their ranks, near the noise floor for noisy ones; with ``tol`` the error bound
  ``||X - ring|| <= tol ||X||`` is guaranteed.
* ``method="als"`` (default): TR-ALS (:mod:`tnkit.decompose.tr_als`) initialised by that TR-SVD
  (random cores where no start mode can hold a bond pair). With ``tol`` and no ``rank`` the
  ranks start where TR-SVD puts them for ``tol`` (so the error bound holds from the start) and
  bonds then shrink one rank at a time while the ALS error stays within ``tol``; with a mask the
  ranks grow uniformly from 1 until the error on the observed entries is met.
* ``mask=`` (tensor completion): TR-ALS on the observed entries only, each core slice from its
  exact masked normal equations, solved by :func:`tnkit.decompose.network.fit_network` (the
  ring is a tensor network), one sweep at a time under this module's stopping rules.
* a :class:`tnkit.sparse.SparseTensor` with missing entries unlisted: the same per-slice normal
  equations over its listed entries only, with per-entry chains and no dense tensor
  (:mod:`tnkit.decompose.tr_sparse`).
* a TT or TR (``a + b``, a Hadamard product, a ring's TT): TR-ALS against that ring, its
  right-hand sides from mixed transfer matrices (:func:`tr_als.ring_sweep`), so the tensor is
  never formed; ``method="svd"`` is its rounding, :meth:`tnkit.formats.tr.TR.round`.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import backend, checks
from ..formats._arith import CoreChain
from ..formats.tr import TR, dense
from ..sparse import SparseTensor, check_for_fit
from . import _common as cm
from . import tr_als, tr_of_ring, tr_sparse, tr_svd
from .network import MaskedSweep

METHODS = ("als", "svd")
INITS = ("svd", "random")


def tr(
    x: Any,
    rank: int | Sequence[int] | None = None,
    *,
    mask: Any = None,
    tol: float | None = None,
    method: str = "als",
    init: str | TR = "svd",
    max_iter: int | None = None,
    improvement_tol: float = 1e-8,
    seed: int = 0,
    restarts: int = 1,
    progress: bool | Callable[[int, float], Any] = False,
) -> TR:
    """Tensor ring decomposition of ``x``.

    With ``mask`` (a 0/1 tensor ``W``, 1 = observed) the ring minimises the error on the
    observed entries, ``||W * (X - ring)||_F``. Slice ``i`` of core ``k`` then has its own
    normal equations: with ``z_j = vec(prod_{m != k} G_m[:, j_m, :])`` the subchain of the
    other cores at the multi-index ``j`` (all modes but ``k``, ``r_{k-1} r_k`` entries),

        G_k[:, i, :] (sum_{j: W[i, j] = 1} z_j z_j^H) = sum_{j: W[i, j] = 1} X[i, j] z_j^H,

    one ``r_{k-1} r_k``-sized system per slice (the TR-ALS of Wang, Aggarwal & Aeron,
    "Efficient low rank tensor ring completion", ICCV 2017), solved by the masked ALS of
    :func:`tnkit.fit_network` on the ring. A :class:`tnkit.sparse.SparseTensor` with
    ``unlisted="missing"`` is completed from the same equations with ``W`` = its listing, from
    its listed entries only (:mod:`tnkit.decompose.tr_sparse`): TR-ALS from a random start,
    the bond ranks grown from 1 to ``rank``. A TT or TR ``x`` is fitted by TR-ALS against it,
    at a cost per core of ``O((r s)^3 + n r s (r + s))`` flops for fit ranks ``r`` and
    ``x``'s ranks ``s``, whatever the size of the tensor.

    Parameters
    ----------
    x : array or SparseTensor
        Data tensor with N >= 2 modes (numpy, torch or cupy; integers become float64). With a
        ``mask``, unobserved entries may be NaN or Inf (they are ignored); observed ones may not.
        A SparseTensor must list its observed entries with ``unlisted="missing"`` (for zeros
        unlisted use :func:`tnkit.cp` or :func:`tnkit.tucker`) and needs ``rank``; it takes no
        ``mask`` and ``method="als"`` only; its start is random whatever the (string)
        ``init``. A :class:`~tnkit.formats.tt.TT` or :class:`~tnkit.formats.tr.TR` is
        fitted without forming its tensor; it takes no ``mask``.
    rank : int or sequence of int, optional
        One rank for all bonds or N ranks; ``rank[k]`` joins core ``k`` and ``k+1 mod N``.
        Each ALS core needs ``rank[k-1] * rank[k] <= prod_{j != k} n_j`` (its normal
        equations); ``method="svd"`` also needs a mode with ``n_s >= rank[s-1] * rank[s]``.
    mask : array, optional
        Boolean or 0/1 array of ``x``'s shape, True where ``x`` is observed (tensor
        completion). Needs ``method="als"``: TR-SVD needs every entry, so ``method="svd"`` with
        a mask raises ``ValueError``. ``init="svd"`` starts from the TR-SVD of ``x`` with the
        missing entries set to the mean of the observed ones.
    tol : float, optional
        Relative Frobenius error target in (0, 1). ``"svd"``: ranks chosen so that the error
        is at most ``tol`` (guaranteed). ``"als"`` without ``rank``: ALS from TR-SVD's ring
        for ``tol`` (so the error stays below ``tol``), then bonds shrink one rank at a time
        while it stays there (with a mask: ranks grow uniformly from 1 until the error is
        below ``tol``); with ``rank``: ALS stops once the error is below ``tol``.
        With a ``mask`` the error is measured on the observed entries only,
        ``||W * (x - ring)||_F / ||W * x||_F``.
    method : {"als", "svd"}
        TR-ALS (default) or the direct Kronecker-split TR-SVD.
    init : {"svd", "random"} or TR
        ALS start: the Kronecker-split TR-SVD, random cores, or a given ring. For a TT or TR
        ``x``, ``"svd"`` keeps the best of three starts after a few sweeps: ``x``'s rounding
        at ``rank`` (slightly perturbed), its exact rounding shrunk to ``rank`` step by step,
        and random cores.
    max_iter : int, optional
        Maximum ALS sweeps (per rank stage when ranks grow; in all for a SparseTensor);
        default 50, and 300 for a SparseTensor.
    improvement_tol : float
        ALS stops when a sweep lowers the relative error by less than this.
    seed : int
        Seed of the random sketches, draws and random initialisation.
    restarts : int
        SparseTensor, TT or TR ``x`` only: at most this many starts (a SparseTensor: random,
        seeds ``seed``, ``seed + 1``, ...; a TT or TR with ``rank``: ``init``, then random
        cores of seeds ``seed + 1``, ...), stopping at the first whose error reaches ``tol``;
        the lowest-error ring is returned (``options["starts"]``: how many ran). A start
        settles in a poor local minimum now and then, so ``restarts=3`` with a ``tol`` is
        worth its cost there.
    progress : bool or callable
        ``True`` for a tqdm bar, or a callable ``f(sweep, error)``.

    Returns
    -------
    TR
        With ``.history`` (relative error after each ALS sweep, from the normal equations, so
        accurate to about ``sqrt(eps)``; the last entry is recomputed from the dense
        reconstruction; ``[error]`` for ``"svd"``; with a ``mask``, the relative error on the
        observed entries) and ``.options`` (``options["masked"]`` and ``options["observed"]``,
        the observed fraction, say whether a mask was used). Ctrl-C during ALS
        returns the ring of the last finished sweep (``options["interrupted"] = True``). The
        zero tensor (zero on the observed entries) gives zero cores. For a SparseTensor
        ``history`` is the relative error on the listed entries and ``options`` holds the
        ``rank`` caps, ``tol``, ``max_iter``, ``seed``, ``masked=True``, ``nnz``, ``unlisted``,
        ``observed`` (the listed fraction), ``interrupted``, ``restarts`` and ``starts``.
        For a TT or TR ``x`` the last entry of ``history`` is not recomputed (there is no
        tensor to compare with), so errors below about ``1e-7`` read as ``~1e-8`` or 0, and
        ``options`` adds ``input`` (``"TT"`` or ``"TR"``), ``restarts`` and ``starts``.

    Examples
    --------
    >>> import numpy as np, tnkit as tk
    >>> rng = np.random.default_rng(0)
    >>> x = tk.TR([rng.standard_normal((2, 6, 2)) for _ in range(3)]).to_tensor()
    >>> ring = tk.tr(x, 2, method="svd")
    >>> bool(np.linalg.norm(ring.to_tensor() - x) < 1e-8 * np.linalg.norm(x))
    True
    >>> y = tk.TR([rng.standard_normal((2, 8, 2)) for _ in range(4)]).to_tensor()
    >>> seen = rng.random(y.shape) < 0.3  # 30 % observed, the rest NaN
    >>> fit = tk.tr(np.where(seen, y, np.nan), 2, mask=seen, max_iter=300, tol=1e-10)
    >>> bool(np.linalg.norm(fit.to_tensor() - y) < 1e-6 * np.linalg.norm(y))
    True
    """
    cm.check_tol(tol)
    checks.check_real(improvement_tol, "improvement_tol", low=0)
    seed = checks.check_seed(seed)
    restarts = checks.check_int(restarts, "restarts")
    run = _Run(tol, max_iter, improvement_tol, seed, restarts, progress)
    if isinstance(x, SparseTensor):
        return _sparse(x, rank, mask, method, init, run)
    if isinstance(x, CoreChain):
        return _ring(x, rank, mask, method, init, run)
    if restarts != 1:
        raise ValueError("restarts applies to a SparseTensor, TT or TR x only")
    x, w = cm.check_masked_data(x, mask, "x", min_ndim=2)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if w is not None and method == "svd":
        raise ValueError(
            "method='svd' needs every entry of x (TR-SVD has no mask); use method='als' with mask="
        )
    shape = tuple(int(d) for d in x.shape)
    ranks = _check_rank(rank, shape)
    if method == "svd" and ranks is not None and tol is not None:
        raise ValueError("method='svd' takes rank= or tol=, not both")
    max_iter = cm.default_sweeps(max_iter, 50, completion=False)
    ranks = _settled_ranks(init, method, shape, ranks, tol)
    options = _options(method, ranks, tol, max_iter, seed, init)
    options.update(masked=w is not None, observed=1.0 if w is None else _fraction(w))
    x, flip = _c_layout(x)
    xp = backend.namespace(x)
    if flip and w is not None:  # the mask of the reversed modes, in C order too
        w = _c_copy(xp.permute_dims(w, tuple(range(x.ndim - 1, -1, -1))))
    norm = float(xp.linalg.vector_norm(x if w is None else w * x))
    if norm == 0.0:
        return _finish(_zeros(x, shape, ranks or (1,) * len(shape)), [0.0], options)
    if flip:  # decompose the C-ordered transpose: the ring of the reversed modes
        ranks = _reverse_ranks(ranks)
        init = TR(_reverse_cores(init.cores)) if isinstance(init, TR) else init
    if method == "svd":
        cores = (
            tr_svd.tr_svd(x, ranks, seed=seed) if ranks else tr_svd.tr_svd_tol(x, tol, seed=seed)
        )
        history = [_error(x, cores, norm)]
    else:
        if w is None:
            start, sweep = x, functools.partial(tr_als.sweep, x, x_norm2=norm**2)
        else:  # the masked sweep's errors are exact already
            start, sweep = cm.mean_filled(x, w), MaskedSweep(x, w, tr_als.gauged_ring)
        fit = cm.Sweeps(sweep, max_iter, improvement_tol, tol, progress, "TR-ALS")
        start_norm = norm if w is None else float(xp.linalg.vector_norm(start))
        try:
            if ranks is not None:
                cores, history = fit.run(_initial(start, ranks, init, seed, start_norm))
            elif w is None:
                cores, history = _fit_to_tol(x, fit, norm, seed, init)
            else:
                cores, history = _grow(start, fit, start_norm, seed, init)
        finally:
            fit.bar.close()
        if history and w is None:  # the sweep formula cancels below ~sqrt(eps): recompute
            history[-1] = _error(x, cores, norm)
        options["interrupted"] = fit.interrupted
    return _finish(_reverse_cores(cores) if flip else cores, history, options)


class _Run(NamedTuple):
    """The validated settings of one ``tr`` call that every kind of input shares."""

    tol: float | None
    max_iter: int | None
    improvement_tol: float
    seed: int
    restarts: int
    progress: bool | Callable[[int, float], Any]


def _sparse(x: SparseTensor, rank: Any, mask: Any, method: str, init: Any, run: _Run) -> TR:
    """TR completion of a SparseTensor from its listed entries (:mod:`tr_sparse`)."""
    check_for_fit(x, mask)
    tr_sparse.check_options(x, rank)
    if method != "als":
        raise ValueError(
            f"method must be 'als' for a SparseTensor (TR-SVD needs every entry), got {method!r}"
        )
    if not (isinstance(init, str) and init in INITS):
        raise ValueError(
            f"init must be one of {INITS} for a SparseTensor (its start is random), got {init!r}"
        )
    ranks = _check_rank(rank, x.shape)
    max_iter = cm.default_sweeps(run.max_iter, 50, completion=True)
    return tr_sparse.complete(
        x, ranks, run.tol, max_iter, run.improvement_tol, run.seed, run.progress, run.restarts
    )


def _ring(y: CoreChain, rank: Any, mask: Any, method: str, init: Any, run: _Run) -> TR:
    """A ring fitted to the tensor of the TT or TR ``y`` without forming that tensor.

    ``"svd"`` is ``y``'s TR rounding (:meth:`TR.round` with ``tol`` and/or ``rank``). ``"als"``
    runs TR-ALS whose right-hand sides come from mixed transfer matrices of the fit and ``y``
    (:func:`tr_als.ring_sweep`). With ``rank``: up to ``restarts`` starts (the first from
    ``init``: :func:`tr_of_ring.best_start`, random cores or a given ring; then random cores
    of seeds ``seed + 1, ...``), stopping at the first within ``tol``, the best one kept.
    With ``tol`` alone: ALS from ``y.round(tol)`` (error at most ``tol``), then bonds shrink
    as for a dense tensor (:func:`_shrink_to_tol`).
    """
    if mask is not None:
        raise ValueError("mask= needs a dense tensor x; a TT or TR gives every entry")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    target = y if isinstance(y, TR) else TR(y.cores)
    shape = target.shape
    ranks = _check_rank(rank, shape)
    tol, seed, restarts = run.tol, run.seed, run.restarts
    max_iter = cm.default_sweeps(run.max_iter, 50, completion=False)
    ranks = _settled_ranks(init, method, shape, ranks, tol)
    if restarts > 1 and (ranks is None or method == "svd"):
        raise ValueError("restarts applies to method='als' with rank= for a TT or TR x")
    options = _options(method, ranks, tol, max_iter, seed, init)
    options.update(masked=False, observed=1.0, input=type(y).__name__, restarts=restarts)
    norm = target.norm()
    like = target.cores[0]
    if norm == 0.0:
        return _finish(_zeros(like, shape, ranks or (1,) * len(shape)), [0.0], options)
    if method == "svd":
        rounded = target.round(tol=tol, rank=ranks)
        return _finish(rounded.cores, [(target - rounded).norm() / norm], options)
    sweep = functools.partial(tr_als.ring_sweep, target.cores, x_norm2=norm**2)
    fit = cm.Sweeps(sweep, max_iter, run.improvement_tol, tol, run.progress, "TR-ALS")

    def one_start(start: int) -> tuple[list[Any], list[float], bool]:
        if start == 0 and init == "svd":
            cores, history = tr_of_ring.best_start(fit, target, ranks, seed, norm)
            if fit.interrupted or (history and history[-1] <= fit.tol):
                return cores, history, fit.interrupted
            cores, more = fit.run(cores)
            return cores, history + more, fit.interrupted
        if isinstance(init, TR) and start == 0:
            cores = [backend.asarray_like(g, like) for g in init.cores]
        else:
            cores = tr_als.random_cores(shape, ranks, like, seed + start, norm)
        return (*fit.run(cores), fit.interrupted)

    try:
        if ranks is None:
            cores, history = _shrink_to_tol(fit, *fit.run(target.round(tol).cores))
            starts = 1
        else:
            cores, history, _, starts = cm.best_of_starts(one_start, restarts, tol)
    finally:
        fit.bar.close()
    options.update(interrupted=fit.interrupted, starts=starts)
    return _finish(cores, history, options)


def _settled_ranks(
    init: Any, method: str, shape: tuple[int, ...], ranks: tuple[int, ...] | None, tol: Any
) -> tuple[int, ...] | None:
    """The ranks to fit (a given start's when none are given), once ``init`` is checked;
    ``ValueError`` when there are neither ranks nor a ``tol``."""
    _check_init(init, method, shape, ranks)
    if isinstance(init, TR) and ranks is None:
        ranks = init.rank
    if ranks is None and tol is None:
        raise ValueError("give rank= or tol= (or both, for method='als')")
    return ranks


def _options(
    method: str, ranks: Any, tol: Any, max_iter: int, seed: int, init: Any
) -> dict[str, Any]:
    """The ``options`` every ring from ``tr`` records."""
    return {
        "method": method,
        "rank": ranks,
        "tol": tol,
        "max_iter": max_iter,
        "seed": seed,
        "init": init if isinstance(init, str) else "TR",
    }


def _check_init(
    init: Any, method: str, shape: tuple[int, ...], ranks: tuple[int, ...] | None
) -> None:
    """``init`` is a start name or a TR of ``shape`` (and ``ranks``, when given)."""
    if not (isinstance(init, TR) or init in INITS):
        raise ValueError(f"init must be one of {INITS} or a TR, got {init!r}")
    if method == "svd" and isinstance(init, str) and init != "svd":
        raise ValueError(f"init={init!r} applies to method='als' only (TR-SVD has no start)")
    if isinstance(init, TR) and (init.shape != shape or (ranks and init.rank != ranks)):
        raise ValueError(
            f"init has shape {init.shape} and rank {init.rank}; expected shape {shape}"
            + (f" and rank {ranks}" if ranks else "")
        )


def _c_layout(x: Any) -> tuple[Any, bool]:
    """``x`` in C order without copying when possible: ``(x, False)``, or the reversed-axes view
    ``(x^T, True)`` for Fortran-ordered data; other layouts are copied once to C order.

    Every unfolding is a free reshape of a C-ordered array; on any other layout each reshape
    would copy the whole tensor again.
    """
    xp = backend.namespace(x)
    rev = xp.permute_dims(x, tuple(range(x.ndim - 1, -1, -1)))
    for candidate, flip in ((x, False), (rev, True)):
        flags = getattr(candidate, "flags", None)  # numpy, cupy
        if flags is not None and flags.c_contiguous:
            return candidate, flip
        if hasattr(candidate, "is_contiguous") and candidate.is_contiguous():  # torch
            return candidate, flip
    if hasattr(x, "contiguous"):
        return x.contiguous(), False
    return x.copy(order="C"), False


def _c_copy(a: Any) -> Any:
    """``a`` as a C-ordered array: flattened in C index order (a copy unless ``a`` is C-ordered
    already) and reshaped back."""
    xp = backend.namespace(a)
    return xp.reshape(xp.reshape(a, (-1,)), tuple(a.shape))


def _reverse_ranks(ranks: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """Bond ranks of the ring of the reversed modes (bond ``j`` of it is bond ``N-2-j``)."""
    if ranks is None:
        return None
    n = len(ranks)
    return tuple(ranks[(n - 2 - j) % n] for j in range(n))


def _reverse_cores(cores: list[Any]) -> list[Any]:
    """``trace(G_0 ... G_{N-1}) = trace(G_{N-1}^T ... G_0^T)``: the ring of the reversed modes."""
    xp = backend.namespace(*cores)
    return [xp.permute_dims(g, (2, 1, 0)) for g in reversed(cores)]


def _fit_to_tol(
    x: Any, fit: cm.Sweeps, norm: float, seed: int, init: str
) -> tuple[list[Any], list[float]]:
    """Ranks for ``fit.tol`` without a mask: the smaller of two rings within ``tol``, then bonds
    shrink.

    The first is ALS from the ring the Kronecker-split TR-SVD builds for ``tol`` (its error is
    at most ``tol`` and ALS only lowers it): near the true ranks of structured data, uneven
    ones included. The second is uniform rank growth (:func:`_grow`), tried only up to the
    first's parameter count: on noise-like data TR-SVD spreads its ranks badly. Then bonds
    shrink (:func:`_shrink_to_tol`). ``history`` holds the sweeps of the kept fits.
    """
    start = tr_svd.tr_svd_tol(x, fit.tol, seed=seed)
    if init != "svd":
        start = _initial(x, tuple(int(g.shape[2]) for g in start), init, seed, norm)
    cores, history = fit.run(start)
    if not fit.interrupted:
        uniform = _grow(x, fit, norm, seed, init, below=_n_params(cores))
        if uniform is not None and uniform[1][-1] <= fit.tol:
            cores, history = uniform
    return _shrink_to_tol(fit, cores, history)


def _shrink_to_tol(
    fit: cm.Sweeps, cores: list[Any], history: list[float]
) -> tuple[list[Any], list[float]]:
    """Bonds shrink while the error stays at most ``fit.tol``: each round tries every bond one
    rank smaller (:func:`tr_als.shrink_bond`), then at most ``SHRINK_SWEEPS`` ALS sweeps —
    and keeps the trial that saves the most parameters within ``tol``; rounds go on until no
    bond can shrink. ``history`` (that of ``cores``) gains the sweeps of the kept trials."""
    while history and history[-1] <= fit.tol and not fit.interrupted:
        best = None
        for k in range(len(cores)):
            if int(cores[k].shape[2]) == 1:
                continue
            trial, trial_history = fit.run(tr_als.shrink_bond(cores, k), tr_als.SHRINK_SWEEPS)
            if fit.interrupted:
                break
            saved = _n_params(cores) - _n_params(trial)
            if trial_history and trial_history[-1] <= fit.tol and (not best or saved > best[0]):
                best = (saved, trial, trial_history)
        if not best or fit.interrupted:
            break
        cores, history = best[1], history + best[2]
    return cores, history


def _n_params(cores: list[Any]) -> int:
    return sum(math.prod(int(d) for d in g.shape) for g in cores)


def _grow(
    x: Any, fit: cm.Sweeps, norm: float, seed: int, init: str, below: int | None = None
) -> tuple[list[Any], list[float]] | None:
    """ALS at ranks 1, 2, ... (all bonds together) until the error (with a mask: on the observed
    entries) is below ``fit.tol``; ``x`` (of norm ``norm``) gives the shape and the starts.
    With ``below``: ``None`` once the next uniform ring would have ``below`` parameters."""
    shape = tuple(int(d) for d in x.shape)
    r = 1
    history: list[float] = []
    while True:
        ranks = (r,) * len(shape)
        if below is not None and r * r * sum(shape) >= below:
            return None
        cores, hist = fit.run(_initial(x, ranks, init, seed, norm))
        history += hist
        if fit.interrupted or (history and history[-1] <= fit.tol):
            return cores, history
        if _rank_error((r + 1,) * len(shape), shape) is not None:
            if below is not None:
                return None
            warnings.warn(
                f"tr: tol={fit.tol} not reached at the largest rank {r} the shape {shape} "
                f"allows (error {history[-1]:.3g})",
                stacklevel=3,
            )
            return cores, history
        r += 1


def _initial(x: Any, ranks: tuple[int, ...], init: str | TR, seed: int, norm: float) -> list[Any]:
    if isinstance(init, TR):
        return [backend.asarray_like(backend.to_numpy(g), x) for g in init.cores]
    if init == "svd":
        try:
            return tr_svd.tr_svd(x, ranks, seed=seed)
        except ValueError:
            pass  # no start mode holds a bond pair: random start
    return tr_als.random_cores(tuple(int(d) for d in x.shape), ranks, x, seed, norm)


def _fraction(w: Any) -> float:
    """The observed fraction of a 0/1 mask."""
    xp = backend.namespace(w)
    return float(xp.sum(w)) / math.prod(int(d) for d in w.shape)


def _finish(cores: list[Any], history: list[float], options: dict[str, Any]) -> TR:
    ranks = [int(g.shape[2]) for g in cores]
    return TR(cores, history=history, options={**options, "rank": ranks})


def _zeros(x: Any, shape: tuple[int, ...], ranks: tuple[int, ...]) -> list[Any]:
    n = len(shape)
    return [backend.asarray_like(np.zeros((ranks[k - 1], shape[k], ranks[k])), x) for k in range(n)]


def _error(x: Any, cores: list[Any], norm: float) -> float:
    """``||x - ring|| / norm``, built in slabs of mode 0 so only a slab is held at a time."""
    xp = backend.namespace(x)
    n0 = int(x.shape[0])
    step = max(1, (1 << 22) * n0 // max(math.prod(int(d) for d in x.shape), 1))
    err2 = 0.0
    for start in range(0, n0, step):
        slab = dense([cores[0][:, start : start + step, :], *cores[1:]])
        err2 += float(xp.linalg.vector_norm(slab - x[start : start + step])) ** 2
    return math.sqrt(err2) / norm


def _check_rank(rank: Any, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    if rank is None:
        return None
    n = len(shape)
    if isinstance(rank, (int, np.integer)) and not isinstance(rank, bool):
        ranks = (int(rank),) * n
    elif isinstance(rank, (list, tuple)) and len(rank) == n:
        ranks = tuple(cm.check_positive_int(r, f"rank[{k}]") for k, r in enumerate(rank))
    else:
        raise ValueError(f"rank must be a positive int or a sequence of {n} ints, got {rank!r}")
    cm.check_positive_int(ranks[0], "rank")
    problem = _rank_error(ranks, shape)
    if problem:
        raise ValueError(problem)
    return ranks


def _rank_error(ranks: tuple[int, ...], shape: tuple[int, ...]) -> str | None:
    """Why ``ranks`` are beyond what ``shape`` allows (None when they are fine)."""
    total = math.prod(shape)
    for k, nk in enumerate(shape):
        pair = ranks[k - 1] * ranks[k]
        if pair > total // nk:
            return (
                f"rank {ranks} is too large for shape {shape}: core {k} needs "
                f"rank[{(k - 1) % len(shape)}]*rank[{k}] = {pair} <= prod of the other modes "
                f"= {total // nk}"
            )
    return None
