"""TR completion from the listed entries of a :class:`tnkit.sparse.SparseTensor`.

The observed entries ``(i_e, v_e)`` only are stored and touched; the model's value at entry
``e`` is ``trace(G_0[i_{e,0}] ⋯ G_{N-1}[i_{e,N-1}])`` (``G_k[i] = G_k[:, i, :]``). For core
``k`` the environment of entry ``e`` is the cyclic product of the other cores' slices,
``E_e = G_{k+1}[i_{e,k+1}] ⋯ G_{N-1}[i_{e,N-1}] G_0[i_{e,0}] ⋯ G_{k-1}[i_{e,k-1}]``
(``r_k × r_{k-1}``), and the value is ``⟨G_k[i_{e,k}], E_eᵀ⟩``: with ``h_e = vec(E_eᵀ)`` every
slice ``G_k[:, i, :]`` solves its own normal equations over the entries with ``i_{e,k} = i``,
``(Σ_e conj(h_e) h_eᵀ + λ I) g = Σ_e conj(h_e) v_e + λ g_old`` (the TR-ALS of Wang, Aggarwal
& Aeron, "Efficient low rank tensor ring completion", ICCV 2017, on the listed entries only),
batched over slices with the scatter-adds of :class:`tnkit.decompose.cp_sparse.Entries`.

A sweep moves the ring to a left-orthogonal gauge (:func:`tnkit.decompose.tr_als.left_orthogonal`,
as dense masked TR-ALS does), builds for every entry the suffix chains
``S_k[e] = G_k[i_{e,k}] ⋯ G_{N-1}[i_{e,N-1}]`` (``nnz × r × r``), and then, core by core,
multiplies the prefix chain ``P_k[e] = G_0[i_{e,0}] ⋯ G_{k-1}[i_{e,k-1}]`` of the updated cores
into ``E_e = S_{k+1}[e] P_k[e]``, solves core ``k`` and extends the prefix by it: one sweep costs
``O(N · nnz · r³)`` and ``N · nnz · r²`` memory. After the last core ``trace(P_N[e])`` is the
model at the entries, so the error costs nothing extra. Products with gathered core slices run
in chunks of entries.

From a random start at the full ranks ALS stalls in poor local minima more often with few
entries, so the ranks grow as in :mod:`tnkit.decompose.tt_sparse`: every bond starts at 1 and
after ``STAGE_SWEEPS`` sweeps (or an earlier stall) each bond below its cap grows by one, its
new directions Gaussian times ``GROWTH_SCALE``, until the caps are reached. The new directions
must not be tiny: on exact 8^5 rings of ranks 2 from 10 % of their entries, scale 0.3
recovered 7 of 8 draws, ``1e-3`` 1 and a start at the full ranks 5 (``docs/formats/tr.md``).

With few entries — fewer than ``FEW_ENTRIES`` per parameter of the ring, ``Σ r_{k-1} n_k
r_k - Σ r_k²`` — a start differs in two ways (with more, both cost sweeps and gained nothing:
a ``20^5`` ring of ranks 2 from 1 % of its entries, 84 per parameter, lost its one recovery
of 8 to the ridge, and an ``8^5`` ring took 61 sweeps instead of 26):

* as in Tucker completion (:mod:`tnkit.decompose.tucker_completion`) the slices are first
  solved with a ridge towards zero, ``μ · mean diag(Σ_e conj(h_e) h_eᵀ)`` added to each
  slice's matrix, ``μ = DAMPING · DAMPING_DECAY^t`` at sweep ``t`` of the start (across the
  growth stages) until it falls below ``DAMPING_OFF``; ``improvement_tol`` applies from the
  first plain sweep on;
* when the wider ring still has fewer parameters than there are entries, the first
  ``WIDE_SWEEPS`` sweeps (at most half of ``max_iter``) grow the bonds to ``r_k + WIDER``;
  each bond is then cut to its cap by the truncated SVD of its two cores' product
  (:func:`_cut`) and the sweeps go on at the caps.

On a ``10 × 11 × 12 × 9`` ring of ranks 3 from 10 % of its entries (3.5 per parameter) both
recover 20 of 24 draws, the ridge alone 13, neither 5; from 15 % (5.2 per parameter) both 16
of 16, neither 14. ``DAMPING_DECAY`` 0.5, 0.6, 0.7 and 0.9
recovered 3, 4, 3 and 5 of the first 8 draws with the ridge alone (0.8: 5), keeping the ridge
while the error falls by 1 or 3 % a sweep 4 and 3; ``WIDER`` 1 and 3 recovered 6 of the first
8 and 12 of the first 16 draws (2: 7 and 14).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend, linalg
from ..formats.tr import TR
from ..sparse import SparseTensor
from . import _common as cm
from .cp_sparse import GRAM_CHUNK, Entries, _conj, _row_solve
from .tr_als import left_orthogonal

STAGE_SWEEPS = 4  # sweeps at each rank before the bonds grow
GROWTH_SCALE = 0.3  # entries of the new directions (next to left-orthonormal cores)
FEW_ENTRIES = 6  # below this many entries per parameter: the ridge and the wider first sweeps
WIDER = 2  # those bond ranks: r_k + WIDER (bonds of rank 1 stay 1)
WIDE_SWEEPS = 40  # sweeps at the wider ranks (at most half of max_iter)
DAMPING = 1.0  # first sweep's ridge on the slices, relative to each slice's Gram diagonal
DAMPING_DECAY = 0.8  # the ridge's factor per sweep
DAMPING_OFF = 1e-4  # the ridge is dropped once below this


def complete(
    x: SparseTensor,
    caps: tuple[int, ...],
    tol: float | None,
    max_iter: int,
    improvement_tol: float,
    seed: int,
    progress: bool | Callable[[int, float], Any],
    restarts: int = 1,
    desc: str = "TR completion",
) -> TR:
    """Rank-adaptive TR completion up to bond ranks ``caps`` (module docstring): up to
    ``restarts`` random starts (seeds ``seed, seed + 1, ...``), stopping at the first whose
    error reaches ``tol``; the lowest-error fit is returned. A cap of 1 on the closing bond
    ``N-1`` makes it TT completion (:mod:`tnkit.decompose.tt_sparse`); ``desc`` labels the
    progress bar."""
    entries = Entries(x)
    options = {"rank": list(caps), "tol": tol, "max_iter": max_iter, "masked": True, "seed": seed}
    options.update(nnz=x.nnz, unlisted=x.unlisted, observed=x.density, restarts=restarts)
    if entries.norm2 == 0.0:  # zero on every listed entry: the zero ring
        zeros = [
            backend.asarray_like(np.zeros((caps[k - 1], n, caps[k])), x.values)
            for k, n in enumerate(x.shape)
        ]
        return TR(zeros, history=[0.0], options={**options, "interrupted": False, "starts": 0})
    cores, history, interrupted, starts = cm.best_of_starts(
        lambda start: _one_start(
            entries, caps, tol, max_iter, improvement_tol, seed + start, progress, desc
        ),
        restarts,
        tol,
    )
    options.update(interrupted=interrupted, starts=starts)
    return TR(cores, history=history, options=options)


def _one_start(
    entries: Entries,
    caps: tuple[int, ...],
    tol: float | None,
    max_iter: int,
    improvement_tol: float,
    seed: int,
    progress: bool | Callable[[int, float], Any],
    desc: str,
) -> tuple[list[Any], list[float], bool]:
    """One random start grown to the caps (through wider ranks when there are few entries,
    module docstring): its cores, history and whether Ctrl-C ended it."""
    rng = np.random.default_rng(seed)
    cores = [backend.random_normal((1, n, 1), entries.v, rng) for n in entries.x.shape]
    few = entries.x.nnz < FEW_ENTRIES * _parameters(entries.x.shape, caps)
    sweep = _Sweep(entries, improvement_tol, DAMPING if few else 0.0)
    fit = cm.Sweeps(sweep, max_iter, -math.inf, tol, progress, desc)
    sweep.fit = fit
    wide = tuple(c + WIDER if c > 1 else c for c in caps)
    if not few or _parameters(entries.x.shape, wide) >= entries.x.nnz:
        wide = caps
    history: list[float] = []
    try:
        if wide != caps:
            cores = _grown(fit, cores, wide, min(WIDE_SWEEPS, max_iter // 2), history, rng)
            cores = _cut(cores, caps)
        if not fit.interrupted and len(history) < max_iter:
            cores = _grown(fit, cores, caps, max_iter, history, rng)
    finally:
        fit.bar.close()
    return cores, history, fit.interrupted


def _grown(
    fit: cm.Sweeps,
    cores: list[Any],
    caps: tuple[int, ...],
    until: int,
    history: list[float],
    rng: np.random.Generator,
) -> list[Any]:
    """Sweeps with the bonds grown towards ``caps`` until ``history`` (extended in place) is
    ``until`` long, ``fit`` stops, or the error reaches its ``tol``."""
    while len(history) < until and not fit.interrupted:
        growing = _ranks(cores) != list(caps)
        budget = STAGE_SWEEPS if growing else until
        cores, part = fit.run(cores, min(budget, until - len(history)))
        history += part
        if not growing or fit.interrupted or (part and part[-1] <= fit.tol):
            break
        cores = _grow(cores, caps, rng)
    return cores


def _parameters(shape: tuple[int, ...], caps: tuple[int, ...]) -> int:
    """Degrees of freedom of a ring: ``Σ r_{k-1} n_k r_k - Σ r_k²``."""
    return sum(caps[k - 1] * n * caps[k] - caps[k] ** 2 for k, n in enumerate(shape))


def _cut(cores: list[Any], caps: tuple[int, ...]) -> list[Any]:
    """Each bond above its cap cut to it by the truncated SVD of the product of its two
    cores (``G_k G_{k+1}``, reshaped to ``(r_{k-1} n_k) × (n_{k+1} r_{k+1})``)."""
    xp = backend.namespace(cores[0])
    cores, n = list(cores), len(cores)
    for k, cap in enumerate(caps):
        a, m, b = (int(d) for d in cores[k].shape)
        if b <= cap:
            continue
        nxt = cores[(k + 1) % n]
        _, m2, c = (int(d) for d in nxt.shape)
        pair = xp.reshape(cores[k], (a * m, b)) @ xp.reshape(nxt, (b, m2 * c))
        svd = linalg.truncated_svd(pair, rank=min(cap, a * m, m2 * c), method="lapack")
        root = xp.astype(xp.sqrt(svd.s), pair.dtype)
        keep = int(root.shape[0])
        cores[k] = xp.reshape(svd.u * root, (a, m, keep))
        cores[(k + 1) % n] = xp.reshape(root[:, None] * svd.vh, (keep, m2, c))
    return cores


def _ranks(cores: list[Any]) -> list[int]:
    return [int(g.shape[2]) for g in cores]


class _Sweep:
    """One sweep as a ``sweep(cores) -> (cores, error)`` callable for
    :class:`tnkit.decompose._common.Sweeps`, holding the decaying ridge (module docstring);
    the first plain sweep hands ``improvement_tol`` to :attr:`fit` (the Sweeps that runs it)."""

    def __init__(self, entries: Entries, improvement_tol: float, damping: float) -> None:
        self.e, self.damping, self.improvement_tol = entries, damping, improvement_tol
        self.fit: cm.Sweeps | None = None

    def __call__(self, cores: list[Any]) -> tuple[list[Any], float]:
        if not self.damping and self.fit is not None:
            self.fit.improvement_tol = self.improvement_tol
        out = _sweep(self.e, cores, self.damping)
        decayed = self.damping * DAMPING_DECAY
        self.damping = decayed if decayed >= DAMPING_OFF else 0.0
        return out


def _sweep(entries: Entries, cores: list[Any], damping: float) -> tuple[list[Any], float]:
    """One ALS sweep over the cores with the ridge ``damping`` (module docstring); the new
    cores and the relative error on the listed entries."""
    xp = backend.namespace(entries.v)
    n = len(cores)
    cores = left_orthogonal(cores)
    suffix: list[Any] = [None] * (n + 1)  # suffix[k][e] = G_k[..] ⋯ G_{N-1}[..], k >= 1
    for k in range(n - 1, 0, -1):
        suffix[k] = _chain(entries, cores[k], k, suffix[k + 1], from_left=False)
    prefix = None  # prefix[e] = G_0[..] ⋯ G_{k-1}[..] through the updated cores
    for k in range(n):
        env = _environment(suffix[k + 1], prefix)
        suffix[k + 1] = None  # used once
        cores[k] = _solve_core(entries, cores[k], k, env, damping)
        prefix = _chain(entries, cores[k], k, prefix, from_left=True)
    model = xp.sum(xp.linalg.diagonal(prefix), axis=1)
    err = float(xp.linalg.vector_norm(entries.v - model)) / math.sqrt(entries.norm2)
    return cores, err


def _environment(suffix: Any, prefix: Any) -> Any:
    """``E_e = suffix[e] prefix[e]`` (``r_k × r_{k-1}``); either side may be empty (None)."""
    if suffix is None:
        return prefix
    if prefix is None:
        return suffix
    return backend.namespace(suffix).matmul(suffix, prefix)


def _solve_core(entries: Entries, core: Any, mode: int, env: Any, damping: float) -> Any:
    """Core ``mode`` with every slice solved from its entries' normal equations, given the
    environments ``env`` (nnz × r_k × r_{k-1}), whose transposes are the slices' features,
    with the ridge ``damping × mean diag`` towards zero when ``damping`` is nonzero."""
    xp = backend.namespace(core)
    a, m, b = (int(d) for d in core.shape)
    width = a * b

    def features(part: slice) -> Any:
        return xp.reshape(xp.permute_dims(env[part], (0, 2, 1)), (-1, width))

    def grams(part: slice) -> Any:
        h = features(part)
        return xp.reshape(_conj(h)[:, :, None] * h[:, None, :], (-1, width * width))

    def rhs(part: slice) -> Any:
        return entries.v[part][:, None] * _conj(features(part))

    g = xp.reshape(entries.row_sums(mode, width * width, grams), (m, width, width))
    old = xp.reshape(xp.permute_dims(core, (1, 0, 2)), (m, width))
    if damping:
        eye = xp.eye(width, dtype=g.dtype, **backend.device_kwargs(g))
        g = g + (xp.sum(xp.linalg.diagonal(g), axis=1) * (damping / width))[:, None, None] * eye
        old = xp.zeros_like(old)
    new = _row_solve(g, entries.row_sums(mode, width, rhs), old)
    return xp.permute_dims(xp.reshape(new, (m, a, b)), (1, 0, 2))


def _chain(entries: Entries, core: Any, mode: int, mats: Any, from_left: bool) -> Any:
    """Per entry ``e``: ``mats[e] G[:, i_e, :]`` (``from_left``) or ``G[:, i_e, :] mats[e]``,
    or the slice ``G[:, i_e, :]`` itself when ``mats`` is None; the slices gathered in chunks
    of entries."""
    xp = backend.namespace(core)
    a, _, b = (int(d) for d in core.shape)
    slices = xp.permute_dims(core, (1, 0, 2))  # (n, a, b)
    step = max(1, GRAM_CHUNK // (a * b))
    out = []
    for start in range(0, entries.x.nnz, step):
        part = slice(start, start + step)
        g = xp.take(slices, entries.idx[mode][part], axis=0)
        if mats is not None:
            g = xp.matmul(mats[part], g) if from_left else xp.matmul(g, mats[part])
        out.append(g)
    return xp.concat(out, axis=0) if len(out) > 1 else out[0]


def _grow(cores: list[Any], caps: tuple[int, ...], rng: np.random.Generator) -> list[Any]:
    """Each bond below its cap grows by one. The ring is first made left-orthogonal (cores
    ``0 .. N-2`` of unit scale); the new slices on both sides of a bond (cores ``k`` and
    ``k+1 mod N``) are Gaussian times ``GROWTH_SCALE``, changing the ring by
    ``O(GROWTH_SCALE²)``."""
    xp = backend.namespace(cores[0])
    cores = left_orthogonal(cores)
    n = len(cores)
    for k, cap in enumerate(caps):
        a, m, b = (int(d) for d in cores[k].shape)
        if b >= cap:
            continue
        extra = backend.random_normal((a, m, 1), cores[k], rng) * GROWTH_SCALE
        cores[k] = xp.concat([cores[k], extra], axis=2)
        nxt = cores[(k + 1) % n]
        shape = (1, *(int(d) for d in nxt.shape[1:]))
        extra = backend.random_normal(shape, nxt, rng) * GROWTH_SCALE
        cores[(k + 1) % n] = xp.concat([nxt, extra], axis=0)
    return cores


def check_options(x: SparseTensor, rank: Any, fmt: str = "tr") -> None:
    """What :func:`tnkit.tr` (and :func:`tnkit.tt`, ``fmt="tt"``) needs of a SparseTensor."""
    if x.unlisted != "missing":
        raise ValueError(
            f"{fmt} of a SparseTensor completes missing entries (unlisted='missing'); for "
            "sparse data with zeros unlisted use tnkit.cp or tnkit.tucker"
        )
    if rank is None:
        raise ValueError(f"{fmt} of a SparseTensor needs rank= (the bond ranks to fit)")
