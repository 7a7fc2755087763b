"""Matrix BUG steps: ``Y = U S Vᴴ`` driven through :func:`tnkit.lowrank.bug_step`.

The operator is turned into the three projected right-hand sides of the K-, L- and S-steps
(:class:`~solvers.bug.operators.FactorOperator`); a substep solver advances each over ``h``.
For a sum of products on two sites, ``F(Y) = Σ c A Y Bᵀ``, the projections are
``K ↦ Σ c A K (Vᴴ Bᵀ V)``, ``L ↦ Σ c̄ B̄ L (Uᴴ Aᴴ U)``, ``S ↦ Σ c (Uᴴ A U) S (Vᴴ Bᵀ V)``.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from tnkit import backend, lowrank
from tnkit.lowrank import LowRank, ct

from .operators import FactorOperator, SumOfProducts
from .tree import Solve


def factor_operator(op: Any, like: Any) -> FactorOperator:
    """The K/L/S right-hand sides of ``op`` (a 2-site sum of products or dense callable)."""
    if isinstance(op, FactorOperator):
        return op
    if isinstance(op, SumOfProducts):
        return _sop_factors(op, like)

    def k_rhs(t: float, kk: Any, v: Any) -> Any:
        return op(t, kk @ ct(v)) @ v

    def l_rhs(t: float, ll: Any, u: Any) -> Any:
        return ct(op(t, u @ ct(ll))) @ u

    def s_rhs(t: float, ss: Any, u: Any, v: Any) -> Any:
        return ct(u) @ op(t, u @ ss @ ct(v)) @ v

    return FactorOperator(k_rhs, l_rhs, s_rhs, linear=op.linear, hamiltonian=op.hamiltonian)


def _sop_factors(op: SumOfProducts, like: Any) -> FactorOperator:
    xp = backend.namespace(like)
    terms = []
    for t in op.terms:
        mats = dict(zip(t.sites, t.mats))
        a = mats.get(0)
        b = mats.get(1)
        terms.append(
            (
                t.coef,
                None if a is None else backend.asarray_like(backend.to_numpy(a), like),
                None if b is None else backend.asarray_like(backend.to_numpy(b), like),
            )
        )

    def left(m: Any, x: Any) -> Any:
        return x if m is None else m @ x

    cache: dict[tuple[int, int, str], tuple[Any, Any]] = {}

    def proj(m: Any, w: Any, kind: str) -> Any:
        """``wᴴ mᵀ w`` (kind "T"), ``wᴴ m w`` ("N") or ``wᴴ mᴴ w`` ("H"); ``None`` for identity.

        Remembered per (basis, matrix) while the same basis object is passed (one substep).
        """
        if m is None:
            return None
        key = (id(w), id(m), kind)
        hit = cache.get(key)
        if hit is not None and hit[0] is w:
            return hit[1]
        mm = {"T": m.T, "N": m, "H": ct(m)}[kind]
        value = ct(w) @ (mm @ w)
        if len(cache) > 64:
            cache.clear()
        cache[key] = (w, value)
        return value

    def k_rhs(t: float, kk: Any, v: Any) -> Any:
        out = 0
        for c, a, b in terms:
            pb = proj(b, v, "T")
            out = out + c * (left(a, kk) if pb is None else left(a, kk) @ pb)
        return out

    def l_rhs(t: float, ll: Any, u: Any) -> Any:
        out = 0
        for c, a, b in terms:
            pa = proj(a, u, "H")
            bl = ll if b is None else xp.conj(b) @ ll
            out = out + complex(c).conjugate() * (bl if pa is None else bl @ pa)
        return out

    def s_rhs(t: float, ss: Any, u: Any, v: Any) -> Any:
        out = 0
        for c, a, b in terms:
            pa, pb = proj(a, u, "N"), proj(b, v, "T")
            y = ss if pa is None else pa @ ss
            out = out + c * (y if pb is None else y @ pb)
        return out

    return FactorOperator(k_rhs, l_rhs, s_rhs, linear=True, hamiltonian=op.hamiltonian)


def step(
    fop: FactorOperator,
    y: LowRank,
    solve: Solve,
    t0: float,
    h: float,
    *,
    method: str,
    tol: float,
    rank_max: int | None,
    executor: Executor | None,
) -> tuple[LowRank, LowRank | None]:
    """One matrix BUG step; returns (new state, augmented state of the parallel variant)."""

    def k_step(k0: Any, v0: Any) -> Any:
        return solve(lambda t, x: fop.k(t, x, v0), k0, t0, h)

    def l_step(l0: Any, u0: Any) -> Any:
        return solve(lambda t, x: fop.l(t, x, u0), l0, t0, h)

    def s_step(s0: Any, u: Any, v: Any) -> Any:
        return solve(lambda t, x: fop.s(t, x, u, v), s0, t0, h)

    steps = dict(k_step=k_step, l_step=l_step, s_step=s_step, executor=executor)
    if method == "parallel":
        return lowrank.parallel_bug_step(*y, **steps, tol=tol, rank_max=rank_max)
    new = lowrank.bug_step(*y, **steps, augment=method == "adaptive", tol=tol, rank_max=rank_max)
    return new, None
