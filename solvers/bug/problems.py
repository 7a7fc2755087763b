"""Test problems: each returns the right-hand side ``F = -iH`` of ``Ẏ = -iHY`` as a
:class:`SumOfProducts` (``.hamiltonian`` is ``H``; ``.to_dense()`` the dense generator), plus
initial states, trees and dense references for small sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse.linalg as spla

from tnkit import backend, checks
from tnkit.formats.ttn import TTN
from tnkit.lowrank import LowRank

from .operators import SumOfProducts

SIGMA_X = np.array([[0.0, 1.0], [1.0, 0.0]])
SIGMA_Z = np.array([[1.0, 0.0], [0.0, -1.0]])
NUMBER = np.array([[1.0, 0.0], [0.0, 0.0]])  # n = |1><1| with |1> = e_1 = (1, 0)


def _schrodinger(dims: tuple[int, ...], terms: list) -> SumOfProducts:
    ham = SumOfProducts(dims, terms)
    op = ham.scaled(-1j)
    op.hamiltonian = ham
    return op


def _check_sites(n_sites: int, least: int = 2, name: str = "n_sites") -> None:
    checks.check_int(n_sites, name, least)


def _check_reals(**values: float) -> None:
    for name, value in values.items():
        checks.check_real(value, name)


def transverse_field_ising(n_sites: int, J: float = 1.0, g: float = 1.0) -> SumOfProducts:
    """``F = -iH``, ``H = -J Σ_k σz^(k) σz^(k+1) - g Σ_k σx^(k)`` (open chain).

    Ceruti, Lubich & Sulz (SINUM 2023), §6. The state may live on any tree.
    """
    _check_sites(n_sites)
    _check_reals(J=J, g=g)
    terms = [(-J, {k: SIGMA_Z, k + 1: SIGMA_Z}) for k in range(n_sites - 1)]
    terms += [(-g, {k: SIGMA_X}) for k in range(n_sites)]
    return _schrodinger((2,) * n_sites, terms)


def long_range_ising(
    n_sites: int, omega: float = 1.0, delta: float = 1.0, nu: float = 2.0, alpha: float = 1.0
) -> SumOfProducts:
    """``F = -iH``, ``H = Σ_k (Ω σx^(k) + Δ n^(k)) + ν Σ_{k<l} |k-l|^(-α) n^(k) n^(l)``.

    ``n = diag(1, 0)``; Ceruti, Kusch, Lubich & Sulz (arXiv 2412.00858), §5.1.
    """
    _check_sites(n_sites)
    _check_reals(omega=omega, delta=delta, nu=nu, alpha=alpha)
    terms = [(omega, {k: SIGMA_X}) for k in range(n_sites)]
    terms += [(delta, {k: NUMBER}) for k in range(n_sites)]
    terms += [
        (nu * abs(k - l) ** (-alpha), {k: NUMBER, l: NUMBER})
        for k in range(n_sites)
        for l in range(k + 1, n_sites)
    ]
    return _schrodinger((2,) * n_sites, terms)


def matrix_schrodinger(n: int = 100) -> SumOfProducts:
    """``Ẏ = -i(DY + YD + VYV)``, ``D = ½ tridiag(-1, 2, -1)``, ``V = diag(1 - cos(2πj/n))``,
    ``j = -n/2 .. n/2 - 1`` (Ceruti, Kusch & Lubich, BIT 2022, §5)."""
    _check_sites(n, least=2, name="n")
    d = 0.5 * (2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1))
    j = np.arange(-(n // 2), n - n // 2)
    v = np.diag(1 - np.cos(2 * np.pi * j / n))
    return _schrodinger((n, n), [(1.0, {0: d}), (1.0, {1: d}), (1.0, {0: v, 1: v})])


def matrix_initial(n: int = 100, rank: int = 4, seed: int = 0) -> LowRank:
    """``U0 S0 V0ᵀ``: random orthonormal ``U0, V0``, ``S0 = diag(10^-i)`` (i = 1..rank), norm 1."""
    _check_sites(n, least=1, name="n")
    checks.check_int(rank, "rank")
    if rank > n:
        raise ValueError(f"rank must be at most n = {n}, got {rank}")
    rng = np.random.default_rng(checks.check_seed(seed))
    u = np.linalg.qr(rng.standard_normal((n, rank)))[0]
    v = np.linalg.qr(rng.standard_normal((n, rank)))[0]
    s = 10.0 ** -np.arange(1, rank + 1)
    return LowRank(u, np.diag(s / np.linalg.norm(s)), v)


def binary_tree(n_sites: int) -> Any:
    """A balanced binary tree over ``0..n_sites-1`` (nested tuples)."""
    _check_sites(n_sites)

    def build(lo: int, hi: int) -> Any:
        if hi - lo == 1:
            return lo
        mid = (lo + hi + 1) // 2
        return (build(lo, mid), build(mid, hi))

    return build(0, n_sites)


def all_up(tree: Any, rank: int = 2) -> TTN:
    """Every spin in ``e_1 = (1, 0)``, ranks padded to ``rank`` with exact zeros (complex)."""
    n = len(_leaves(tree))
    up = np.array([1.0 + 0j, 0.0])
    return TTN.product_state(tree, [up] * n, rank=rank)


def magnetization(n_sites: int, axis: str = "z") -> SumOfProducts:
    """The mean magnetisation ``(1/N) Σ_k σ^(k)`` along ``axis`` ("x" or "z")."""
    if axis not in ("x", "z"):
        raise ValueError(f"axis must be 'x' or 'z', got {axis!r}")
    _check_sites(n_sites, least=1)
    m = SIGMA_Z if axis == "z" else SIGMA_X
    return SumOfProducts((2,) * n_sites, [(1.0 / n_sites, {k: m}) for k in range(n_sites)])


def reference(op: SumOfProducts, y0: Any, t: float) -> np.ndarray:
    """Dense ``exp(t F) y0`` by ``scipy.sparse.linalg.expm_multiply`` (small problems)."""
    if not isinstance(op, SumOfProducts):
        raise TypeError(f"op must be a SumOfProducts, got {type(op).__name__}")
    y0 = np.asarray(backend.to_numpy(backend.as_data_tensor(y0, "y0")), dtype=complex)
    if y0.shape != op.dims:
        raise ValueError(f"y0 must be a dense array of shape {op.dims}, got {y0.shape}")
    t = checks.check_real(t, "t")
    out = spla.expm_multiply(t * op.to_sparse(), y0.ravel())
    return out.reshape(y0.shape)


def _leaves(t: Any) -> list[int]:
    return [t] if isinstance(t, int) else [x for c in t for x in _leaves(c)]


PROBLEMS = {
    "ising": transverse_field_ising,
    "long-range-ising": long_range_ising,
    "matrix-schrodinger": matrix_schrodinger,
}
