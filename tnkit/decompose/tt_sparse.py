"""TT completion from the listed entries of a :class:`tnkit.sparse.SparseTensor`.

The observed entries ``(i_e, v_e)`` only are stored and touched. A sweep moves the TT to a
left-orthogonal gauge (QR, as for dense completion), builds for every entry the right chains
``R_k[e] = G_{k+1}[i_{e,k+1}] ⋯ G_{N-1}[i_{e,N-1}]`` and then, left to right, solves every
slice ``G_k[:, i, :]`` from its own normal equations over the entries with ``i_{e,k} = i``:
with ``h_e = L_e ⊗ R_k[e]`` (``L_e`` the left chain through the updated cores),
``(Σ_e conj(h_e) h_eᵀ + λ I) g = Σ_e conj(h_e) v_e + λ g_old`` — the ALS of Grasedyck, Kluge
& Krämer ("Variants of alternating least squares tensor completion in the tensor train
format", SIAM J. Sci. Comput. 37, 2015), batched over slices with the scatter-adds of
:class:`tnkit.decompose.cp_sparse.Entries`. After the last core the left chains are the model's
values at the entries, so the error costs nothing extra.

From a random start at the full ranks ALS often stalls with few entries; the ranks therefore
grow (their rank-adaptive variant): every bond starts at 1, and after ``STAGE_SWEEPS`` sweeps
(or an earlier stall) each bond below its cap grows by one, its new directions small random
numbers, until the caps are reached. A start can still settle in a local minimum (about one
in five at 5 % of an 8^6 tensor); ``restarts`` tries further random starts until one reaches
``tol``. Chains cost ``N · nnz · r`` memory; the products with
gathered core slices run in chunks of entries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from ..formats.tt import TT
from ..sparse import SparseTensor
from . import _common as cm
from .cp_sparse import GRAM_CHUNK, Entries, _conj, _row_solve

STAGE_SWEEPS = 8  # sweeps at each rank before the bonds grow
GROWTH_SCALE = 0.1  # entries of the new directions (next to left-orthonormal cores)


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
    """Rank-adaptive TT completion up to bond ranks ``caps`` (module docstring): up to
    ``restarts`` random starts (seeds ``seed, seed + 1, ...``), stopping at the first whose
    error reaches ``tol``; the lowest-error fit is returned."""
    entries = Entries(x)
    best: tuple[list[Any], list[float]] | None = None
    interrupted = False
    for start in range(restarts):
        cores, history, interrupted = _one_start(
            entries, caps, tol, max_iter, improvement_tol, seed + start, progress
        )
        if history and (best is None or history[-1] < best[1][-1]):
            best = (cores, history)
        if interrupted or (tol is not None and history and history[-1] <= tol):
            break
    cores, history = best if best is not None else (cores, history)
    options = {"rank": caps, "tol": tol, "max_iter": max_iter, "masked": True, "seed": seed}
    options.update(nnz=x.nnz, unlisted=x.unlisted, observed=x.density)
    options.update(interrupted=interrupted, restarts=restarts, starts=start + 1)
    return TT(cores, history=history, options=options)


def _one_start(
    entries: Entries,
    caps: list[int],
    tol: float | None,
    max_iter: int,
    improvement_tol: float,
    seed: int,
    progress: bool | Callable[[int, float], Any],
) -> tuple[list[Any], list[float], bool]:
    """One random start grown to the caps: its cores, history and whether Ctrl-C ended it."""
    rng = np.random.default_rng(seed)
    cores = [backend.random_normal((1, n, 1), entries.v, rng) for n in entries.x.shape]
    fit = cm.Sweeps(
        lambda cs: _sweep(entries, cs), max_iter, improvement_tol, tol, progress, "TT completion"
    )
    history: list[float] = []
    try:
        while len(history) < max_iter and not fit.interrupted:
            growing = [int(c.shape[2]) for c in cores[:-1]] != caps
            budget = STAGE_SWEEPS if growing else max_iter
            cores, part = fit.run(cores, min(budget, max_iter - len(history)))
            history += part
            if not growing or fit.interrupted or (tol is not None and history[-1] <= tol):
                break
            cores = _grow(cores, caps, rng)
    finally:
        fit.bar.close()
    return cores, history, fit.interrupted


def _sweep(entries: Entries, cores: list[Any]) -> tuple[list[Any], float]:
    xp = backend.namespace(entries.v)
    n = len(cores)
    cores = TT(cores).orthogonalize(n - 1).cores
    ones = xp.ones((entries.x.nnz, 1), dtype=entries.v.dtype, **backend.device_kwargs(entries.v))
    right = [ones] * n
    for k in range(n - 1, 0, -1):
        right[k - 1] = _chain(entries, cores[k], k, right[k], from_left=False)
    left = ones
    for k in range(n):
        cores[k] = _solve_core(entries, cores[k], k, left, right[k])
        left = _chain(entries, cores[k], k, left, from_left=True)
    err = float(xp.linalg.vector_norm(entries.v - left[:, 0])) / math.sqrt(entries.norm2)
    return cores, err


def _solve_core(entries: Entries, core: Any, mode: int, left: Any, right: Any) -> Any:
    """Core ``mode`` with every slice solved from its entries' normal equations, given the
    chains ``left`` (nnz × a) and ``right`` (nnz × b)."""
    xp = backend.namespace(core)
    a, m, b = (int(d) for d in core.shape)
    width = a * b

    def features(part: slice) -> Any:
        return xp.reshape(left[part][:, :, None] * right[part][:, None, :], (-1, width))

    def grams(part: slice) -> Any:
        h = features(part)
        return xp.reshape(_conj(h)[:, :, None] * h[:, None, :], (-1, width * width))

    def rhs(part: slice) -> Any:
        return entries.v[part][:, None] * _conj(features(part))

    g = xp.reshape(entries.row_sums(mode, width * width, grams), (m, width, width))
    old = xp.reshape(xp.permute_dims(core, (1, 0, 2)), (m, width))
    new = _row_solve(g, entries.row_sums(mode, width, rhs), old)
    return xp.permute_dims(xp.reshape(new, (m, a, b)), (1, 0, 2))


def _chain(entries: Entries, core: Any, mode: int, vecs: Any, from_left: bool) -> Any:
    """Per entry ``e``: ``vecs[e] G[:, i_e, :]`` (``from_left``) or ``G[:, i_e, :] vecs[e]``,
    the slices gathered in chunks of entries."""
    xp = backend.namespace(vecs)
    a, _, b = (int(d) for d in core.shape)
    slices = xp.permute_dims(core, (1, 0, 2))  # (n, a, b)
    step = max(1, GRAM_CHUNK // (a * b))
    out = []
    for start in range(0, entries.x.nnz, step):
        part = slice(start, start + step)
        g = xp.take(slices, entries.idx[mode][part], axis=0)
        if from_left:
            out.append(xp.matmul(vecs[part][:, None, :], g)[:, 0, :])
        else:
            out.append(xp.matmul(g, vecs[part][:, :, None])[:, :, 0])
    return xp.concat(out, axis=0) if len(out) > 1 else out[0]


def _grow(cores: list[Any], caps: list[int], rng: np.random.Generator) -> list[Any]:
    """Each bond below its cap grows by one. The TT is first made left-orthogonal (so cores
    ``0 .. N-2`` have unit scale); the new slices on both sides of a bond are Gaussian times
    ``GROWTH_SCALE``, changing the TT by ``O(GROWTH_SCALE²)``."""
    xp = backend.namespace(cores[0])
    cores = TT(cores).orthogonalize(len(cores) - 1).cores
    for k, cap in enumerate(caps):
        a, m, b = (int(d) for d in cores[k].shape)
        if b >= cap:
            continue
        extra = backend.random_normal((a, m, 1), cores[k], rng) * GROWTH_SCALE
        cores[k] = xp.concat([cores[k], extra], axis=2)
        nxt = cores[k + 1]
        shape = (1, *(int(d) for d in nxt.shape[1:]))
        extra = backend.random_normal(shape, nxt, rng) * GROWTH_SCALE
        cores[k + 1] = xp.concat([nxt, extra], axis=0)
    return cores


def check_options(x: SparseTensor, rank: Any) -> None:
    """What :func:`tnkit.tt` needs of a SparseTensor."""
    if x.unlisted != "missing":
        raise ValueError(
            "tt of a SparseTensor completes missing entries (unlisted='missing'); for sparse "
            "data with zeros unlisted use tnkit.cp or tnkit.tucker"
        )
    if rank is None:
        raise ValueError("tt of a SparseTensor needs rank= (the bond ranks to fit)")
