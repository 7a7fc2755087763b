"""Rank of a matrix by empirical variational Bayesian matrix factorisation (EVBMF).

Nakajima, Sugiyama, Babacan & Tomioka, "Global analytic solution of fully-observed variational
Bayesian matrix factorization", JMLR 14 (2013). For an L × M matrix (L ≤ M, α = L/M) with
singular values γ_h and Gaussian noise of variance σ², the EVB solution keeps component h iff

    γ_h > γ_EVB = σ √(M (1 + τ̄)(1 + α/τ̄)),   τ̄ ≈ 2.5129 √α,

and σ² is the minimiser of the free energy (eq. 29 of the paper, with x_h = γ_h²/(Mσ²),
τ(x) = ½(x − 1 − α + √((x − 1 − α)² − 4α)) and x̄ = (1 + τ̄)(1 + α/τ̄))

    F(σ²) = Σ_{x_h ≤ x̄} (x_h − log x_h) + Σ_{x_h > x̄} (x_h − τ_h + log((τ_h + 1)/x_h)
            + α log(τ_h/α + 1)).

The rank is therefore parameter-free; it is often aggressive, hence the weakening factor of
:func:`weakened_rank` (used by MUSCO, Gusak et al. 2019).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar

TAU_BAR = 2.5129


def _tau(x: np.ndarray, alpha: float) -> np.ndarray:
    b = x - (1.0 + alpha)
    return 0.5 * (b + np.sqrt(np.maximum(b * b - 4.0 * alpha, 0.0)))


def _free_energy(sigma2: float, s2: np.ndarray, m: int, alpha: float, xbar: float) -> float:
    x = s2 / (m * sigma2)
    low, high = x[x <= xbar], x[x > xbar]
    tau = _tau(high, alpha)
    value = np.sum(low - np.log(low))
    value += np.sum(high - tau + np.log((tau + 1.0) / high) + alpha * np.log(tau / alpha + 1.0))
    return float(value)


def evbmf_rank(s: np.ndarray, shape: tuple[int, int]) -> int:
    """EVBMF rank of a matrix of ``shape`` from all of its singular values ``s`` (descending)."""
    s = np.asarray(s, dtype=np.float64)
    n_rows, n_cols = sorted(int(d) for d in shape)
    alpha = n_rows / n_cols
    tau_bar = TAU_BAR * math.sqrt(alpha)
    xbar = (1.0 + tau_bar) * (1.0 + alpha / tau_bar)
    s2 = s[:n_rows] ** 2
    s2 = np.maximum(s2, 1e-300)
    h_max = max(min(math.ceil(n_rows / (1.0 + alpha)) - 1, n_rows - 1), 0)
    upper = float(np.sum(s2)) / (n_rows * n_cols)
    lower = max(s2[h_max] / (n_cols * xbar), float(np.mean(s2[h_max:])) / n_cols)
    if not lower < upper:
        lower = upper * 1e-3
    res = minimize_scalar(
        _free_energy,
        args=(s2, n_cols, alpha, xbar),
        bounds=(lower, upper),
        method="bounded",
        options={"xatol": upper * 1e-10},
    )
    threshold = math.sqrt(n_cols * res.x * xbar)
    return int(np.sum(s[:n_rows] > threshold))


def weakened_rank(full: int, rank: int, weakening: float) -> int:
    """``full − w·(full − rank)``: ``w = 1`` keeps the EVBMF rank, ``w = 0`` the full rank."""
    return max(1, int(round(full - weakening * (full - rank))))
