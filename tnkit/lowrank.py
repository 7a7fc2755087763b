"""The low-rank matrix step of the basis-update & Galerkin (BUG) integrators, written once.

A rank-``r`` matrix is kept as ``Y = U S Vᴴ`` (:class:`LowRank`) with orthonormal ``U`` (m × r),
``V`` (n × r) and a full ``S`` (r × r). One step of ``Ẏ = F(t, Y)`` from ``Y0 = U0 S0 V0ᴴ``:

1. **K-step**  ``K' = F(K V0ᴴ) V0``,  ``K(t0) = U0 S0``        -> ``K1``
2. **L-step**  ``L' = F(U0 Lᴴ)ᴴ U0``,  ``L(t0) = V0 S0ᴴ``      -> ``L1``
3. **Galerkin** ``Ŝ' = Ûᴴ F(Û Ŝ V̂ᴴ) V̂``, ``Ŝ(t0) = Ûᴴ U0 S0 V0ᴴ V̂``

Fixed-rank BUG (Ceruti & Lubich, BIT 2022) takes ``Û = orth(K1)``; the rank-adaptive BUG
(Ceruti, Kusch & Lubich, BIT 62, 2022) takes ``Û = orth([U0, K1])`` (likewise ``V̂``) and
truncates ``Ŝ(t1)`` by an SVD; the parallel BUG (Ceruti, Kusch & Lubich, SISC 2024) runs the
Galerkin step in the *old* bases concurrently with the K- and L-steps and assembles the
augmented coefficients with a zero new-new block (:func:`parallel_coefficients`).

**Tolerance.** ``tol`` is *relative*: the discarded singular values of ``Ŝ(t1)`` have Frobenius
norm ``<= tol * ||Ŝ(t1)||_F`` (the rule of :func:`tnkit.linalg.rank_from_tol`); ``max_error`` is the
same bound in *absolute* terms. Neither is scaled by the step size ``h``.

Nothing here ever inverts ``S`` or an R factor, so padded zero singular values are fine. All
functions take numpy, torch or cupy matrices (the same library for every argument).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, NamedTuple

from . import backend, linalg


class LowRank(NamedTuple):
    """``Y = u @ s @ vᴴ`` with orthonormal ``u`` (m × r), ``v`` (n × r) and a full ``s`` (r × r)."""

    u: Any
    s: Any
    v: Any


def ct(a: Any) -> Any:
    """Conjugate transpose of a matrix."""
    return a.conj().T


def to_dense(y: LowRank) -> Any:
    """The full matrix ``u s vᴴ``."""
    return y.u @ y.s @ ct(y.v)


def orth(a: Any) -> Any:
    """An orthonormal basis (thin QR) of the columns of ``a``; rank-deficient ``a`` is fine."""
    return linalg.qr(a)[0]


def augmented_basis(old: Any, new: Any) -> Any:
    """Orthonormal ``[old, Ñ]`` spanning ``range[old, new]``, with ``old`` (orthonormal) first.

    The QR of ``[old, new]`` keeps ``old``'s span in its first columns; they are replaced by
    ``old`` itself so that ``Ñ = result[:, r:]`` is exactly orthogonal to it. At most
    ``min(m, 2r)`` columns.
    """
    xp = backend.namespace(old, new)
    q = orth(xp.concat([old, new], axis=1))
    r = old.shape[1]
    return xp.concat([old, q[:, r:]], axis=1)


def project(s: Any, u_new: Any, u_old: Any, v_new: Any, v_old: Any) -> Any:
    """Coefficients of ``u_old s v_oldᴴ`` in new bases: ``(u_newᴴ u_old) s (v_oldᴴ v_new)``."""
    return (ct(u_new) @ u_old) @ s @ (ct(v_old) @ v_new)


def truncate(
    y: LowRank,
    *,
    tol: float | None = None,
    max_error: float | None = None,
    rank_max: int | None = None,
    rank_min: int = 1,
) -> LowRank:
    """Re-diagonalise ``y`` and drop singular values by the Frobenius tail rule.

    ``s = P Σ Qᴴ``; keep the smallest ``r1`` with ``||Σ[r1:]||_F <= tol ||Σ||_F`` (relative)
    and ``<= max_error`` (absolute), then clamp ``rank_min <= r1 <= rank_max``.
    Returns ``LowRank(u P_r1, diag(Σ_r1), v Q_r1)``.
    """
    full = linalg.truncated_svd(y.s, method="lapack")
    r = full.s.shape[0]
    if tol is not None:
        r = min(r, linalg.rank_from_tol(full.s, tol))
    if max_error is not None:
        r = min(r, linalg.rank_for_error(full.s, max_error))
    r = max(min(r, rank_max or r), min(rank_min, full.s.shape[0]))
    return LowRank(y.u @ full.u[:, :r], diag(full.s[:r], y.s), y.v @ ct(full.vh[:r]))


def diag(sig: Any, like: Any) -> Any:
    """The diagonal matrix of the vector ``sig`` with ``like``'s dtype and device."""
    xp = backend.namespace(like)
    n = sig.shape[0]
    eye = xp.eye(n, dtype=like.dtype, device=getattr(like, "device", None))
    return eye * xp.astype(sig, like.dtype)[None, :]


def parallel_coefficients(s_bar: Any, k1: Any, l1: Any, u_new: Any, v_new: Any) -> Any:
    """Augmented coefficients of the parallel BUG, rows along ``[U0, Ũ]``, columns ``[V0, Ṽ]``.

    ``Ŝ = [[S̄(t1), L1ᴴ Ṽ], [Ũᴴ K1, 0]]`` — the new-new block is zero (Ceruti, Kusch & Lubich 2024).
    """
    xp = backend.namespace(s_bar, k1, l1)
    top = xp.concat([s_bar, ct(l1) @ v_new], axis=1)
    zero = xp.zeros((u_new.shape[1], v_new.shape[1]), dtype=s_bar.dtype)
    bottom = xp.concat([ct(u_new) @ k1, backend.asarray_like(zero, s_bar)], axis=1)
    return xp.concat([top, bottom], axis=0)


def _check_step(
    u: Any, s: Any, v: Any, steps: dict, tol: Any, max_error: Any, rank_max: Any
) -> None:
    """Validate the arguments of :func:`bug_step` / :func:`parallel_bug_step`."""
    for name, a in (("u", u), ("s", s), ("v", v)):
        if getattr(a, "ndim", None) != 2:
            raise TypeError(f"{name} must be a matrix (2-D array), got {type(a).__name__}")
    if u.shape[1] != s.shape[0] or v.shape[1] != s.shape[1]:
        raise ValueError(
            f"need u (m, r), s (r, q), v (n, q); got {tuple(u.shape)}, {tuple(s.shape)}, "
            f"{tuple(v.shape)}"
        )
    for name, f in steps.items():
        if not callable(f):
            raise TypeError(f"{name} must be callable, got {type(f).__name__}")
    if tol is not None and not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol!r}")
    if max_error is not None and not max_error >= 0:
        raise ValueError(f"max_error must be >= 0, got {max_error!r}")
    if rank_max is not None and (int(rank_max) != rank_max or rank_max < 1):
        raise ValueError(f"rank_max must be a positive integer, got {rank_max!r}")


def _run_both(executor: Executor | None, f: Callable, a: tuple, g: Callable, b: tuple) -> tuple:
    if executor is None:
        return f(*a), g(*b)
    fa, fb = executor.submit(f, *a), executor.submit(g, *b)
    return fa.result(), fb.result()


def bug_step(
    u: Any,
    s: Any,
    v: Any,
    *,
    k_step: Callable[[Any, Any], Any],
    l_step: Callable[[Any, Any], Any],
    s_step: Callable[[Any, Any, Any], Any],
    augment: bool = True,
    tol: float | None = None,
    max_error: float | None = None,
    rank_max: int | None = None,
    executor: Executor | None = None,
) -> LowRank:
    """One (fixed-rank or rank-adaptive) BUG step for ``Y0 = u s vᴴ``; see the module docstring.

    Parameters
    ----------
    u, s, v : the current factors (``s`` full r × r; zero singular values allowed).
    k_step : ``k_step(K0, V0) -> K1`` advances ``K' = F(K V0ᴴ) V0`` over the step from
        ``K0 = U0 S0``.
    l_step : ``l_step(L0, U0) -> L1`` advances ``L' = F(U0 Lᴴ)ᴴ U0`` from ``L0 = V0 S0ᴴ``.
    s_step : ``s_step(S0hat, Uhat, Vhat) -> S1hat`` advances the Galerkin system
        ``Ŝ' = Ûᴴ F(Û Ŝ V̂ᴴ) V̂`` from ``S0hat``.
    augment : True for the rank-adaptive BUG (bases ``orth([U0, K1])``, then truncation);
        False for the fixed-rank BUG (``orth(K1)``, no truncation).
    tol, max_error : relative / absolute Frobenius truncation error (not scaled by h).
        With neither given (and ``augment=True``) nothing is truncated but numerically zero.
    rank_max : cap on the new rank.
    executor : run the K- and L-steps concurrently on it (they are independent).
    """
    steps = {"k_step": k_step, "l_step": l_step, "s_step": s_step}
    _check_step(u, s, v, steps, tol, max_error, rank_max)
    k1, l1 = _run_both(executor, k_step, (u @ s, v), l_step, (v @ ct(s), u))
    if augment:
        u_hat, v_hat = augmented_basis(u, k1), augmented_basis(v, l1)
    else:
        u_hat, v_hat = orth(k1), orth(l1)
    s1 = s_step(project(s, u_hat, u, v_hat, v), u_hat, v_hat)
    y = LowRank(u_hat, s1, v_hat)
    if not augment:
        return y
    if tol is None and max_error is None:
        max_error = 10 * backend.eps(s1) * float(backend.namespace(s1).linalg.matrix_norm(s1))
    return truncate(y, tol=tol, max_error=max_error, rank_max=rank_max)


def parallel_bug_step(
    u: Any,
    s: Any,
    v: Any,
    *,
    k_step: Callable[[Any, Any], Any],
    l_step: Callable[[Any, Any], Any],
    s_step: Callable[[Any, Any, Any], Any],
    tol: float | None = None,
    max_error: float | None = None,
    rank_max: int | None = None,
    executor: Executor | None = None,
) -> tuple[LowRank, LowRank]:
    """One parallel BUG step: K-, L- and old-basis Galerkin step from the old factors only.

    ``s_step(S0, U0, V0)`` integrates the Galerkin system in the old bases. Returns
    ``(truncated, augmented)``: the new state and the untruncated augmented state
    ``([U0, Ũ], Ŝ, [V0, Ṽ])`` that a step-rejection rule inspects (Ceruti, Kusch & Lubich,
    SISC 2024). Truncation as in :func:`bug_step`.
    """
    steps = {"k_step": k_step, "l_step": l_step, "s_step": s_step}
    _check_step(u, s, v, steps, tol, max_error, rank_max)
    if executor is None:
        k1, l1, s_bar = k_step(u @ s, v), l_step(v @ ct(s), u), s_step(s, u, v)
    else:
        futures = (
            executor.submit(k_step, u @ s, v),
            executor.submit(l_step, v @ ct(s), u),
            executor.submit(s_step, s, u, v),
        )
        k1, l1, s_bar = (f.result() for f in futures)
    u_hat, v_hat = augmented_basis(u, k1), augmented_basis(v, l1)
    r = u.shape[1]
    aug = LowRank(u_hat, parallel_coefficients(s_bar, k1, l1, u_hat[:, r:], v_hat[:, r:]), v_hat)
    if tol is None and max_error is None:
        max_error = 10 * backend.eps(s) * float(backend.namespace(s).linalg.matrix_norm(aug.s))
    return truncate(aug, tol=tol, max_error=max_error, rank_max=rank_max), aug
