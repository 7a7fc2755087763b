"""Rank selection for one layer and across a whole model.

Rules (each returns the ranks of :mod:`tnkit.nn.geometry` for one method):

* **fraction** of the dense parameters or MACs: the largest rung of the method's rank
  ladder whose cost fits;
* **tolerance** τ on the relative weight error: the tnkit rule :func:`tnkit.linalg.rank_from_tol`
  on each unfolding, with τ split over the unfoldings by the HOSVD / TT-SVD bounds
  ``‖W − Ŵ‖² ≤ Σ_m ε_m²`` (De Lathauwer et al. 2000; Oseledets 2011);
* **EVBMF** on each unfolding (:mod:`tnkit.nn.evbmf`), optionally weakened;
* **global budget**: one parameter (or MAC) budget for all layers, spent where it buys the
  largest error reduction — greedy descent on the lower convex hull of each layer's
  (cost, relative squared error) curve, always taking the move with the smallest error
  increase per unit of cost saved.

A *ladder* is the list of rank tuples a method is tried at, cheapest first: one rank for SVD and
CP, and for multi-rank methods every rank scaled together, ``r_j(m) = ⌈m·full_j / M⌉``.
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


def ladder(info: LayerInfo, method: str, target: str = "params") -> list[tuple[int, ...]]:
    """Rank tuples cheaper than the dense layer, cheapest first (at least the lowest rung)."""
    full = geometry.full_ranks(info, method)
    top = max(full)
    rungs: list[tuple[int, ...]] = []
    for m in range(1, top + 1):
        ranks = tuple(max(1, min(f, math.ceil(m * f / top))) for f in full)
        if not rungs or ranks != rungs[-1]:
            rungs.append(ranks)
    dense = cost(info, "dense", (), target)
    cheap = [r for r in rungs if cost(info, method, r, target) <= dense]
    return cheap or rungs[:1]


def fraction_ranks(
    info: LayerInfo, method: str, fraction: float, target: str = "params"
) -> tuple[int, ...]:
    """Largest rung whose cost is at most ``fraction`` × the dense cost (else the lowest)."""
    budget = fraction * cost(info, "dense", (), target)
    rungs = ladder(info, method, target)
    fits = [r for r in rungs if cost(info, method, r, target) <= budget]
    return fits[-1] if fits else rungs[0]


def tol_ranks(weight: np.ndarray, info: LayerInfo, method: str, tol: float) -> tuple[int, ...]:
    """Ranks that keep the relative weight error ≤ ``tol`` (SVD, Tucker-2 and TT bounds)."""
    spectra = _spectra(weight, info, method)
    share = tol / math.sqrt(len(spectra))
    return tuple(linalg.rank_from_tol(s, share) for s in spectra)


def evbmf_ranks(
    weight: np.ndarray, info: LayerInfo, method: str, weakening: float = 1.0
) -> tuple[int, ...]:
    """EVBMF rank of each unfolding, weakened towards full rank; CP takes the largest."""
    ranks = []
    for m in unfoldings(weight, info, method):
        s = np.linalg.svd(m, compute_uv=False)
        ranks.append(weakened_rank(min(m.shape), evbmf_rank(s, m.shape), weakening))
    return (max(ranks),) if method in ("cp", "cp4") else tuple(ranks)


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


def allocate(curves: list[tuple[np.ndarray, np.ndarray]], budget: float) -> list[int]:
    """Pick one rung per layer so the summed cost is ≤ ``budget`` at a small summed error.

    ``curves[i] = (costs, errors)`` over layer i's rungs (increasing cost). Starting from the
    top rung of every layer, repeatedly make the move (to any cheaper rung of one layer) with
    the smallest ``Δerror / Δcost`` until the budget is met. Returns the rung index per layer
    (all lowest rungs when even those exceed the budget).
    """
    pos = [len(c) - 1 for c, _ in curves]
    total = sum(float(c[-1]) for c, _ in curves)
    while total > budget:
        best = None
        for i, (c, e) in enumerate(curves):
            j = pos[i]
            if j == 0:
                continue
            saved = c[j] - c[:j]
            slope = (e[:j] - e[j]) / np.maximum(saved, 1e-12)
            # among (near-)equal slopes take the nearest rung, so the budget is not overshot
            k = int(np.nonzero(slope <= slope.min() * (1 + 1e-9) + 1e-15)[0][-1])
            if best is None or slope[k] < best[0]:
                best = (float(slope[k]), i, k)
        if best is None:
            break
        _, i, k = best
        total -= float(curves[i][0][pos[i]] - curves[i][0][k])
        pos[i] = k
    return pos
