"""CP of a :class:`tnkit.sparse.SparseTensor`, from its listed entries only.

Every sweep touches the ``nnz`` listed entries, never the dense tensor. With ``h_e`` the
Hadamard product of the other factors' rows at entry ``e``
(``h_e = ⊛_{j≠k} A_j[i_{e,j}, :]``):

* ``unlisted="zero"`` — plain CP-ALS. The MTTKRP is a scatter-add over the entries,
  ``M_k[i] = Σ_{e: i_{e,k} = i} v_e conj(h_e)``, the Gram matrices come from the factors, and
  ``A_k ← M_k Γ_k⁻¹`` (or HALS sweeps with ``nonnegative=True``) as for dense data. The error
  ``||x||² - 2 Re⟨x, x̂⟩ + ||x̂||²`` needs the model only at the listed entries.
* ``unlisted="missing"`` — completion by ALS with row-wise normal equations (Karlsson,
  Kressner & Uschmajew, "Parallel algorithms for tensor completion in the CP format",
  Parallel Computing 57, 2016), no imputation: each row ``a`` of ``A_k`` solves
  ``(Σ_e conj(h_e) h_eᵀ + λ I) a = Σ_e conj(h_e) v_e + λ a_old`` over the entries in its
  row, batched; ``λ`` is ``RIDGE`` times the mean diagonal (a proximal ridge: rows without
  entries keep their values); with ``nonnegative=True`` HALS sweeps on the same row systems
  (:func:`tnkit.decompose._nonneg.hals_rows`). The error is ``||v - x̂(listed)|| / ||v||``.

Bro's extrapolation runs as in dense CP (a trial costs one evaluation of the model at the
entries). The start ``init="svd"`` (:func:`sketched_start`) sketches each unfolding with a
Khatri–Rao product of Gaussian matrices — an MTTKRP over the entries — and keeps its leading
left singular subspace; with missing entries the start is spectral, from pairs of entries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend, linalg
from ..formats.cp import CP
from ..sparse import SparseTensor, entry_ids
from . import _common as cm
from . import _nonneg
from .cp import (
    Extrapolation,
    _better,
    _column_norms,
    _conj,
    _hadamard,
    _model_norm2,
    _solve,
    given_factors,
)

RIDGE = 1e-10  # relative ridge of the row-wise normal equations (unlisted="missing")
PAIR_LIMIT = 2**24  # most entry pairs the debiased start forms per mode
DENSE_EIGH = 4096  # modes up to this size take a dense eigendecomposition in the start
GRAM_CHUNK = 2**22  # most entries of the row Gram products formed at once (× R²)


class Entries:
    """The listed entries prepared for sweeps: per-mode indices and row-sum operators."""

    def __init__(self, x: SparseTensor) -> None:
        self.x, self.v = x, x.values
        self.idx = [x.indices[:, k] for k in range(x.ndim)]
        self.sums = [backend.RowSums(i, n) for i, n in zip(self.idx, x.shape)]
        self.chunks: dict[tuple[int, int], list[tuple[int, backend.RowSums]]] = {}
        xp = backend.namespace(x.values)
        self.norm2 = float(xp.real(xp.sum(xp.abs(x.values) ** 2)))

    def rows(self, factors: list[Any], skip: int | None = None) -> Any:
        """``(nnz, R)``: the Hadamard product of the factors' rows at each entry (all modes
        but ``skip``)."""
        xp = backend.namespace(factors[0])
        out = None
        for j, a in enumerate(factors):
            if j != skip:
                rows = xp.take(a, self.idx[j], axis=0)
                out = rows if out is None else out * rows
        return out

    def model(self, factors: list[Any]) -> Any:
        """The CP model's values at the listed entries, ``(nnz,)``."""
        return backend.namespace(factors[0]).sum(self.rows(factors), axis=1)

    def mttkrp(self, factors: list[Any], mode: int) -> Any:
        h = self.rows(factors, mode)
        return self.sums[mode](self.v[:, None] * _conj(h)), h

    def row_sums(self, mode: int, width: int, features: Callable[[slice], Any]) -> Any:
        """``(n_mode, width)``: the sums over each row's entries of ``features(part)``, an
        ``(entries in part, width)`` array, taken over chunks of at most ``GRAM_CHUNK / width``
        entries (their row-sum operators prepared once per chunk size)."""
        step = max(1, GRAM_CHUNK // width)
        key = (mode, step)
        if key not in self.chunks:
            idx, n = self.idx[mode], self.x.shape[mode]
            self.chunks[key] = [
                (start, backend.RowSums(idx[start : start + step], n))
                for start in range(0, self.x.nnz, step)
            ]
        xp = backend.namespace(self.v)
        total = xp.zeros(
            (self.x.shape[mode], width), dtype=self.v.dtype, **backend.device_kwargs(self.v)
        )
        for start, sums in self.chunks[key]:
            total = total + sums(features(slice(start, start + step)))
        return total

    def row_grams(self, h: Any, mode: int) -> Any:
        """``(n_mode, R, R)``: ``Σ_e conj(h_e) h_eᵀ`` over the entries of each row."""
        xp = backend.namespace(h)
        rank = int(h.shape[1])

        def outer(part: slice) -> Any:
            return xp.reshape(_conj(h[part])[:, :, None] * h[part][:, None, :], (-1, rank * rank))

        return xp.reshape(self.row_sums(mode, rank * rank, outer), (-1, rank, rank))

    def error(self, factors: list[Any]) -> Any:
        """Squared error of the model (a 0-d array on the device): over the listed entries
        for ``missing``, over the whole tensor for ``zero``."""
        xp = backend.namespace(factors[0])
        m = self.model(factors)
        if self.x.unlisted == "missing":
            return xp.sum(xp.abs(self.v - m) ** 2)
        inner = xp.real(xp.sum(_conj(self.v) * m))
        return self.norm2 - 2 * inner + _model_norm2([a.T @ _conj(a) for a in factors])


class SparseSweep:
    """One ALS sweep plus Bro's extrapolation, as a ``sweep(factors) -> (factors, error)``
    callable for :class:`tnkit.decompose._common.Sweeps`."""

    def __init__(self, entries: Entries, line_search: bool, nonnegative: bool) -> None:
        self.e, self.line_search, self.nonnegative = entries, line_search, nonnegative
        self.extrapolation, self.t = Extrapolation(), 0
        self.prev: list[Any] | None = None  # the start of the previous sweep, as in dense CP

    def __call__(self, factors: list[Any]) -> tuple[list[Any], float]:
        self.t += 1
        new = self._modes(list(factors))
        err2 = self.e.error(new)
        if self.line_search and self.prev is not None:
            trial = self.extrapolation.trial(new, self.prev, self.t, self.nonnegative)
            taken, err2 = _better(err2, self.e.error(trial))
            if taken:
                new = trial
            else:
                self.extrapolation.rejected()
        else:
            err2 = float(err2)
        self.prev = factors
        return new, math.sqrt(max(err2, 0.0) / self.e.norm2)

    def _modes(self, factors: list[Any]) -> list[Any]:
        n = len(factors)
        rank = int(factors[0].shape[1])
        missing = self.e.x.unlisted == "missing"
        grams = [] if missing else [a.T @ _conj(a) for a in factors]
        for k in range(n):
            m, h = self.e.mttkrp(factors, k)
            if missing:
                grams_k = self.e.row_grams(h, k)
                if self.nonnegative:
                    work = 2.0 * self.e.x.nnz * rank * rank  # forming the row Gram matrices
                    inner = _nonneg.inner_sweeps(int(m.shape[0]), rank, work)
                    a = _nonneg.hals_rows(factors[k], m, grams_k, inner)
                else:
                    a = _row_solve(grams_k, m, factors[k])
            else:
                gamma = _hadamard([g for j, g in enumerate(grams) if j != k])
                if self.nonnegative:
                    work = 2.0 * self.e.x.nnz * rank * n  # forming h and the scatter-add
                    inner = _nonneg.inner_sweeps(int(m.shape[0]), rank, work)
                    a = _nonneg.hals(factors[k], m, gamma, inner)
                else:
                    a = _solve(m, gamma)
            if k < n - 1:
                a = a / _column_norms(a)[None, :]
            factors[k] = a
            if not missing:
                grams[k] = a.T @ _conj(a)
        return factors


def fit(
    x: SparseTensor,
    rank: int,
    init: str | CP,
    seed: int,
    max_iter: int,
    tol: float | None,
    stop_tol: float | None,
    line_search: bool,
    nonnegative: bool,
    progress: Any,
) -> tuple[list[Any], list[float], bool]:
    """Sweeps from the start ``init`` (options validated by :func:`tnkit.cp`); returns the
    factors, the error history and whether Ctrl-C ended the fit."""
    entries = Entries(x)
    if isinstance(init, CP):
        factors = given_factors(init, x.shape, rank, x.values)
    elif init == "random":
        rng = np.random.default_rng(seed)
        factors = [backend.random_normal((n, rank), x.values, rng) for n in x.shape]
    else:
        factors = sketched_start(entries, rank, seed)
    if nonnegative and not isinstance(init, CP):
        factors = [_nonneg.larger_part(f) for f in factors]
    gain = -math.inf if stop_tol is None else stop_tol
    desc = "sparse CP completion" if x.unlisted == "missing" else "sparse CP-ALS"
    sweep = SparseSweep(entries, line_search, nonnegative)
    sweeps = cm.Sweeps(sweep, max_iter, gain, tol, progress, desc)
    try:
        factors, history = sweeps.run(factors)
    finally:
        sweeps.bar.close()
    return factors, history, sweeps.interrupted


def sketched_start(entries: Entries, rank: int, seed: int) -> list[Any]:
    """``init="svd"``: the leading left singular subspace of each unfolding ``X_(k)``,
    random columns past a mode's size.

    ``unlisted="zero"``: from a Khatri–Rao sketch ``Y = X_(k) Ω`` (an MTTKRP with Gaussian
    factors of ``rank + 8`` columns). ``unlisted="missing"``: the zero-filled unfolding's Gram
    matrix is dominated by its diagonal (each entry's own square), so the subspace is that of
    the off-diagonal Gram ``Σ_c Σ_{i≠i'} v_{ic} v_{i'c}`` over pairs of entries sharing their
    other indices ``c`` (a debiased spectral start; Montanari & Sun, "Spectral algorithms for
    tensor completion", CPAM 2018), computed on the host with scipy; when the pairs would
    exceed :data:`PAIR_LIMIT` (dense data, where the sketch is good), the sketch is used.
    """
    x = entries.x
    rng = np.random.default_rng(seed)
    width = rank + 8
    omegas = [backend.random_normal((n, width), x.values, rng) for n in x.shape]
    xp = backend.namespace(x.values)
    host = None
    if x.unlisted == "missing":
        host = backend.to_numpy(x.indices), backend.to_numpy(x.values)
    out = []
    for k, n in enumerate(x.shape):
        keep = min(rank, n)
        u = None if host is None else _pair_gram_subspace(*host, x.shape, k, keep, rng)
        if u is None:
            y = _sketch(entries, omegas, k)
            u = linalg.truncated_svd(y, rank=min(keep, width), method="lapack").u
        else:
            u = backend.asarray_like(u, x.values)
        if int(u.shape[1]) < rank:
            extra = backend.random_normal((n, rank - int(u.shape[1])), x.values, rng)
            u = xp.concat([u, extra / math.sqrt(n)], axis=1)
        out.append(u)
    return out


def _pair_gram_subspace(
    idx: np.ndarray, v: np.ndarray, shape: tuple[int, ...], mode: int, keep: int, rng: Any
) -> np.ndarray | None:
    """Leading ``keep`` eigenvectors of the off-diagonal Gram of ``X_(mode)`` (see
    :func:`sketched_start`), or None when it has more than :data:`PAIR_LIMIT` pairs."""
    import scipy.sparse
    import scipy.sparse.linalg

    n = shape[mode]
    others = [j for j in range(len(shape)) if j != mode]
    col = entry_ids(idx[:, others], [shape[j] for j in others])
    order = np.argsort(col, kind="stable")
    col, rows, vals = col[order], idx[order, mode], v[order]
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    sizes = np.diff(np.r_[starts, col.size])
    squares = sizes * sizes
    if int(squares.sum()) > PAIR_LIMIT:
        return None
    # every ordered pair (a, b) of entries within a group, a != b
    local = np.arange(int(squares.sum())) - np.repeat(np.cumsum(squares) - squares, squares)
    width = np.repeat(sizes, squares)
    base = np.repeat(starts, squares)
    a, b = base + local // width, base + local % width
    a, b = a[a != b], b[a != b]
    gram = scipy.sparse.coo_matrix(
        (vals[a] * np.conj(vals[b]), (rows[a], rows[b])), shape=(n, n)
    ).tocsr()
    if n <= DENSE_EIGH:
        w, u = np.linalg.eigh(gram.toarray())
        return u[:, np.argsort(w)[::-1][:keep]]
    v0 = rng.standard_normal(n)
    w, u = scipy.sparse.linalg.eigsh(gram, k=keep, which="LA", v0=v0)
    return u[:, np.argsort(w)[::-1]]


def _sketch(entries: Entries, omegas: list[Any], mode: int) -> Any:
    """``Y = X_(mode) (⊙_{j≠mode} Ω_j)``, the Khatri–Rao rows formed chunk by chunk."""
    xp = backend.namespace(entries.v)

    def rows(part: slice) -> Any:
        h = None
        for j, om in enumerate(omegas):
            if j != mode:
                r = xp.take(om, entries.idx[j][part], axis=0)
                h = r if h is None else h * r
        return entries.v[part][:, None] * _conj(h)

    return entries.row_sums(mode, int(omegas[0].shape[1]), rows)


def _row_solve(g: Any, b: Any, a: Any) -> Any:
    """Rows with ``(G_i + λ_i I) a_i = b_i + λ_i a_i(old)``, ``λ_i = RIDGE ×`` the mean
    diagonal of ``G_i`` (a proximal ridge: rows without entries keep their old values)."""
    xp = backend.namespace(g)
    rank = int(g.shape[1])
    eye = xp.eye(rank, dtype=g.dtype, **backend.device_kwargs(g))
    scale = xp.real(xp.sum(xp.linalg.diagonal(g), axis=1)) / rank
    lam = xp.astype(RIDGE * scale + backend.eps(g) ** 2, g.dtype)
    rhs = b + lam[:, None] * a
    return xp.linalg.solve(g + lam[:, None, None] * eye, rhs[:, :, None])[:, :, 0]
