"""Backend-agnostic matrix factorisations: truncated SVD, QR, randomized range finding.

One rule decides a rank from an error target everywhere in tnkit (:func:`rank_for_error`):
keep the smallest ``r`` whose discarded singular values have Frobenius norm
``sqrt(sum_{i >= r} s_i**2) <= max_error``. A relative tolerance ``tol`` means
``max_error = tol * ||s||_2`` (``= tol * ||A||_F``).

Every function takes numpy, torch or cupy matrices and returns arrays of the same library.
No function ever builds a full square factor (``full_matrices=True``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import backend, checks

SVD_METHODS = ("auto", "lapack", "gram", "randomized")
SPLIT_METHODS = ("svd", "qr")
ABSORB = ("both", "left", "right", None)
# Gram/eigh squares the condition number; kept singular values below this fraction of the
# largest would lose digits, so the auto path then falls back to LAPACK.
_GRAM_SAFE_RATIO = 1e-4


class SVD(NamedTuple):
    """A truncated SVD ``a ≈ u @ diag(s) @ vh`` and the Frobenius norm of what was dropped."""

    u: Any
    s: Any
    vh: Any
    error: float


def check_matrix(a: Any, name: str = "a") -> Any:
    """``a`` validated as a non-empty float/complex matrix (lists are converted; numpy NaN/Inf
    refused — see :func:`tnkit.backend.as_node_array`); raises naming ``name``."""
    a = backend.as_node_array(a, name)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(a.shape)}")
    return a


def _check_values(s: Any) -> np.ndarray:
    s = np.asarray(backend.to_numpy(s), dtype=np.float64)
    if s.ndim != 1 or not np.isfinite(s).all():
        raise ValueError("s must be a 1-D array of finite singular values")
    return s


def rank_for_error(s: Any, max_error: float) -> int:
    """Smallest rank ``r`` with ``||s[r:]||_2 <= max_error`` (``s`` sorted descending).

    At least rank 1 is kept for a non-zero ``s``.
    """
    checks.check_real(max_error, "max_error", low=0)
    s2 = _check_values(s) ** 2
    tail = np.sqrt(np.maximum(np.cumsum(s2[::-1])[::-1], 0.0))  # tail[r] = ||s[r:]||
    ok = np.nonzero(tail <= max_error)[0]
    r = int(ok[0]) if ok.size else s2.size
    return max(r, 1) if s2.size else 0


def rank_from_tol(s: Any, tol: float) -> int:
    """Rank for a relative tolerance: ``rank_for_error(s, tol * ||s||_2)``."""
    checks.check_real(tol, "tol", low=0, high=1, open_high=True)
    norm = float(np.sqrt(np.sum(_check_values(s) ** 2)))
    return rank_for_error(s, tol * norm)


def _ct(xp: Any, a: Any) -> Any:
    """Conjugate transpose of a matrix."""
    return xp.conj(a.T) if backend.is_complex(a) else a.T


def qr(a: Any) -> tuple[Any, Any]:
    """Thin QR: ``a = q @ r`` with ``q`` of shape (m, min(m, n))."""
    a = check_matrix(a)
    xp = backend.namespace(a)
    q, r = xp.linalg.qr(a, mode="reduced")
    return q, r


def qr_r(a: Any) -> Any:
    """The ``r`` of :func:`qr` alone (``min(m, n) × n``), at about half the cost."""
    return backend.qr_r(check_matrix(a))


def _truncation_rank(
    s_host: np.ndarray, rank: int | None, tol: float | None, max_error: float | None
) -> int:
    r = int(s_host.shape[0])
    if tol is not None:
        r = min(r, rank_from_tol(s_host, tol))
    if max_error is not None:
        r = min(r, rank_for_error(s_host, max_error))
    if rank is not None:
        r = min(r, rank)
    return r


def _tail_norm(s_host: np.ndarray, r: int) -> float:
    return float(np.sqrt(np.sum(s_host[r:].astype(np.float64) ** 2)))


def _lapack_svd(a: Any) -> tuple[Any, Any, Any]:
    xp = backend.namespace(a)
    u, s, vh = xp.linalg.svd(a, full_matrices=False)
    return u, s, vh


def _gram_svd(
    a: Any, rank: int | None, tol: float | None, max_error: float | None
) -> tuple[Any, Any, Any, float]:
    """Truncated SVD of a tall matrix through the eigendecomposition of ``aᴴa``.

    ``aᴴa = V Λ Vᴴ`` gives the rank (from ``sqrt(Λ)``) and the discarded tail; then only the
    kept columns are refined: ``a V_r = Q R`` (thin QR), ``u = Q sign(diag R)``,
    ``s = |diag R|`` — more accurate than ``sqrt(Λ)`` and well defined for zero columns. The
    tail is accurate to about ``sqrt(n·eps)·||a||``.
    """
    xp = backend.namespace(a)
    lam, v = xp.linalg.eigh(_ct(xp, a) @ a)
    lam_host = np.clip(backend.to_numpy(lam)[::-1].astype(np.float64), 0.0, None)
    s_est = np.sqrt(lam_host)
    r = _truncation_rank(s_est, rank, tol, max_error)
    v = xp.flip(v, axis=1)[:, :r]
    q, rr = qr(a @ v)
    d = xp.linalg.diagonal(rr)
    s = xp.abs(d)
    phase = xp.where(s > 0, d / xp.where(s > 0, s, xp.ones_like(s)), xp.ones_like(d))
    order = xp.argsort(-s)
    u = xp.take(q * phase[None, :], order, axis=1)
    return u, xp.take(s, order), xp.take(_ct(xp, v), order, axis=0), _tail_norm(s_est, r)


def randomized_range(
    a: Any, size: int, *, n_iter: int = 2, seed: int | np.random.Generator | None = 0
) -> Any:
    """Orthonormal ``q`` (m × size) whose span approximates the top-``size`` range of ``a``.

    Halko, Martinsson & Tropp (2011), Alg. 4.4: a Gaussian sketch followed by ``n_iter``
    power iterations, each re-orthonormalised by QR.
    """
    a = check_matrix(a)
    size = checks.check_int(size, "size", 1)
    n_iter = checks.check_int(n_iter, "n_iter", 0)
    seed = checks.check_seed(seed, generator=True)
    xp = backend.namespace(a)
    rng = np.random.default_rng(seed)
    omega = backend.random_normal((a.shape[1], size), a, rng)
    q, _ = qr(a @ omega)
    for _ in range(n_iter):
        w, _ = qr(_ct(xp, a) @ q)
        q, _ = qr(a @ w)
    return q


def randomized_svd(
    a: Any,
    rank: int,
    *,
    oversample: int = 10,
    n_iter: int = 2,
    seed: int | np.random.Generator | None = 0,
) -> tuple[Any, Any, Any]:
    """Rank-``rank`` SVD of ``a`` from a randomized range finder (Halko et al. 2011)."""
    a = check_matrix(a)
    rank = checks.check_int(rank, "rank", 1)
    oversample = checks.check_int(oversample, "oversample", 0)
    xp = backend.namespace(a)
    size = min(rank + oversample, *a.shape)
    q = randomized_range(a, size, n_iter=n_iter, seed=seed)
    ub, s, vh = _lapack_svd(_ct(xp, q) @ a)
    return (q @ ub)[:, :rank], s[:rank], vh[:rank]


def _auto_method(a: Any, rank: int | None) -> str:
    m, n = a.shape
    small, large = min(m, n), max(m, n)
    if rank is not None and small >= 400 and rank * 8 <= small:
        return "randomized"
    if large >= 4 * small and small >= 16:
        return "gram"
    return "lapack"


def truncated_svd(
    a: Any,
    rank: int | None = None,
    tol: float | None = None,
    *,
    max_error: float | None = None,
    method: str = "auto",
    seed: int | np.random.Generator | None = 0,
) -> SVD:
    """Truncated SVD ``a ≈ u diag(s) vh`` with the rank set by ``rank``, ``tol`` or both.

    Parameters
    ----------
    a : (m, n) matrix (numpy, torch or cupy).
    rank : keep at most this many singular triplets.
    tol : relative Frobenius error target; the rank is :func:`rank_from_tol`.
    max_error : absolute Frobenius error target (used by sweeps that split a global budget).
    method : ``"auto"`` (Gram/eigh for tall or wide matrices, randomized for a small ``rank``
        of a large matrix, LAPACK otherwise), ``"lapack"``, ``"gram"`` or ``"randomized"``.
        Auto falls back to LAPACK when the kept part is too ill-conditioned for Gram.
    seed : seed of the randomized method.

    Returns
    -------
    SVD(u, s, vh, error) where ``error`` is the Frobenius norm of the discarded part
    (exact for LAPACK, to ``~sqrt(eps)·||a||`` for Gram, ``sqrt(||a||² - ||s||²)`` for
    randomized).
    """
    if method not in SVD_METHODS:
        raise ValueError(f"method must be one of {SVD_METHODS}, got {method!r}")
    a = check_matrix(a)
    rank = checks.check_int(rank, "rank", 1, optional=True)
    tol = checks.check_real(tol, "tol", low=0, high=1, open_high=True, optional=True)
    max_error = checks.check_real(max_error, "max_error", low=0, optional=True)
    seed = checks.check_seed(seed, generator=True)
    chosen = _auto_method(a, rank) if method == "auto" else method
    if chosen == "randomized":
        if rank is None:
            raise ValueError("method='randomized' needs rank=")
        xp = backend.namespace(a)
        u, s, vh = randomized_svd(a, min(rank, *a.shape), seed=seed)
        total = float(xp.linalg.vector_norm(a)) ** 2
        kept = float(np.sum(backend.to_numpy(s).astype(np.float64) ** 2))
        return SVD(u, s, vh, float(np.sqrt(max(total - kept, 0.0))))
    if chosen == "gram":
        xp = backend.namespace(a)
        if a.shape[0] >= a.shape[1]:
            u, s, vh, error = _gram_svd(a, rank, tol, max_error)
        else:
            v, s, uh, error = _gram_svd(_ct(xp, a), rank, tol, max_error)
            u, vh = _ct(xp, uh), _ct(xp, v)
        s_host = backend.to_numpy(s)
        ill = s_host.size and s_host[-1] < _GRAM_SAFE_RATIO * s_host[0]
        if method == "auto" and ill:
            return truncated_svd(a, rank, tol, max_error=max_error, method="lapack")
        return SVD(u, s, vh, error)
    u, s, vh = _lapack_svd(a)
    s_host = backend.to_numpy(s)
    r = _truncation_rank(s_host, rank, tol, max_error)
    return SVD(u[:, :r], s[:r], vh[:r], _tail_norm(s_host, r))


def split_matrix(
    a: Any, method: str, rank: int | None, tol: float | None, absorb: str | None
) -> tuple[Any, Any, Any, float]:
    """``a = L M R`` for splitting a network node: ``(L, R, M, error)``.

    ``method="qr"``: ``L R = Q R`` exactly, ``M`` None. ``method="svd"``: the truncated SVD
    ``a ≈ U diag(s) Vᴴ`` (:func:`truncated_svd` with ``rank``/``tol``, LAPACK) with ``s``
    absorbed ``"left"`` (``L = U diag(s)``), ``"right"``, ``"both"`` (``sqrt(s)`` each side)
    or, for ``absorb=None``, kept as the diagonal matrix ``M``; ``error`` is the Frobenius
    norm of the discarded part.
    """
    a = check_matrix(a)
    check_split(method, rank, tol, absorb)
    if method == "qr":
        q, r = qr(a)
        return q, r, None, 0.0
    xp = backend.namespace(a)
    u, s, vh, error = truncated_svd(a, rank=rank, tol=tol, method="lapack")
    s = xp.astype(s, u.dtype) if backend.is_complex(u) else s
    if absorb == "left":
        return u * s[None, :], vh, None, error
    if absorb == "right":
        return u, s[:, None] * vh, None, error
    if absorb == "both":
        root = xp.sqrt(s)
        return u * root[None, :], root[:, None] * vh, None, error
    n = int(s.shape[0])
    middle = xp.zeros((n, n), dtype=s.dtype, **backend.device_kwargs(s))
    idx = xp.arange(n, **backend.device_kwargs(s))
    middle[idx, idx] = s
    return u, vh, middle, error


def check_split(method: Any, rank: Any, tol: Any, absorb: Any) -> None:
    """The options of :func:`split_matrix`; ``ValueError`` naming the bad one."""
    if method not in SPLIT_METHODS:
        raise ValueError(f"method must be one of {SPLIT_METHODS}, got {method!r}")
    if absorb not in ABSORB:
        raise ValueError(f"absorb must be one of {ABSORB}, got {absorb!r}")
    if method == "qr" and (rank is not None or tol is not None):
        raise ValueError("method='qr' does not truncate: drop rank= and tol=")
