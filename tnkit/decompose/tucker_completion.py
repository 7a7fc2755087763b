"""Tucker completion from the listed entries of a :class:`tnkit.sparse.SparseTensor`.

Only the observed entries ``(i_e, v_e)`` (``unlisted="missing"``) are stored and touched. The
model at entry ``e`` is ``x̂_e = Σ_a U_k[i_{e,k}, a] w_e[a]`` for every mode ``k``, with
``w_e = G ×_{j≠k} U_j[i_{e,j}, :]`` (length ``r_k``), and ``x̂_e = f_eᵀ vec(G)`` with
``f_e = ⊗_j U_j[i_{e,j}, :]`` (length ``Π r_j``). A sweep of alternating least squares on
``Σ_e |v_e - x̂_e|²``:

* the core ``G``: least squares over all entries in the features ``f_e`` — the normal
  equations ``(Σ_e conj(f_e) f_eᵀ) g = Σ_e conj(f_e) v_e`` when ``Π r_j <= DIRECT_CORE``,
  else ``CORE_CG_STEPS`` conjugate-gradient steps warm-started from the current core, each
  one matrix-free pass over the entries (the model at the entries, then a scatter-add as in
  sparse HOOI). The normal equations cost ``nnz (Π r_j)²``: at ``100³``, ranks 5 (125 core
  entries) both take about as long, at ranks 10 (1000) the CG steps are 3× faster;
* each factor ``U_k``: every row solves its own ``r_k × r_k`` normal equations over the
  entries in that row, ``(Σ_e conj(w_e) w_eᵀ + λ I) u = Σ_e conj(w_e) v_e + λ u_old``, batched
  as in CP completion (:class:`tnkit.decompose.cp_sparse.Entries`,
  :func:`tnkit.decompose.cp_sparse._row_solve`; rows without entries keep their values). The
  updated ``U_k = Q R`` is then orthonormalised and ``R`` pushed into the core
  (``G ← G ×_k R``, the model unchanged), so the features stay well scaled.

With few entries per parameter ALS from the start often stalls in a poor fit; the first
sweeps therefore solve the factor rows with a ridge towards zero, ``μ · mean diag(Σ_e
conj(w_e) w_eᵀ)`` added to the row's matrix. ``μ`` starts at ``DAMPING``, is multiplied by
``DAMPING_DECAY`` after each sweep, and is dropped below ``DAMPING_OFF`` (then plain ALS: the
fit is not biased in the end); ``stop_tol`` applies from the first plain sweep on (with the
ridge the error may rise). On an exact ``30 × 35 × 40`` rank-(3, 4, 3) tensor this lifts the
recoveries from 3 % of the entries from 4 to 8 of 8 seeds, at 5 % from 7 to 8.

With few entries — fewer than ``FEW_ENTRIES`` per parameter of the Tucker model, ``Σ n_k r_k
+ Π r_k - Σ r_k²`` — two more changes (with more entries they only cost sweeps: 37 instead
of 22 on a ``100³`` rank-5 tensor from 5 %):

* the ridge decays only after a sweep that lowers the error by less than the fraction
  ``DAMPING_HOLD``: it stays while the fit still moves at it;
* when the wider core has fewer entries than there are listed ones, the first
  ``WIDE_SWEEPS`` sweeps (at most half of ``max_iter``) fit wider multilinear ranks
  ``r_k + WIDER``; the model is then cut to the ranks asked for by the HOSVD of its core
  (:func:`_truncated`) and the sweeps go on.

The wider fit escapes the poor fits the plain one stalls in. On 20 draws of the example from
2 % of the entries (840 for 352 parameters) both recover 19, holding the ridge alone 10, the
ridge halved every sweep 3; ``WIDER`` 1, 2, 3, 6: 12, 14, 16, 19; the wider fit without holding
the ridge 16. Tried on the first 8 draws, with the ridge alone: ``DAMPING_DECAY`` 0.7, 0.8,
0.9 every sweep 4, 3, 6 of 8 (0.9 at 2–3 times the sweeps at 5 and 10 %), ``DAMPING_HOLD``
0.01 and 0.1 5 and 2 (0.03: 6); growing the multilinear ranks from 1 by one every 4 or 8
sweeps, the new columns from the spectral start, 0–2.

The error, ``||v - x̂|| / ||v||`` on the listed entries, comes from the last factor update
(``x̂_e = U_{N-1}[i_e] · w_e``) at no extra cost. The start is spectral
(:func:`tnkit.decompose.cp_sparse.sketched_start`): each ``U_k`` spans the leading
eigenvectors of the unfolding's Gram matrix over pairs of entries sharing their other indices
(the debiased start of Montanari & Sun, CPAM 2018), and the first core step fits the core.
On the ``30 × 35 × 40`` example (8 seeds, 300 sweeps at most) it recovers 8, 8, 8 of 8 from
3, 5, 10 % of the entries, where sparse HOOI of the entries scaled by ``1 / density`` recovers
3, 8, 8 and a random orthonormal start 0, 7, 8.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .. import backend, linalg
from ..sparse import SparseTensor
from . import _common as cm
from .cp_sparse import GRAM_CHUNK, Entries, _conj, _row_solve, sketched_start
from .tucker_sparse import core_from, kron_rows, unfolded_projection

DIRECT_CORE = 256  # most core entries (Π r_j) solved by normal equations; above: CG steps
CORE_CG_STEPS = 3  # conjugate-gradient steps of one core update
DAMPING = 1.0  # first sweep's ridge on the factor rows, relative to each row's Gram diagonal
DAMPING_DECAY = 0.5  # the ridge's factor after a sweep that lowers the error too little
DAMPING_HOLD = 0.03  # a sweep lowering the error by this fraction keeps the ridge
DAMPING_OFF = 1e-4  # the ridge is dropped once below this
FEW_ENTRIES = 5  # below this many entries per parameter the first sweeps fit wider ranks
WIDER = 4  # those ranks: r_k + WIDER (at most n_k)
WIDE_SWEEPS = 30  # sweeps at the wider ranks (at most half of max_iter)


def complete(
    x: SparseTensor,
    ranks: list[int],
    max_iter: int,
    stop_tol: float | None,
    seed: int,
    progress: bool | Callable[[int, float], Any],
) -> tuple[Any, list[Any], list[float], bool]:
    """Tucker completion with multilinear rank ``ranks`` (module docstring); returns the
    core, the factors, the error history and whether Ctrl-C ended the fit."""
    entries = Entries(x)
    few = x.nnz < FEW_ENTRIES * _parameters(x.shape, ranks)
    wide = [min(r + WIDER, n) for r, n in zip(ranks, x.shape)]
    if not few or math.prod(wide) >= x.nnz:
        wide = list(ranks)
    factors = [u[:, :r] for u, r in zip(sketched_start(entries, max(wide), seed), wide)]
    factors = [linalg.qr(u)[0] for u in factors]
    xp = backend.namespace(x.values)
    core = xp.zeros(tuple(wide), dtype=x.values.dtype, **backend.device_kwargs(x.values))
    sweep = _Sweep(entries, -math.inf if stop_tol is None else stop_tol, few)
    fit = cm.Sweeps(sweep, max_iter, -math.inf, None, progress, "Tucker completion")
    sweep.fit = fit
    model, history = [core, factors], []
    try:
        if wide != list(ranks):
            model, history = fit.run(model, min(WIDE_SWEEPS, max_iter // 2))
            model = _truncated(*model, ranks)
            sweep.error = math.inf
        if len(history) < max_iter and not fit.interrupted:
            model, more = fit.run(model, max_iter - len(history))
            history += more
    finally:
        fit.bar.close()
    return model[0], model[1], history, fit.interrupted


def _parameters(shape: tuple[int, ...], ranks: list[int]) -> int:
    """Degrees of freedom of a Tucker tensor: ``Σ n_k r_k + Π r_k - Σ r_k²``."""
    return sum(n * r - r * r for n, r in zip(shape, ranks)) + math.prod(ranks)


def _truncated(core: Any, factors: list[Any], ranks: list[int]) -> list[Any]:
    """``[core, factors]`` cut to multilinear ranks ``ranks`` by the HOSVD of the core: each
    ``U_k`` keeps the span of the leading left singular vectors of the core's unfolding."""
    xp = backend.namespace(core)
    factors = list(factors)
    for k, r in enumerate(ranks):
        unfolded = xp.reshape(xp.moveaxis(core, k, 0), (int(core.shape[k]), -1))
        u = linalg.truncated_svd(unfolded, rank=r, method="lapack").u
        core = cm.mode_product(core, _conj(u).T, k)
        factors[k] = factors[k] @ u
    return [core, factors]


class _Sweep:
    """One sweep as a ``sweep([core, factors]) -> ([core, factors], error)`` callable for
    :class:`tnkit.decompose._common.Sweeps`, holding the decaying ridge (module docstring);
    the first plain sweep hands ``stop_tol`` to :attr:`fit` (the Sweeps that runs it)."""

    def __init__(self, entries: Entries, stop_tol: float, hold: bool) -> None:
        self.e, self.damping, self.stop_tol = entries, DAMPING, stop_tol
        self.hold = DAMPING_HOLD if hold else 0.0
        self.error = math.inf
        self.fit: cm.Sweeps | None = None

    def __call__(self, model: list[Any]) -> tuple[list[Any], float]:
        core, factors = model[0], list(model[1])
        xp = backend.namespace(core)
        if not self.damping and self.fit is not None:
            self.fit.improvement_tol = self.stop_tol
        core = _core_step(self.e, core, factors)
        for k in range(len(factors)):
            w = _mode_features(self.e, core, factors, k)
            u = self._rows(w, k, factors[k])
            if k == len(factors) - 1:
                values = xp.sum(xp.take(u, self.e.idx[k], axis=0) * w, axis=1)
            factors[k], r = linalg.qr(u)
            core = cm.mode_product(core, r, k)
        err = float(xp.linalg.vector_norm(self.e.v - values)) / math.sqrt(self.e.norm2)
        if not self.hold or self.error - err < self.hold * self.error:
            decayed = self.damping * DAMPING_DECAY
            self.damping = decayed if decayed >= DAMPING_OFF else 0.0
        self.error = err
        return [core, factors], err

    def _rows(self, w: Any, mode: int, u: Any) -> Any:
        """``U_mode`` with every row solved from its entries' normal equations, with the
        ridge ``damping × mean diag(G_i)`` towards zero while it lasts."""
        xp = backend.namespace(w)
        grams = self.e.row_grams(w, mode)
        rhs = self.e.sums[mode](self.e.v[:, None] * _conj(w))
        if not self.damping:
            return _row_solve(grams, rhs, u)
        rank = int(w.shape[1])
        scale = xp.sum(xp.linalg.diagonal(grams), axis=1) * (self.damping / rank)
        eye = xp.eye(rank, dtype=grams.dtype, **backend.device_kwargs(grams))
        return _row_solve(grams + scale[:, None, None] * eye, rhs, xp.zeros_like(u))


def _mode_features(entries: Entries, core: Any, factors: list[Any], mode: int) -> Any:
    """``(nnz, r_mode)``: ``w_e = G ×_{j≠mode} U_j[i_{e,j}, :]`` (module docstring)."""
    xp = backend.namespace(core)
    others = [j for j in range(len(factors)) if j != mode]
    unfolded = xp.reshape(xp.moveaxis(core, mode, 0), (int(core.shape[mode]), -1))
    step = max(1, GRAM_CHUNK // int(unfolded.shape[1]))
    parts = [
        kron_rows(entries, factors, others, slice(start, start + step)) @ unfolded.T
        for start in range(0, entries.x.nnz, step)
    ]
    return xp.concat(parts, axis=0) if len(parts) > 1 else parts[0]


def _core_step(entries: Entries, core: Any, factors: list[Any]) -> Any:
    """The least-squares core for the current factors (module docstring)."""
    xp = backend.namespace(core)
    g = xp.reshape(core, (-1,))
    if int(g.shape[0]) > DIRECT_CORE:
        return _core_cg(entries, core, factors)
    gram, rhs = _core_normal_equations(entries, factors)
    g = _row_solve(gram[None, :, :], rhs[None, :], g[None, :])[0]
    return xp.reshape(g, core.shape)


def _core_normal_equations(entries: Entries, factors: list[Any]) -> tuple[Any, Any]:
    """``(FᴴF, Fᴴv)``, ``F`` the ``(nnz, Π r_j)`` features ``f_e``, formed in chunks."""
    modes = list(range(len(factors)))
    step = max(1, GRAM_CHUNK // math.prod(int(u.shape[1]) for u in factors))
    gram = rhs = 0
    for start in range(0, entries.x.nnz, step):
        part = slice(start, start + step)
        fh = _conj(kron_rows(entries, factors, modes, part)).T
        gram = gram + fh @ _conj(fh).T
        rhs = rhs + fh @ entries.v[part]
    return gram, rhs


def _core_cg(entries: Entries, core: Any, factors: list[Any]) -> Any:
    """``CORE_CG_STEPS`` conjugate-gradient steps on ``FᴴF g = Fᴴv`` from the current core,
    each a product with ``F`` (the model at the entries) and one with ``Fᴴ`` (a scatter-add
    over the entries, as in sparse HOOI)."""
    xp = backend.namespace(core)

    def adjoint(values: Any) -> Any:  # Fᴴ values, as a core
        y = unfolded_projection(entries, factors, len(factors) - 1, values)
        return core_from(y, factors)

    def normal(d: Any) -> Any:  # FᴴF d
        return adjoint(_model(entries, d, factors))

    r = adjoint(entries.v - _model(entries, core, factors))
    p, rr = r, _inner(r, r)
    tiny = backend.eps(core) ** 2 * (rr + 1.0)
    for _ in range(CORE_CG_STEPS):
        q = normal(p)
        alpha = rr / xp.maximum(_inner(p, q), tiny)
        core, r = core + alpha * p, r - alpha * q
        new = _inner(r, r)
        p, rr = r + (new / xp.maximum(rr, tiny)) * p, new
    return core


def _model(entries: Entries, core: Any, factors: list[Any]) -> Any:
    """The Tucker model's values at the listed entries, ``(nnz,)``."""
    xp = backend.namespace(core)
    w = _mode_features(entries, core, factors, 0)
    return xp.sum(xp.take(factors[0], entries.idx[0], axis=0) * w, axis=1)


def _inner(a: Any, b: Any) -> Any:
    """``Re⟨a, b⟩`` of two cores (a 0-d array)."""
    xp = backend.namespace(a)
    return xp.real(xp.vecdot(xp.reshape(a, (-1,)), xp.reshape(b, (-1,))))
