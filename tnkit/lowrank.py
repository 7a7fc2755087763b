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

**Tucker tensors** (:class:`TuckerLowRank`, ``Y = C ×₀ U₀ ×₁ U₁ ⋯`` with orthonormal ``Uᵢ``;
a factor ``None`` marks a full mode that is never truncated) take the same step mode by mode
(:func:`tucker_bug_step`; as in the Tucker sections of both BIT 2022 papers above):
for each factored mode ``i``, with ``Matᵢ(Y0) = Uᵢ Matᵢ(C) Wᵢᵀ`` (``Wᵢ`` the Kronecker product of
the other factors), ``Kᵢ(t0) = Uᵢ Rᵢᴴ`` where ``Matᵢ(C)ᴴ = Qᵢ Rᵢ`` (thin QR, needed only when the
other modes hold more than ``rᵢ`` columns, else ``Kᵢ(t0) = Uᵢ Matᵢ(C)``), ``Kᵢ' = Matᵢ(F) W̄ᵢ Qᵢ``;
``Ûᵢ = orth[Uᵢ, Kᵢ(t1)]``; the Galerkin step on ``Ĉ(t0) = C ×ᵢ ÛᵢᴴUᵢ``; truncation by the HOSVD
of ``Ĉ(t1)`` (each unfolding by the rule below). A matrix ``U S Vᴴ`` is the Tucker tensor
``S ×₀ U ×₁ V̄``; :func:`bug_step` is exactly that 2-mode case, so the step exists once.

**Tolerance.** ``tol`` is *relative*: the discarded singular values of ``Ŝ(t1)`` have Frobenius
norm ``<= tol * ||Ŝ(t1)||_F`` (the rule of :func:`tnkit.linalg.rank_from_tol`); ``max_error`` is the
same bound in *absolute* terms. Neither is scaled by the step size ``h``. A Tucker core applies the
rule to the singular values of each of its ``d`` truncated unfoldings with ``tol / sqrt(d)``, so
the HOSVD drop too stays within ``tol ||Ĉ(t1)||_F``.

Nothing here ever inverts ``S`` or an R factor, so padded zero singular values are fine. All
functions take numpy, torch or cupy matrices (the same library for every argument).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, NamedTuple

from . import backend, checks, linalg


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
    for name, a in (("old", old), ("new", new)):
        if getattr(a, "ndim", None) != 2:
            raise TypeError(f"{name} must be a matrix (2-D array), got {type(a).__name__}")
    if old.shape[0] != new.shape[0]:
        raise ValueError(
            f"old and new must have the same rows, got shapes {tuple(old.shape)}, "
            f"{tuple(new.shape)}"
        )
    xp = backend.namespace(old, new)
    q = orth(xp.concat([old, new], axis=1))
    r = old.shape[1]
    return xp.concat([old, q[:, r:]], axis=1)


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
    Returns ``LowRank(u P_r1, diag(Σ_r1), v Q_r1)`` (the 2-mode case of :func:`tucker_truncate`).
    """
    if not isinstance(y, LowRank):
        raise TypeError(f"y must be a LowRank (u, s, v), got {type(y).__name__}")
    _check_step(y.u, y.s, y.v, {}, tol, max_error, rank_max)
    t = tucker_truncate(
        _as_tucker(y), tol=tol, max_error=max_error, rank_max=rank_max, rank_min=rank_min
    )
    return _as_matrix(t)


def diag(sig: Any, like: Any) -> Any:
    """The diagonal matrix of the vector ``sig`` with ``like``'s dtype and device."""
    xp = backend.namespace(like)
    n = sig.shape[0]
    eye = xp.eye(n, dtype=like.dtype, device=getattr(like, "device", None))
    return eye * xp.astype(sig, like.dtype)[None, :]


class TuckerLowRank(NamedTuple):
    """``Y = core ×₀ f₀ ×₁ f₁ ⋯`` with orthonormal factors ``fᵢ`` (nᵢ × rᵢ).

    A factor ``None`` is a full mode (the identity): it is never updated nor truncated.
    """

    core: Any
    factors: tuple


def _conj(a: Any) -> Any:
    return a.conj() if backend.is_complex(a) else a


def unfold(x: Any, mode: int) -> Any:
    """Mode-``mode`` unfolding: axis ``mode`` first, the others flattened in C order."""
    if x.ndim == 2:  # the matrix case, without the generic reshuffle
        return x if mode == 0 else x.T
    xp = backend.namespace(x)
    return xp.reshape(xp.moveaxis(x, mode, 0), (x.shape[mode], -1))


def mode_product(x: Any, m: Any, mode: int) -> Any:
    """``x ×_mode m``: contracts axis ``mode`` of ``x`` with the columns of the matrix ``m``."""
    if x.ndim == 2:  # the matrix case: m x or x mᵀ
        return m @ x if mode == 0 else x @ m.T
    xp = backend.namespace(x, m)
    return xp.moveaxis(xp.tensordot(m, x, axes=([1], [mode])), 0, mode)


def tucker_to_dense(y: TuckerLowRank) -> Any:
    """The full tensor ``core ×ᵢ fᵢ``."""
    x = y.core
    for i, f in enumerate(y.factors):
        if f is not None:
            x = mode_product(x, f, i)
    return x


def _as_tucker(y: LowRank) -> TuckerLowRank:
    return TuckerLowRank(y.s, (y.u, _conj(y.v)))


def _as_matrix(t: TuckerLowRank) -> LowRank:
    return LowRank(t.factors[0], t.core, _conj(t.factors[1]))


def _mode_bases(core: Any, modes: list[int]) -> dict[int, tuple[Any, Any]]:
    """Left singular vectors and values of each unfolding ``modes`` of ``core`` (HOSVD).

    A matrix needs one SVD: the left vectors of ``coreᵀ`` are ``vhᵀ``.
    """
    if core.ndim == 2 and modes == [0, 1]:
        f = linalg.truncated_svd(core, method="lapack")
        return {0: (f.u, f.s), 1: (f.vh.T, f.s)}
    out = {}
    for i in modes:
        f = linalg.truncated_svd(unfold(core, i), method="lapack")
        out[i] = (f.u, f.s)
    return out


def _per_mode(value: Any, i: int) -> Any:
    return value[i] if isinstance(value, (tuple, list)) else value


def tucker_truncate(
    y: TuckerLowRank,
    *,
    tol: float | None = None,
    max_error: float | None = None,
    rank_max: int | tuple | None = None,
    rank_min: int = 1,
) -> TuckerLowRank:
    """Truncate the core of ``y`` by its HOSVD, one rank rule per factored mode.

    For each of the ``d`` factored modes ``i``: ``Matᵢ(core) = Pᵢ Σᵢ (…)ᴴ``; keep the smallest
    ``rᵢ`` with ``||Σᵢ[rᵢ:]||_F <= tol ||core||_F / sqrt(d)`` and ``<= max_error / sqrt(d)``, so
    that the whole drop is within ``tol`` / ``max_error`` (HOSVD bound; a matrix core has one
    SVD and no split), clamp to
    ``[rank_min, rank_max]`` (``rank_max`` an int or one entry per mode); then
    ``fᵢ <- fᵢ Pᵢ[:, :rᵢ]`` and ``core <- core ×ᵢ Pᵢ[:, :rᵢ]ᴴ``. A matrix core becomes
    ``diag(Σ_r)``.
    """
    if not isinstance(y, TuckerLowRank):
        raise TypeError(f"y must be a TuckerLowRank (core, factors), got {type(y).__name__}")
    _check_tucker(y.core, y.factors)
    _check_rules({}, tol, max_error, rank_max)
    rank_min = checks.check_int(rank_min, "rank_min")
    modes = [i for i, f in enumerate(y.factors) if f is not None]
    if isinstance(rank_max, (tuple, list)) and modes and len(rank_max) <= modes[-1]:
        raise ValueError(
            f"rank_max must give a cap for every factored mode of core, {modes}; "
            f"got {len(rank_max)} entries"
        )
    if isinstance(rank_max, int) and rank_min > rank_max:
        raise ValueError(f"rank_min must be <= rank_max, got {rank_min} > {rank_max}")
    bases = _mode_bases(y.core, modes)
    core, factors = y.core, list(y.factors)
    split = 1.0 if y.core.ndim == 2 else math.sqrt(len(modes))  # a matrix: one SVD, one drop
    for i in modes:
        p, sig = bases[i]
        r = sig.shape[0]
        if tol is not None:
            r = min(r, linalg.rank_from_tol(sig, tol / split))
        if max_error is not None:
            r = min(r, linalg.rank_for_error(sig, max_error / split))
        cap = _per_mode(rank_max, i)
        r = max(min(r, cap or r), min(rank_min, sig.shape[0]))
        factors[i] = factors[i] @ p[:, :r]
        core = mode_product(core, ct(p[:, :r]), i)
    if core.ndim == 2 and modes == [0, 1] and core.shape[0] == core.shape[1]:
        core = diag(bases[0][1][: core.shape[0]], y.core)
    return TuckerLowRank(core, tuple(factors))


def _k_start(core: Any, factors: tuple, i: int) -> tuple[Any, Any]:
    """``(K0, V0)`` with ``Matᵢ(Y0) = K0 V0ᴴ``, ``V0 = W̄ᵢ Qᵢ`` orthonormal, ``K0`` with rᵢ columns.

    ``Qᵢ`` (from ``Matᵢ(core)ᴴ = Qᵢ Rᵢ``) is skipped when the other modes hold ≤ rᵢ columns.
    """
    xp = backend.namespace(core)
    mat = unfold(core, i)
    others = [j for j in range(core.ndim) if j != i]
    if mat.shape[1] <= mat.shape[0]:
        k0, q = factors[i] @ mat, None
    else:
        q, r = linalg.qr(ct(mat))
        k0 = factors[i] @ ct(r)
    if len(others) == 1 and factors[others[0]] is not None:  # a matrix: V0 = v (Q)
        w = _conj(factors[others[0]])
        return k0, w if q is None else w @ q
    if q is None:
        q = xp.eye(mat.shape[1], dtype=core.dtype, device=getattr(core, "device", None))
    t = xp.reshape(q, (*(core.shape[j] for j in others), q.shape[1]))
    for axis, j in enumerate(others):
        if factors[j] is not None:
            t = mode_product(t, _conj(factors[j]), axis)
    return k0, xp.reshape(t, (-1, q.shape[1]))


def tucker_bug_step(
    core: Any,
    factors: tuple,
    *,
    k_step: Callable[[int, Any, Any], Any],
    s_step: Callable[[Any, tuple], Any],
    augment: bool = True,
    tol: float | None = None,
    max_error: float | None = None,
    rank_max: int | tuple | None = None,
    executor: Executor | None = None,
) -> TuckerLowRank:
    """One (fixed-rank or rank-adaptive) BUG step for the Tucker tensor ``core ×ᵢ factors[i]``.

    See the module docstring. ``k_step(i, K0, V0) -> K1`` advances ``Kᵢ' = Matᵢ(F(Ten(K V0ᴴ)))
    V0`` over the step (``Matᵢ(Y0) = K0 V0ᴴ``, :func:`unfold` order); ``s_step(C0hat, factors)``
    advances the Galerkin system ``Ĉ' = F(Ĉ ×ᵢ Ûᵢ) ×ᵢ Ûᵢᴴ``. Factors that are ``None`` (full
    modes) are kept. ``augment``, ``tol``, ``max_error``, ``rank_max`` (int or one per mode) and
    ``executor`` (runs the K-steps concurrently) as in :func:`bug_step`.
    """
    _check_tucker(core, factors)
    _check_rules({"k_step": k_step, "s_step": s_step}, tol, max_error, rank_max)
    checks.check_bool(augment, "augment")
    modes = [i for i, f in enumerate(factors) if f is not None]
    starts = {i: _k_start(core, factors, i) for i in modes}
    if executor is None:
        k1 = {i: k_step(i, *starts[i]) for i in modes}
    else:
        futures = {i: executor.submit(k_step, i, *starts[i]) for i in modes}
        k1 = {i: f.result() for i, f in futures.items()}
    new, c0 = list(factors), core
    for i in modes:
        new[i] = augmented_basis(factors[i], k1[i]) if augment else orth(k1[i])
        c0 = mode_product(c0, ct(new[i]) @ factors[i], i)
    y = TuckerLowRank(s_step(c0, tuple(new)), tuple(new))
    if not augment:
        return y
    if tol is None and max_error is None:
        norm = float(backend.namespace(y.core).linalg.vector_norm(y.core))
        max_error = 10 * backend.eps(y.core) * norm
    return tucker_truncate(y, tol=tol, max_error=max_error, rank_max=rank_max)


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
    _check_rules(steps, tol, max_error, rank_max)


def _check_rules(steps: dict, tol: Any, max_error: Any, rank_max: Any) -> None:
    for name, f in steps.items():
        if not callable(f):
            raise TypeError(f"{name} must be callable, got {type(f).__name__}")
    checks.check_real(tol, "tol", low=0, high=1, open_low=True, open_high=True, optional=True)
    checks.check_real(max_error, "max_error", low=0, optional=True)
    for cap in rank_max if isinstance(rank_max, (tuple, list)) else [rank_max]:
        checks.check_int(cap, "rank_max", optional=True)


def _check_tucker(core: Any, factors: Any) -> None:
    if not isinstance(factors, (tuple, list)) or len(factors) != getattr(core, "ndim", -1):
        raise ValueError("factors must hold one matrix (or None) per axis of core")
    for i, f in enumerate(factors):
        if f is not None and (getattr(f, "ndim", None) != 2 or f.shape[1] != core.shape[i]):
            raise ValueError(
                f"factors[{i}] must be a matrix with {core.shape[i]} columns (core axis {i})"
            )


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

    def mode_step(i: int, k0: Any, v0: Any) -> Any:  # mode 1 of S ×₀ U ×₁ V̄ is the L-step
        return k_step(k0, v0) if i == 0 else _conj(l_step(_conj(k0), _conj(v0)))

    y = tucker_bug_step(
        s,
        (u, _conj(v)),
        k_step=mode_step,
        s_step=lambda c0, f: s_step(c0, f[0], _conj(f[1])),
        augment=augment,
        tol=tol,
        max_error=max_error,
        rank_max=rank_max,
        executor=executor,
    )
    return _as_matrix(y)


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
