"""Tensor-train (TT / MPS) format.

.. math::  X[i_0, ..., i_{N-1}] = G_0[:, i_0, :] \\, G_1[:, i_1, :] \\cdots G_{N-1}[:, i_{N-1}, :]

with cores ``G_k`` of shape (r_{k-1}, n_k, r_k), r_{-1} = r_{N-1} = 1 (Oseledets, "Tensor-train
decomposition", SIAM J. Sci. Comput. 2011). As a network: nodes ``"core{k}"`` joined by bonds
``"b{k}"`` (between cores k-1 and k); the first and last node store 2-D arrays because a
dimension-1 boundary leg would be an open leg, and :attr:`TT.cores` returns 3-D views.

Rounding (Oseledets 2011, Alg. 2) truncates left to right with the per-bond error
``tol * ||X|| / sqrt(N-1)``, so the total relative error is ``<= tol``. Instead of making the
cores right-orthonormal first, a sweep from the right keeps only the triangular factors
``L_k`` of ``T_{≥k} = L_k Q_k`` (``geqrf`` without forming ``Q``); at bond ``k`` the SVD of
``A_k L_{k+1}`` (``A_k`` the core, after the projections so far) has the singular values and
left vectors of the full unfolding, and the rest is projected onto the kept ``U``:
``A_{k+1} = (Uᴴ A_k) G_{k+1}``. Same result, a quarter less time on 40-site TTs.

Randomized rounding (``round(rank=, method="randomized")``, :func:`round_sum` for a sum of
TTs without forming it) sketches the TT from the right with a random Gaussian TT and
orthogonalises the sketched cores left to right (Al Daas et al., SIAM J. Sci. Comput. 2023);
its cost is linear in the number of terms of a sum. See :func:`round_sum`.

Arithmetic (``+``, ``-``, ``*`` by a scalar or Hadamard, :meth:`dot`) is shared with TR; see
:mod:`tnkit.formats._arith`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend, checks, io, linalg
from ._arith import (
    CoreChain,
    block_diag_core,
    ct,
    left_mul,
    right_gauges,
    right_mul,
    round_chain,
    round_from_right,
    zeros,
)
from ._base import as_arrays

__all__ = ["TT", "round_sum"]  # (``tt_round_sum``, its alias for ``tnkit``, is left out)


@io.register
class TT(CoreChain):
    """Tensor train from a list of 3-D cores (r_{k-1}, n_k, r_k) with boundary ranks 1."""

    def __init__(
        self,
        cores: list[Any],
        *,
        history: list[float] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        cores = as_arrays(cores, "cores")
        if not cores:
            raise ValueError("cores must hold at least one core")
        shapes = [tuple(int(d) for d in c.shape) for c in cores]
        if any(len(s) != 3 for s in shapes):
            raise ValueError(f"cores must be 3-D (r_prev, n, r_next), got shapes {shapes}")
        if shapes[0][0] != 1 or shapes[-1][2] != 1:
            raise ValueError(f"boundary ranks must be 1, got shapes {shapes}")
        for k in range(1, len(shapes)):
            if shapes[k - 1][2] != shapes[k][0]:
                raise ValueError(
                    f"rank mismatch between core {k - 1} {shapes[k - 1]} and core {k} {shapes[k]}"
                )
        self._set_cores(cores, self.add_node)
        self._init_extras(history, options)

    def _set_cores(self, cores: list[Any], put: Any) -> None:
        """Store 3-D ``cores`` as nodes ``core{k}`` (boundary ranks dropped) through ``put``."""
        xp = backend.namespace(cores[0])
        n = len(cores)
        for k, c in enumerate(cores):
            if n == 1:
                put("core0", xp.reshape(c, (c.shape[1],)), ("i0",))
            elif k == 0:
                put("core0", c[0], ("i0", "b1"))
            elif k == n - 1:
                put(f"core{k}", c[:, :, 0], (f"b{k}", f"i{k}"))
            else:
                put(f"core{k}", c, (f"b{k}", f"i{k}", f"b{k + 1}"))

    def _rebuild(self) -> TT:
        return TT(self.cores)

    # ------------------------------------------------------------------ accessors
    @property
    def cores(self) -> list[Any]:
        """The cores as 3-D arrays (r_{k-1}, n_k, r_k)."""
        n = len(self)
        out = []
        for k in range(n):
            a = self[f"core{k}"]
            xp = backend.namespace(a)
            if n == 1:
                out.append(xp.reshape(a, (1, a.shape[0], 1)))
            elif k == 0:
                out.append(xp.reshape(a, (1, *a.shape)))
            elif k == n - 1:
                out.append(xp.reshape(a, (*a.shape, 1)))
            else:
                out.append(a)
        return out

    @property
    def rank(self) -> tuple[int, ...]:
        """The N-1 inner bond ranks."""
        return tuple(int(c.shape[2]) for c in self.cores[:-1])

    def to_tensor(self) -> Any:
        """Dense tensor by sequential matrix products (left to right)."""
        cores = self.cores
        xp = backend.namespace(cores[0])
        t = xp.reshape(cores[0], (cores[0].shape[1], cores[0].shape[2]))
        for c in cores[1:]:
            r, m, s = c.shape
            t = xp.reshape(t @ xp.reshape(c, (r, m * s)), (-1, s))
        return xp.reshape(t, tuple(int(c.shape[1]) for c in cores))

    # ------------------------------------------------------------------ canonical forms
    def orthogonalize(self, center: int = 0) -> TT:
        """An equal TT whose cores left of ``center`` are left-orthonormal and right of it
        right-orthonormal (QR sweeps); ``center`` carries the norm."""
        n = len(self)
        center = checks.check_int(center, "center", 0)
        if not 0 <= center < n:
            raise ValueError(f"center must be an integer in [0, {n - 1}], got {center!r}")
        return self._like(_orthogonal_cores(self.cores, center))

    def round(
        self,
        tol: float | None = None,
        rank: int | list[int] | None = None,
        *,
        method: str = "svd",
        oversample: int = 10,
        seed: int | np.random.Generator | None = 0,
    ) -> TT:
        """TT-rounding: recompress to relative error ``<= tol`` and/or bond ranks ``<= rank``.

        Parameters
        ----------
        tol : relative Frobenius error target (``method="svd"``: guaranteed; with
            ``"randomized"`` it only budgets the final truncation, see :func:`round_sum`).
        rank : one int for every bond or a list of N-1 ints; needed by ``"randomized"``.
        method : ``"svd"`` (deterministic, Oseledets 2011, Alg. 2; the module docstring) or
            ``"randomized"`` (Randomize-then-Orthogonalize, :func:`round_sum` with this TT
            as the only term): ``O(N n R ℓ (R + ℓ))`` instead of ``O(N n R³)`` for a TT of
            ranks ``R`` and sketch ranks ``ℓ = rank + oversample``, worth it when ``R`` is
            several times ``ℓ``.
        oversample, seed : sketch ranks ``rank + oversample`` and the seed (an int or a numpy
            ``Generator``) of the Gaussian sketch; ignored by ``"svd"``.
        """
        n = len(self)
        tol, ranks, rng = _round_settings(tol, rank, n, method, oversample, seed, "round")
        if method == "randomized":
            return self._like(_randomized_round([self.cores], ranks, tol, oversample, rng))
        cores = self.cores
        gauges = right_gauges(cores)
        max_err = None
        if tol is not None:  # ||X|| = ||G_0 L_1||, as T = G_0 L_1 Q_1 with Q_1 row-orthonormal
            xp = backend.namespace(cores[0])
            norm = float(xp.linalg.vector_norm(right_mul(xp, cores[0], gauges[1])))
            max_err = tol * norm / math.sqrt(max(n - 1, 1))
        return self._like(round_chain(cores, gauges, max_err, ranks))

    @staticmethod
    def _sum_cores(a: list[Any], b: list[Any]) -> list[Any]:
        """Cores of the sum: the first side by side, the last stacked, the others
        block-diagonal, so that the boundary ranks stay 1."""
        if len(a) == 1:
            return [a[0] + b[0]]
        xp = backend.namespace(a[0], b[0])
        middle = [block_diag_core(xp, ca, cb) for ca, cb in zip(a[1:-1], b[1:-1])]
        return [xp.concat([a[0], b[0]], axis=2), *middle, xp.concat([a[-1], b[-1]], axis=0)]

    def to_tensorly(self) -> Any:
        """TensorLy ``TTTensor`` (needs tensorly; arrays are shared)."""
        from tensorly.tt_tensor import TTTensor

        return TTTensor(self.cores)

    @classmethod
    def from_tensorly(cls, tt_tensor: Any) -> TT:
        """Build from a TensorLy ``TTTensor`` or a list of 3-D cores."""
        return cls(list(tt_tensor))


def _orthogonal_cores(cores: list[Any], center: int) -> list[Any]:
    """Cores of the same TT, left-orthonormal left of ``center`` and right-orthonormal right
    of it, by QR sweeps towards ``center``."""
    cores = list(cores)
    xp = backend.namespace(cores[0])
    for k in range(center):
        r, m, s = cores[k].shape
        q, rr = linalg.qr(xp.reshape(cores[k], (r * m, s)))
        cores[k] = xp.reshape(q, (r, m, q.shape[1]))
        cores[k + 1] = left_mul(xp, rr, cores[k + 1])
    for k in range(len(cores) - 1, center, -1):
        r, m, s = cores[k].shape
        q, rr = linalg.qr(ct(xp, xp.reshape(cores[k], (r, m * s))))
        cores[k] = xp.reshape(ct(xp, q), (q.shape[1], m, s))
        cores[k - 1] = right_mul(xp, cores[k - 1], ct(xp, rr))
    return cores


def _bond_ranks(rank: int | list[int] | None, n: int) -> list[int | None]:
    """``rank`` as a list of N-1 bond caps (None = uncapped); validates it."""
    if rank is None:
        return [None] * max(n - 1, 0)
    if isinstance(rank, (int, np.integer)) and not isinstance(rank, bool):
        ranks = [rank] * (n - 1)
    elif isinstance(rank, (list, tuple)):
        ranks = list(rank)
    else:
        ranks = []
    if len(ranks) != n - 1:
        raise ValueError(f"rank must be a positive int or a list of {n - 1} of them, got {rank!r}")
    return [checks.check_int(r, f"rank[{k}]", 1) for k, r in enumerate(ranks)]


# ---------------------------------------------------------------------- randomized rounding
_METHODS = ("svd", "randomized")
_NEEDS_RANK = "method='randomized' needs rank= (the sketch ranks are rank + oversample)"


def round_sum(
    terms: Sequence[TT],
    *,
    rank: int | list[int] | None = None,
    tol: float | None = None,
    coefficients: Sequence[complex] | None = None,
    method: str = "randomized",
    oversample: int = 10,
    seed: int | np.random.Generator | None = 0,
) -> TT:
    """Round ``X = Σ_j c_j T_j`` to bond ranks ``<= rank`` without forming the sum's cores.

    ``method="randomized"`` is Randomize-then-Orthogonalize (Al Daas, Ballard, Cazeaux,
    Hallman, Miedlar, Pasha, Reid & Saibaba, "Randomized algorithms for rounding in the
    tensor-train format", SIAM J. Sci. Comput. 45(1), 2023), applied to a sum. With a
    Gaussian TT ``R`` of ranks ``ℓ_k = rank_k + oversample``, the right sketches
    ``W_k = X_{>k} R_{>k}ᵀ`` (``r_k × ℓ_k``: cores ``k+1 .. N-1`` of ``X`` and ``R``
    contracted over their open legs) come from the right,
    ``W_{k-1} = Σ_i X_k[:, i, :] W_k R_k[:, i, :]ᵀ``. A sweep from the left then takes
    ``Y_0 = X_0`` and, at bond ``k``, the QR ``Y_k W_k = Q_k R`` (``Y_k`` unfolded
    ``(ℓ_{k-1} n_k) × r_k``), keeps ``Q_k`` as core ``k`` and carries
    ``Y_{k+1} = (Q_kᴴ Y_k) X_{k+1}``: the result is ``X`` projected orthogonally onto the
    nested ranges of the sketches ``X_{≤k} W_k``, of ranks ``ℓ_k``, which holds ``X``
    exactly when its ranks are at most ``ℓ_k`` and is otherwise close to the best rank-``ℓ``
    approximation with high probability (Halko, Martinsson & Tropp 2011). Both passes
    distribute over the terms, because the sum's cores are block-diagonal: per term
    ``W_k^{(j)}``, ``Y_k^{(j)}`` and ``Q_kᴴ Y_k^{(j)}``, and ``Y_k W_k = Σ_j Y_k^{(j)}
    W_k^{(j)}``. Last, the rank-``ℓ`` result, left-orthonormal, is truncated to ``rank`` by
    SVDs from the right. For ``m`` terms of ranks ``r`` and ``ℓ = rank + oversample`` this
    costs ``O(N n m r ℓ (r + ℓ) + N n ℓ³)`` flops against ``O(N n (m r)³)`` for the
    deterministic rounding of the formed sum.

    Parameters
    ----------
    terms : TTs of one shape and array library (mixed dtypes are promoted).
    rank : one int for every bond or a list of N-1 ints; required by ``"randomized"``.
    tol : relative Frobenius error budget. ``"svd"``: the guaranteed error of rounding the
        formed sum. ``"randomized"``: the budget of the final deterministic truncation of the
        rank-``ℓ`` sketch ``Y`` (at most ``tol·||Y|| <= tol·||X||`` dropped), on top of the
        randomized error ``||X - Y||``, which is not bounded by ``tol``: the total error is
        ``<= ||X - Y|| + tol·||X||``. It lowers the ranks where the spectrum allows.
    coefficients : one real or complex factor per term (default all 1).
    method : ``"randomized"`` or ``"svd"`` (``sum(c_j T_j).round(tol, rank)``, the oracle).
    oversample : ``ℓ_k - rank_k >= 0`` (capped where the sum's rank or the shape is smaller).
    seed : int or numpy ``Generator`` of the Gaussian sketch (``None``: fresh entropy); the
        same seed gives the same sketch on numpy, torch and cupy (drawn by numpy, then moved
        to the cores' device), hence the same result up to rounding.

    Returns
    -------
    TT of ranks ``<= rank``; ``"randomized"``: cores ``1 .. N-1`` right-orthonormal (the
    norm in core 0), ``"svd"``: cores ``0 .. N-2`` left-orthonormal.
    """
    terms = _check_terms(terms)
    coefficients = _check_coefficients(coefficients, len(terms))
    tol, ranks, rng = _round_settings(
        tol, rank, len(terms[0]), method, oversample, seed, "round_sum"
    )
    scaled = [t if c == 1 else t * c for t, c in zip(terms, coefficients)]
    if method == "svd":
        total = scaled[0]
        for t in scaled[1:]:
            total = total + t
        return total.round(tol, rank)
    return TT._made(_randomized_round([t.cores for t in scaled], ranks, tol, oversample, rng))


tt_round_sum = round_sum  # the name ``tnkit.tt_round_sum`` exports


def _randomized_round(
    terms: list[list[Any]],
    ranks: list[int],
    tol: float | None,
    oversample: int,
    rng: np.random.Generator,
) -> list[Any]:
    """Cores of the randomized rounding of the sum of the TTs with cores ``terms``
    (:func:`round_sum`): sketch at ranks ``ranks + oversample``, then truncate."""
    xp = backend.namespace(terms[0][0])
    dtype = xp.result_type(*[t[0].dtype for t in terms])
    terms = [[c if c.dtype == dtype else xp.astype(c, dtype) for c in t] for t in terms]
    if len(terms[0]) == 1:
        total = terms[0][0]
        for t in terms[1:]:
            total = total + t[0]
        return [total]
    sizes = _sketch_ranks(terms, [r + oversample for r in ranks])
    stacked = _stacked_cores(terms)
    cores = _orthogonalize_sketched(stacked, _right_sketches(stacked, sizes, rng))
    max_err = None
    if tol is not None:  # cores 0..N-2 are left-orthonormal: ||Y|| = ||Y_{N-1}||
        norm = float(xp.linalg.vector_norm(cores[-1]))
        max_err = tol * norm / math.sqrt(len(cores) - 1)
    return round_from_right(cores, max_err, ranks, left_orthonormal=True)


def _sketch_ranks(terms: list[list[Any]], wanted: list[int]) -> list[int]:
    """``ℓ_k``: ``wanted[k]``, capped by the sum's rank ``Σ_j r_k^{(j)}`` and by the sizes
    of the unfoldings (``ℓ_k <= ℓ_{k-1} n_k`` and ``ℓ_k <= n_{k+1} ℓ_{k+1}``)."""
    dims = [int(c.shape[1]) for c in terms[0]]
    sizes = [min(w, sum(int(t[k].shape[2]) for t in terms)) for k, w in enumerate(wanted)]
    for k in range(len(sizes)):
        sizes[k] = min(sizes[k], dims[k] * (sizes[k - 1] if k else 1))
    for k in range(len(sizes) - 1, -1, -1):
        sizes[k] = min(sizes[k], dims[k + 1] * (sizes[k + 1] if k + 1 < len(sizes) else 1))
    return sizes


def _stacked_cores(terms: list[list[Any]]) -> list[Any]:
    """Core ``k`` of every term in one ``(m, r_{k-1}, n_k, r_k)`` array, so that the per-term
    products of :func:`round_sum` are batched matrix products; a term of smaller ranks is
    padded with zeros (a sum with zero blocks is the same sum)."""
    xp = backend.namespace(terms[0][0])
    n = len(terms[0])
    bound = [1] + [max(int(t[k].shape[2]) for t in terms) for k in range(n - 1)] + [1]
    out = []
    for k in range(n):
        padded = []
        for t in terms:
            c = t[k]
            r, m, s = (int(d) for d in c.shape)
            if s < bound[k + 1]:
                c = xp.concat([c, zeros(xp, (r, m, bound[k + 1] - s), c)], axis=2)
            if r < bound[k]:
                c = xp.concat([c, zeros(xp, (bound[k] - r, m, bound[k + 1]), c)], axis=0)
            padded.append(c)
        out.append(xp.stack(padded))
    return out


def _right_sketches(stacked: list[Any], sizes: list[int], rng: np.random.Generator) -> list[Any]:
    """``W_k`` for ``k = 0 .. N-2``, the terms' ``W_k^{(j)} = T^{(j)}_{>k} R_{>k}ᵀ``
    (``r_k × ℓ_k``) stacked into one ``(m r_k) × ℓ_k`` matrix, scaled to Frobenius norm 1 (a
    common factor leaves the ranges of ``X_{≤k} W_k`` as they are and keeps long trains
    clear of over- and underflow). ``R``'s cores are drawn from ``rng`` right to left."""
    xp = backend.namespace(stacked[0])
    terms, n = int(stacked[0].shape[0]), len(stacked)
    bounds = [*sizes, 1]
    w = xp.ones((terms, 1, 1), dtype=stacked[0].dtype, **backend.device_kwargs(stacked[0]))
    out = [None] * (n - 1)
    for k in range(n - 1, 0, -1):
        _, r, m, s = (int(d) for d in stacked[k].shape)
        sketch = backend.random_normal((bounds[k - 1], m * bounds[k]), stacked[k], rng)
        t = xp.matmul(xp.reshape(stacked[k], (terms, r * m, s)), w)  # (terms, r m, ℓ_k)
        flat = xp.reshape(t, (terms * r, m * bounds[k])) @ sketch.T  # (terms r, ℓ_{k-1})
        scale = xp.linalg.vector_norm(flat)
        flat = flat / xp.where(scale > 0, scale, xp.ones_like(scale))
        out[k - 1] = flat
        w = xp.reshape(flat, (terms, r, bounds[k - 1]))
    return out


def _orthogonalize_sketched(stacked: list[Any], sketches: list[Any]) -> list[Any]:
    """The left-to-right sweep of :func:`round_sum` on the terms side by side,
    ``Y_k = [Y_k^{(1)} ⋯ Y_k^{(m)}]`` unfolded ``(ℓ_{k-1} n_k) × (m r_k)``: core ``k`` is
    ``Q_k`` from the QR of ``Y_k W_k``, and ``Y_{k+1}^{(j)} = (Q_kᴴ Y_k)^{(j)} X_{k+1}^{(j)}``
    (batched over the terms ``j``)."""
    xp = backend.namespace(stacked[0])
    terms, n = int(stacked[0].shape[0]), len(stacked)
    _, _, m, s = (int(d) for d in stacked[0].shape)
    y = xp.reshape(xp.permute_dims(stacked[0][:, 0], (1, 0, 2)), (m, terms * s))
    out, left = [], 1
    for k in range(n - 1):
        m = int(stacked[k].shape[2])
        q, _ = linalg.qr(y @ sketches[k])
        size = int(q.shape[1])
        out.append(xp.reshape(q, (left, m, size)))
        proj = ct(xp, q) @ y  # (ℓ_k, terms r_k)
        _, r, m, s = (int(d) for d in stacked[k + 1].shape)
        if k + 1 == n - 1:  # last core: Σ_j proj^{(j)} X_{N-1}^{(j)}
            out.append(xp.reshape(proj @ xp.reshape(stacked[k + 1], (terms * r, m)), (size, m, 1)))
            break
        proj = xp.permute_dims(xp.reshape(proj, (size, terms, r)), (1, 0, 2))
        t = xp.matmul(proj, xp.reshape(stacked[k + 1], (terms, r, m * s)))  # (terms, ℓ, m s)
        t = xp.permute_dims(xp.reshape(t, (terms, size, m, s)), (1, 2, 0, 3))
        y, left = xp.reshape(t, (size * m, terms * s)), size
    return out


def _round_settings(
    tol: Any, rank: Any, n: int, method: Any, oversample: Any, seed: Any, caller: str
) -> tuple[float | None, list[int | None], np.random.Generator]:
    """The checked ``tol``, the bond caps and the sketch's generator of ``TT.round`` and
    :func:`round_sum` (``caller`` names the function in the messages); ``"randomized"``
    needs ``rank``."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    checks.check_int(oversample, "oversample", 0)
    seed = checks.check_seed(seed, generator=True)
    if tol is None and rank is None:
        raise ValueError(f"{caller} needs tol= or rank=")
    tol = checks.check_real(tol, "tol", low=0, high=1, open_high=True, optional=True)
    if method == "randomized" and rank is None:
        raise ValueError(_NEEDS_RANK)
    return tol, _bond_ranks(rank, n), np.random.default_rng(seed)


def _check_terms(terms: Any) -> list[TT]:
    """``terms`` as a non-empty list of TTs of one shape and library."""
    if isinstance(terms, TT) or not isinstance(terms, (list, tuple)):
        raise TypeError(f"terms must be a list or tuple of TTs, got {type(terms).__name__}")
    if not terms:
        raise ValueError("terms must hold at least one TT")
    for j, t in enumerate(terms):
        if not isinstance(t, TT):
            raise TypeError(f"terms[{j}] must be a TT, got {type(t).__name__}")
        if t.shape != terms[0].shape:
            raise ValueError(f"terms[{j}] has shape {t.shape}, terms[0] {terms[0].shape}")
        if t.backend != terms[0].backend:
            raise TypeError(
                f"terms[{j}] holds {t.backend} arrays, terms[0] {terms[0].backend} arrays"
            )
    return list(terms)


def _check_coefficients(coefficients: Any, m: int) -> list[complex]:
    """``coefficients`` as ``m`` finite real or complex numbers (None: all 1)."""
    if coefficients is None:
        return [1] * m
    if not isinstance(coefficients, (list, tuple, np.ndarray)) or len(coefficients) != m:
        raise ValueError(
            f"coefficients must be a sequence of {m} numbers (one per term), got {coefficients!r}"
        )
    out = []
    for j, c in enumerate(coefficients):
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, float, complex, np.number)):
            raise TypeError(f"coefficients[{j}] must be a real or complex number, got {c!r}")
        if not np.isfinite(c):
            raise ValueError(f"coefficients[{j}] must be finite, got {c!r}")
        out.append(c.item() if isinstance(c, np.number) else c)
    return out
