"""Rank selection for one layer and across a whole model.

Rules (each returns the ranks of :mod:`tnkit.nn.geometry` for one method):

* **fraction** of the dense parameters or MACs: the largest rung of the method's rank
  ladder whose cost fits;
* **tolerance** τ on the relative weight error: the tnkit rule :func:`tnkit.linalg.rank_from_tol`
  on each unfolding, with τ split over the unfoldings by the HOSVD / TT-SVD bounds
  ``‖W − Ŵ‖² ≤ Σ_m ε_m²`` (De Lathauwer et al. 2000; Oseledets 2011);
* **EVBMF** on each unfolding (:mod:`tnkit.nn.evbmf`), optionally weakened;
* **global budget**: one parameter (or MAC) budget for all layers, split so that the summed
  relative squared weight error is least — a multiple-choice knapsack over each layer's
  (cost, error) curve, solved exactly by dynamic programming on a discretized budget (no
  convexity needed: CP curves from fits are not convex).

A *ladder* is the list of rank tuples a method is tried at, cheapest first: one rank for SVD and
CP, and for multi-rank methods every rank scaled together, ``r_j(m) = ⌈m·full_j / M⌉``.

Every rule takes a ``multiple``: each rank it returns of at least ``multiple`` is rounded *up*
to a multiple of it, capped at the full rank (:func:`round_ranks`), and a ladder keeps only
such rungs, so a budget is still met by picking among them. oneDNN's CPU convolutions compute
output channels in blocks of 16 (AVX-512), so a rank of 17 costs nearly as much time as 32,
and any rank up to 16 as much as 16.
"""

from __future__ import annotations

import math

import numpy as np

from .. import linalg
from . import geometry
from .evbmf import evbmf_rank, weakened_rank
from .geometry import LayerInfo

METHODS = ("svd", "tucker", "cp", "cp4", "tt", "ttm")


def tt_tensor(weight: np.ndarray, info: LayerInfo, method: str) -> np.ndarray:
    """The tensor that TT decomposes: a kernel as (S, k_1..k_d, T); a matrix as TT-matrix modes."""
    if method == "tt":
        return np.moveaxis(weight, 0, -1)
    outs, ins = geometry.ttm_shapes(info)
    n = len(outs)
    x = weight.reshape(*outs, *ins)
    x = np.transpose(x, [a for j in range(n) for a in (j, n + j)])
    return x.reshape(geometry.tt_dims(info, method))


def unfoldings(weight: np.ndarray, info: LayerInfo, method: str) -> list[np.ndarray]:
    """The matrices whose spectra decide ``method``'s ranks."""
    if method == "svd":
        return [weight.reshape(weight.shape[0], -1)]
    if method in ("tucker", "cp", "cp4"):
        return [
            weight.reshape(weight.shape[0], -1),
            np.moveaxis(weight, 1, 0).reshape(weight.shape[1], -1),
        ]
    x = tt_tensor(weight, info, method)
    return [x.reshape(math.prod(x.shape[:j]), -1) for j in range(1, x.ndim)]


def _spectra(weight: np.ndarray, info: LayerInfo, method: str) -> list[np.ndarray]:
    return [np.linalg.svd(m, compute_uv=False) for m in unfoldings(weight, info, method)]


def cost(info: LayerInfo, method: str, ranks: tuple[int, ...], target: str = "params") -> int:
    """Parameters or MACs of ``method`` at ``ranks``."""
    return (geometry.params if target == "params" else geometry.macs)(info, method, ranks)


def round_ranks(
    ranks: tuple[int, ...], info: LayerInfo, method: str, multiple: int = 1
) -> tuple[int, ...]:
    """Each rank of at least ``multiple`` rounded up to a multiple of it, but at most the full
    rank (smaller ranks are kept: they fill one block of ``multiple`` channels anyway)."""
    full = geometry.full_ranks(info, method)
    return tuple(
        min(f, r if r < multiple else multiple * math.ceil(r / multiple))
        for r, f in zip(ranks, full)
    )


def ladder(
    info: LayerInfo, method: str, target: str = "params", multiple: int = 1
) -> list[tuple[int, ...]]:
    """Rank tuples cheaper than the dense layer, cheapest first (at least the lowest rung),
    each rank below ``multiple``, a multiple of it, or the full rank (:func:`round_ranks`)."""
    full = geometry.full_ranks(info, method)
    top = max(full)
    rungs: list[tuple[int, ...]] = []
    for m in range(1, top + 1):
        scaled = tuple(max(1, min(f, math.ceil(m * f / top))) for f in full)
        ranks = round_ranks(scaled, info, method, multiple)
        if not rungs or ranks != rungs[-1]:
            rungs.append(ranks)
    dense = cost(info, "dense", (), target)
    cheap = [r for r in rungs if cost(info, method, r, target) <= dense]
    return cheap or rungs[:1]


def fraction_ranks(
    info: LayerInfo, method: str, fraction: float, target: str = "params", multiple: int = 1
) -> tuple[int, ...]:
    """Largest rung whose cost is at most ``fraction`` × the dense cost (else the lowest)."""
    budget = fraction * cost(info, "dense", (), target)
    rungs = ladder(info, method, target, multiple)
    fits = [r for r in rungs if cost(info, method, r, target) <= budget]
    return fits[-1] if fits else rungs[0]


def tol_ranks(
    weight: np.ndarray, info: LayerInfo, method: str, tol: float, multiple: int = 1
) -> tuple[int, ...]:
    """Ranks that keep the relative weight error ≤ ``tol`` (SVD, Tucker-2 and TT bounds)."""
    spectra = _spectra(weight, info, method)
    share = tol / math.sqrt(len(spectra))
    ranks = tuple(linalg.rank_from_tol(s, share) for s in spectra)
    return round_ranks(ranks, info, method, multiple)


def evbmf_ranks(
    weight: np.ndarray, info: LayerInfo, method: str, weakening: float = 1.0, multiple: int = 1
) -> tuple[int, ...]:
    """EVBMF rank of each unfolding, weakened towards full rank; CP takes the largest."""
    ranks = []
    for m in unfoldings(weight, info, method):
        s = np.linalg.svd(m, compute_uv=False)
        ranks.append(weakened_rank(min(m.shape), evbmf_rank(s, m.shape), weakening))
    found = (max(ranks),) if method in ("cp", "cp4") else tuple(ranks)
    return round_ranks(found, info, method, multiple)


def error_curve(weight: np.ndarray, info: LayerInfo, method: str, rungs: list) -> np.ndarray:
    """Relative squared weight error at each rung (SVD exact; Tucker-2: truncated-HOSVD
    projection, exact for that projection; TT: the TT-SVD bound). Not defined for CP."""
    norm2 = float(np.sum(weight**2)) or 1.0
    if method == "tucker":
        u0 = linalg.truncated_svd(unfoldings(weight, info, method)[0]).u
        u1 = linalg.truncated_svd(unfoldings(weight, info, method)[1]).u
        core = np.einsum("ts...,ta,sb->ab...", weight, u0, u1)
        energy = np.sum(core.reshape(core.shape[0], core.shape[1], -1) ** 2, axis=2)
        kept = np.cumsum(np.cumsum(energy, axis=0), axis=1)
        return np.array([max(norm2 - kept[a - 1, b - 1], 0.0) / norm2 for a, b in rungs])
    if method in ("cp", "cp4"):
        raise ValueError("the CP error curve needs fits; use the fitted errors")
    tails = [
        np.concatenate([np.cumsum((s**2)[::-1])[::-1], [0.0]])
        for s in _spectra(weight, info, method)
    ]
    return np.array([sum(t[r] for t, r in zip(tails, ranks)) / norm2 for ranks in rungs])


def allocate(
    curves: list[tuple[np.ndarray, np.ndarray]], budget: float, resolution: int = 4096
) -> list[int]:
    """Pick one rung per layer so the summed cost is ≤ ``budget`` at the least summed error.

    ``curves[i] = (costs, errors)`` over layer i's rungs (increasing cost). This is a
    multiple-choice knapsack, solved exactly by dynamic programming over the budget split into
    ``resolution`` units (each rung's cost rounded *up*, so the result always fits):
    ``E_i(b) = min_k E_{i-1}(b − u_{ik}) + e_{ik}``. Rounding can leave up to one unit per layer
    unspent; a greedy pass then buys the upgrades with the most error saved per cost that
    still fit. Returns the rung index per layer (all lowest rungs when even those exceed the
    budget).
    """
    lowest = sum(float(c[0]) for c, _ in curves)
    if lowest >= budget:
        return [0] * len(curves)
    unit = budget / resolution
    best = np.zeros(resolution + 1)  # least error of the layers so far within b units
    choices = []
    for costs, errors in curves:
        units = np.ceil(np.asarray(costs, dtype=float) / unit - 1e-9).astype(int)
        table = np.full((len(units), resolution + 1), np.inf)
        for k, (u, e) in enumerate(zip(units, errors)):
            if u <= resolution:
                table[k, u:] = best[: resolution + 1 - u] + e
        choices.append(np.argmin(table, axis=0))
        best = table.min(axis=0)
    pos, b = [0] * len(curves), resolution
    for i in range(len(curves) - 1, -1, -1):
        pos[i] = int(choices[i][b])
        b -= int(np.ceil(float(curves[i][0][pos[i]]) / unit - 1e-9))
    return _spend_rest(curves, pos, budget)


def _spend_rest(curves: list, pos: list[int], budget: float) -> list[int]:
    """Greedy upgrades (most error saved per extra cost first) while they fit ``budget``."""
    spent = sum(float(c[p]) for (c, _), p in zip(curves, pos))
    while True:
        best = None
        for i, (c, e) in enumerate(curves):
            for k in range(pos[i] + 1, len(c)):
                extra = float(c[k] - c[pos[i]])
                gain = float(e[pos[i]] - e[k])
                if spent + extra <= budget and gain > 0:
                    rate = gain / max(extra, 1e-12)
                    if best is None or rate > best[0]:
                        best = (rate, i, k, extra)
        if best is None:
            return pos
        _, i, k, extra = best
        pos[i], spent = k, spent + extra
