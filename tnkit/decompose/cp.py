"""CP decomposition by alternating least squares, with extrapolation and stabilisation.

ALS (Carroll & Chang 1970; Harshman 1970; Kolda & Bader, SIAM Review 2009, §3.4): for each mode
``A_k ← M_k Γ_k⁻¹`` with the MTTKRP ``M_k = X_(k) conj(⊙_{j≠k} A_j)`` and
``Γ_k = ⊛_{j≠k} A_jᵀ conj(A_j)`` (Hadamard product of Gram matrices). The MTTKRPs come from a
two-level dimension tree (Phan, Tichavský & Cichocki, IEEE TSP 2013): the modes are split into
a left and a right group of about equal size; one GEMM ``W_L = X_(L) conj(KR_R)`` against the
Khatri–Rao product of the *right* group only (never the full one) serves every left-mode
update, and one GEMM against the left group serves every right-mode update — two passes over
the data per sweep whatever N.

Line search: Bro's extrapolation (Bro 1998; as in TensorLy) tries
``A + s·(A - A_prev)`` with ``s = t^{1/p}`` after sweep ``t`` and keeps it if the error drops.

``stable=True``: the error-preserving correction of Phan et al., "Stable low-rank tensor
decomposition for compression of convolutional neural network" (ECCV 2020): keeping the ALS
error ``δ``, minimise the sum of squared norms of the rank-one terms ``Σ_r λ_r²`` mode by mode:
``min ||A||_F²`` s.t. ``||X_(k) - A Kᵀ||_F ≤ δ``, solved in the eigenbasis of ``Γ`` with a
scalar Lagrange multiplier. Diagnostics of degeneracy are reported in ``result.diagnostics``.

``nonnegative=True``: every factor is constrained to ``A_k >= 0`` and the exact solve
``M_k Γ_k⁻¹`` becomes a few HALS sweeps over the columns of ``A_k`` on the same ``M_k`` and
``Γ_k`` (:mod:`tnkit.decompose._nonneg`), so a sweep still costs two passes over the data; the
SVD start keeps the larger-norm sign part of each sketched singular vector, and the line-search
trial is projected onto ``>= 0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend, checks, contract, linalg
from ..formats.cp import CP
from ..sparse import SparseTensor, check_for_fit
from . import _common as cm
from . import _nonneg

INITS = ("svd", "random")


def cp(
    x: Any,
    rank: int,
    *,
    init: str | CP = "svd",
    max_iter: int = 500,
    tol: float | None = None,
    stop_tol: float | None = 1e-10,
    seed: int = 0,
    line_search: bool = True,
    stable: bool = False,
    stable_slack: float = 0.01,
    mask: Any = None,
    nonnegative: bool = False,
    progress: bool | Callable[[int, float], Any] = False,
) -> CP:
    """Rank-``rank`` CP decomposition of ``x`` by ALS (see the module docstring).

    Parameters
    ----------
    x : N-way array (N >= 2; numpy, torch or cupy; float or complex), or a
        :class:`tnkit.sparse.SparseTensor` (fitted from its listed entries only:
        :mod:`tnkit.decompose.cp_sparse`; not with ``mask`` or ``stable``).
    rank : number of rank-one terms, at most ``prod(shape) / max(shape)`` (an upper bound on
        the CP rank of any tensor of this shape).
    init : ``"svd"`` (leading left singular vectors of each unfolding from a cheap randomized
        sketch, random columns where ``rank > n_k``, refined by ALS on the tensor compressed
        onto those vectors), ``"random"`` or a :class:`CP`.
    max_iter : maximum number of sweeps.
    tol : stop once the relative error is ``<= tol`` (in (0, 1)).
    stop_tol : stop when a sweep lowers the relative error by less than this (None: never).
    seed : seed of the random parts of the initialisation.
    line_search : Bro's extrapolation between sweeps.
    stable : apply the error-preserving norm correction (Phan et al. 2020) after ALS.
    stable_slack : the correction (its final relative error is ``options["stable_error"]``;
        ``history`` is that of ALS) keeps the error ``<= (1 + stable_slack) ×`` the ALS error.
        With 0 a fully converged ALS solution cannot move (each mode is already the unique
        least-squares point); a small slack such as 0.01 lets degenerate fits shed their
        cancelling norms.
    mask : boolean array of ``x``'s shape, True where observed; missing entries are imputed by
        EM and the error counts observed entries only; ``x`` may hold NaN where unobserved.
    nonnegative : constrain every factor (and so the weights) to be ``>= 0`` (real ``x``
        only; not with ``stable``); ``x`` itself may have negative entries.
    progress : True for a progress bar, or a callable ``progress(sweep, rel_error)``.

    Returns
    -------
    CP with unit-norm factor columns and the scale in ``weights`` (sorted descending),
    ``history`` (relative error per sweep) and ``options`` (including ``diagnostics``:
    ``norm_ratio = ||λ||₂ / ||X̂||`` (1 for orthogonal terms, large for cancelling,
    degenerate terms), ``max_term_ratio = max|λ| / ||X̂||`` and ``sensitivity`` (Tichavský,
    Phan & Cichocki 2019, for factors scaled to equal column norms, relative to ``||X̂||²``)).
    Ctrl-C returns the current model.
    """
    sparse = isinstance(x, SparseTensor)
    if sparse:
        check_for_fit(x, mask)
    else:
        x, mask = cm.check_masked_data(x, mask, "x", min_ndim=2)
    shape = tuple(int(d) for d in x.shape)
    bound = math.prod(shape) // max(shape)
    rank = cm.check_positive_int(rank, "rank")
    if rank > bound:
        raise ValueError(
            f"rank {rank} exceeds {bound} = prod(shape)/max(shape), the largest CP rank a "
            f"tensor of shape {shape} can need"
        )
    max_iter = cm.check_positive_int(max_iter, "max_iter")
    cm.check_tol(tol)
    stop_tol = checks.check_real(stop_tol, "stop_tol", optional=True)
    seed = checks.check_seed(seed)
    stable_slack = checks.check_real(stable_slack, "stable_slack", low=0)
    for flag, value in (
        ("line_search", line_search),
        ("stable", stable),
        ("nonnegative", nonnegative),
    ):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{flag} must be True or False, got {value!r}")
    if not isinstance(init, CP) and init not in INITS:
        raise ValueError(f"init must be one of {INITS} or a CP, got {init!r}")
    like = x.values if sparse else x
    if nonnegative:
        _check_nonnegative_options(like, init, stable)
    options: dict[str, Any] = {"rank": rank, "init": init if isinstance(init, str) else "CP"}
    options.update(max_iter=max_iter, tol=tol, stop_tol=stop_tol, seed=seed)
    options.update(line_search=line_search, stable=stable, stable_slack=stable_slack)
    options.update(masked=mask is not None, nonnegative=bool(nonnegative))
    if sparse:
        from . import cp_sparse  # it builds on this module

        if stable:
            raise ValueError("stable=True needs dense x (it works on the full residual)")
        options.update(masked=x.unlisted == "missing", nnz=x.nnz, unlisted=x.unlisted)
    if (x.norm() if sparse else cm.fro(x)) == 0.0:
        zero = [backend.asarray_like(np.eye(d, rank), like) for d in shape]
        return CP(backend.asarray_like(np.zeros(rank), like), zero, options=options)
    if sparse:
        factors, history, options["interrupted"] = cp_sparse.fit(
            x, rank, init, seed, max_iter, tol, stop_tol, line_search, nonnegative, progress
        )
        weights, factors = _normalize(factors)
        options["diagnostics"] = _diagnostics(weights, factors)
        return CP(weights, factors, history=history, options=options)
    factors = _initial_factors(x if mask is None else mask * x, rank, init, seed)
    if nonnegative and not isinstance(init, CP):
        factors = [_nonneg.larger_part(f) for f in factors]
    elif init == "svd" and mask is None:
        factors = _compressed_start(x, factors, rank, line_search)
    history: list[float] = []
    factors = _als(
        x, mask, factors, max_iter, tol, stop_tol, line_search, nonnegative, progress, history
    )
    if stable:
        data = x if mask is None else cm.impute(x, mask, _full(factors))
        factors = _stabilize(data, factors, max_iter, stable_slack)
        options["stable_error"] = cm.fro(data - _full(factors)) / cm.fro(data)
    weights, factors = _normalize(factors)
    options["diagnostics"] = _diagnostics(weights, factors)
    return CP(weights, factors, history=history, options=options)


def _check_nonnegative_options(x: Any, init: str | CP, stable: bool) -> None:
    if backend.is_complex(x):
        raise TypeError("nonnegative=True needs real x, got a complex array")
    if stable:
        raise ValueError("nonnegative=True cannot be combined with stable=True")
    if isinstance(init, CP):
        low = min(float(np.min(backend.to_numpy(f))) for f in (init.weights, *init.factors))
        if low < 0:
            raise ValueError(
                f"init CP has a negative entry ({low:.3g}); nonnegative=True needs a "
                "nonnegative start"
            )


# ---------------------------------------------------------------------- initialisation
def given_factors(init: CP, shape: tuple[int, ...], rank: int, like: Any) -> list[Any]:
    """The factors of the start ``init`` (weights folded into the last), on ``like``'s
    backend and in its dtype."""
    if init.shape != tuple(shape) or init.rank != rank:
        raise ValueError(
            f"init CP has shape {init.shape} and rank {init.rank}; "
            f"expected {tuple(shape)} and {rank}"
        )
    xp = backend.namespace(like)
    name = backend.backend_name(like)
    fs = [xp.astype(backend.to_backend(f, name), like.dtype) for f in init.factors]
    fs[-1] = fs[-1] * xp.astype(backend.to_backend(init.weights, name), like.dtype)
    return fs


def _initial_factors(x: Any, rank: int, init: str | CP, seed: int) -> list[Any]:
    if isinstance(init, CP):
        return given_factors(init, tuple(x.shape), rank, x)
    rng = np.random.default_rng(seed)
    if init == "random":
        return [backend.random_normal((d, rank), x, rng) for d in x.shape]
    return [_sketched_singular_vectors(x, k, rank, rng) for k in range(x.ndim)]


def _compressed_start(x: Any, factors: list[Any], rank: int, line_search: bool) -> list[Any]:
    """Refine the SVD start by ALS on the Tucker-compressed tensor (CANDELINC; Carroll,
    Pruzansky & Kruskal 1980; Bro & Andersson 1998): with ``Q_k`` the sketched leading singular
    vectors, CP-ALS on ``core = x ×_k Q_kᴴ`` costs almost nothing and ``A_k = Q_k B_k`` lifts
    its solution. Skipped when the core would not be much smaller than ``x``."""
    qs = [f[:, : min(rank, int(f.shape[0]))] for f in factors]
    if math.prod(int(q.shape[1]) for q in qs) * 8 > math.prod(int(d) for d in x.shape):
        return factors
    core = cm.mode_products(x, [cm.ct(q) for q in qs])
    start = [cm.ct(q) @ f for q, f in zip(qs, factors)]
    small = _als(core, None, start, 100, None, 1e-9, line_search, False, None, [])
    return [q @ b for q, b in zip(qs, small)]


def _sketched_singular_vectors(x: Any, mode: int, rank: int, rng: np.random.Generator) -> Any:
    """Leading ``min(rank, n)`` left singular vectors of ``X_(mode)`` from a Kronecker sketch
    ``x ×_{j≠mode} Ω_jᵀ`` (Gaussian Ω_j), padded with random columns up to ``rank``."""
    xp = backend.namespace(x)
    n = int(x.shape[mode])
    others = [int(d) for j, d in enumerate(x.shape) if j != mode]
    want = min(rank, n) + 8
    per = max(2, math.ceil(want ** (1.0 / len(others))))
    y = x
    for j in range(x.ndim - 1, -1, -1):
        if j != mode:
            s = min(per, int(x.shape[j]))
            y = cm.mode_product(y, backend.random_normal((s, int(x.shape[j])), x, rng), j)
    u, _, _, _ = linalg.truncated_svd(cm.unfold(y, mode), rank=min(rank, n), method="lapack")
    u = _fixed_phases(u)
    if u.shape[1] < rank:
        extra = backend.random_normal((n, rank - int(u.shape[1])), x, rng)
        u = xp.concat([u, extra / math.sqrt(n)], axis=1)
    return u


def _fixed_phases(u: Any) -> Any:
    """``u`` with each column scaled by a unit factor that makes its sum real and positive.

    Singular vectors are defined up to such a factor, and LAPACK builds pick it differently
    (numpy's OpenBLAS and torch's bundled LAPACK do), so without this the same data gives other
    starts, hence other fits, on other backends.
    """
    xp = backend.namespace(u)
    c = xp.sum(u, axis=0)
    mag = xp.abs(c)
    phase = xp.where(mag > 0, c / xp.where(mag > 0, mag, xp.ones_like(mag)), xp.ones_like(c))
    return u * xp.conj(phase)[None, :]


# ---------------------------------------------------------------------- ALS
class _Tree:
    """Two-level dimension tree: modes ``[0, h)`` and ``[h, N)``; see the module docstring."""

    def __init__(self, x: Any) -> None:
        shape = [int(d) for d in x.shape]
        n = len(shape)
        logs = np.cumsum(np.log(shape))
        self.h = int(np.argmin([abs(2 * logs[h - 1] - logs[-1]) for h in range(1, n)])) + 1
        self.shape = shape
        self.groups = (list(range(self.h)), list(range(self.h, n)))
        self.p_left = math.prod(shape[: self.h])

    def partial(self, data: Any, factors: list[Any], group: int) -> Any:
        """``W`` for the update of ``group`` (0 = left): ``data`` contracted with the
        conjugated factors of the other group, shape (n_g..., R)."""
        xp = backend.namespace(data)
        mat = xp.reshape(data, (self.p_left, -1))
        other = self.groups[1 - group]
        kr = _conj(khatri_rao([factors[j] for j in other]))
        w = mat @ kr if group == 0 else mat.T @ kr
        dims = [self.shape[j] for j in self.groups[group]]
        return xp.reshape(w, (*dims, int(kr.shape[1])))

    def mttkrp(self, w: Any, factors: list[Any], group: int, mode: int) -> Any:
        """MTTKRP of ``mode`` from the group partial ``w``."""
        modes = self.groups[group]
        if len(modes) == 1:
            return w
        letters = [chr(ord("a") + i) for i in range(len(modes))]
        ops, terms = [w], ["".join(letters) + "z"]
        for i, j in enumerate(modes):
            if j != mode:
                ops.append(_conj(factors[j]))
                terms.append(letters[i] + "z")
        eq = ",".join(terms) + "->" + letters[modes.index(mode)] + "z"
        return contract.einsum(eq, *ops)


def khatri_rao(mats: list[Any]) -> Any:
    """Column-wise Kronecker product, rows in C order (last matrix's index fastest)."""
    xp = backend.namespace(*mats)
    out = mats[0]
    for m in mats[1:]:
        out = xp.reshape(out[:, None, :] * m[None, :, :], (-1, int(m.shape[1])))
    return out


def _conj(a: Any) -> Any:
    return backend.namespace(a).conj(a) if backend.is_complex(a) else a


def _gram(a: Any) -> Any:
    """``Aᵀ conj(A)`` (R × R)."""
    return a.T @ _conj(a)


def _solve(m: Any, gamma: Any) -> Any:
    """``A = M Γ⁻¹`` with a tiny ridge so rank-deficient Γ stays solvable."""
    xp = backend.namespace(m)
    r = int(gamma.shape[0])
    eye = xp.eye(r, dtype=gamma.dtype, **backend.device_kwargs(gamma))
    ridge = xp.max(xp.abs(xp.linalg.diagonal(gamma))) * (backend.eps(gamma) * r)  # on device
    return xp.linalg.solve((gamma + ridge * eye).T, m.T).T


def _hadamard(mats: list[Any]) -> Any:
    out = mats[0]
    for m in mats[1:]:
        out = out * m
    return out


def _model_norm2(grams: list[Any]) -> Any:
    """``‖[[A_0, ..., A_{N-1}]]‖²`` from the Gram matrices, a 0-d array on their device."""
    xp = backend.namespace(grams[0])
    return xp.real(xp.sum(_hadamard(grams)))


def _full(factors: list[Any]) -> Any:
    xp = backend.namespace(factors[0])
    shape = tuple(int(f.shape[0]) for f in factors)
    return xp.reshape(khatri_rao(factors[:-1]) @ factors[-1].T, shape)


def _als(
    x: Any,
    mask: Any,
    factors: list[Any],
    max_iter: int,
    tol: float | None,
    stop_tol: float | None,
    line_search: bool,
    nonnegative: bool,
    progress: Any,
    history: list[float],
) -> list[Any]:
    """ALS sweeps (HALS sweeps when ``nonnegative``); appends the relative error after each
    sweep to ``history``."""
    tree = _Tree(x)
    norm = cm.fro(x)
    data = x if mask is None else cm.impute(x, mask, _full(factors))
    bar = cm.Progress(progress, max_iter, "CP-HALS" if nonnegative else "CP-ALS")
    prev, w_left, extrapolation = None, None, Extrapolation()
    try:
        for t in range(1, max_iter + 1):
            if mask is not None and t > 1:
                data = cm.impute(x, mask, _full(factors))
                w_left = None
            new, err2 = _sweep(data, factors, tree, w_left, norm, nonnegative)
            w_left = None
            if line_search and prev is not None and mask is None:
                trial = extrapolation.trial(new, prev, t, nonnegative)
                w_trial = tree.partial(data, trial, 0)
                taken, err2 = _better(err2, _fit_from_left(tree, data, trial, w_trial, norm))
                if taken:
                    new, w_left = trial, w_trial
                else:
                    extrapolation.rejected()
            err = _error(x, mask, new, err2, norm)
            prev, factors = factors, new
            history.append(err)
            bar.update(t, err)
            if tol is not None and err <= tol:
                break
            if stop_tol is not None and t > 1 and abs(history[-2] - err) < stop_tol:
                break
    except KeyboardInterrupt:
        pass
    finally:
        bar.close()
    return factors


class Extrapolation:
    """Bro's line search between sweeps (module docstring): after sweep ``t`` the trial is
    ``A + s·(A - A_prev)``, ``s = t^{1/p}`` (projected onto ``>= 0`` for nonnegative fits);
    ``p`` starts at 3 and grows by one after every fourth rejected trial."""

    def __init__(self) -> None:
        self.power, self.fails = 3.0, 0

    def trial(self, new: list[Any], prev: list[Any], sweep: int, nonnegative: bool) -> list[Any]:
        step = sweep ** (1.0 / self.power)
        trial = [a + step * (a - b) for a, b in zip(new, prev)]
        if nonnegative:
            trial = [backend.namespace(a).clip(a, min=0.0) for a in trial]
        return trial

    def rejected(self) -> None:
        self.fails += 1
        if self.fails == 4:
            self.power, self.fails = self.power + 1.0, 0


def _better(err2: Any, trial2: Any) -> tuple[bool, float]:
    """Whether the line-search trial (squared residual ``trial2``) beats the sweep's
    ``err2``, and the smaller of the two — read with ONE host sync: the winner's value,
    clamped at 0, is negated when the trial wins (``-0.0`` keeps its sign)."""
    xp = backend.namespace(err2)
    a, b = xp.clip(xp.real(err2), min=0.0), xp.clip(xp.real(trial2), min=0.0)
    code = float(xp.where(b < a, -b, a))
    return math.copysign(1.0, code) < 0, abs(code)


def _sweep(
    data: Any, factors: list[Any], tree: _Tree, w_left: Any, norm: float, nonnegative: bool
) -> tuple[list[Any], Any]:
    """One ALS sweep (``w_left``: a precomputed left partial, or None; HALS updates when
    ``nonnegative``). Returns the new factors and the squared residual estimate (a 0-d array
    on the data's device)."""
    factors = list(factors)
    grams = [_gram(a) for a in factors]
    rank = int(factors[0].shape[1])
    per_mode = 2.0 * math.prod(tree.shape) * rank / len(tree.shape)  # the MTTKRPs' share
    last_m = None
    for group in (0, 1):
        w = w_left if group == 0 and w_left is not None else tree.partial(data, factors, group)
        for k in tree.groups[group]:
            m = tree.mttkrp(w, factors, group, k)
            gamma = _hadamard([g for j, g in enumerate(grams) if j != k])
            if nonnegative:
                inner = _nonneg.inner_sweeps(tree.shape[k], rank, per_mode)
                a = _nonneg.hals(factors[k], m, gamma, inner)
            else:
                a = _solve(m, gamma)
            if k < len(factors) - 1:
                a = a / _column_norms(a)[None, :]
            factors[k], grams[k], last_m = a, _gram(a), m
    xp = backend.namespace(data)
    inner = xp.real(xp.sum(_conj(factors[-1]) * last_m))
    return factors, norm**2 - 2 * inner + _model_norm2(grams)


def _fit_from_left(tree: _Tree, data: Any, factors: list[Any], w_left: Any, norm: float) -> Any:
    """Squared residual of ``factors`` from the left partial ``W_L`` (no extra data pass),
    as a 0-d array on the data's device."""
    xp = backend.namespace(data)
    k = tree.groups[0][0]
    m = tree.mttkrp(w_left, factors, 0, k)
    inner = xp.real(xp.sum(_conj(factors[k]) * m))
    return norm**2 - 2 * inner + _model_norm2([_gram(a) for a in factors])


def _error(x: Any, mask: Any, factors: list[Any], err2: Any, norm: float) -> float:
    """Relative error; exact (from the dense model) when the estimate ``err2`` (a float or a
    0-d device array, read only when used) is near round-off."""
    if mask is not None:
        return cm.masked_error(x, mask, _full(factors))
    err2 = float(err2)
    if err2 > 1e-10 * norm**2:
        return math.sqrt(err2) / norm
    return _residual_norm(x, factors) / norm


def _residual_norm(x: Any, factors: list[Any]) -> float:
    """``||x - [[A_0, ..., A_{N-1}]]||_F`` in slabs of mode 0 (no dense copy of the model)."""
    xp = backend.namespace(x)
    kr_t = khatri_rao(factors[1:]).T
    n0 = int(x.shape[0])
    step = max(1, n0 // 16)
    total = 0.0
    for i in range(0, n0, step):
        block = xp.reshape(x[i : i + step], (-1, int(kr_t.shape[1])))
        total += cm.fro(block - factors[0][i : i + step] @ kr_t) ** 2
    return math.sqrt(total)


def _column_norms(a: Any) -> Any:
    xp = backend.namespace(a)
    n = xp.linalg.vector_norm(a, axis=0)
    return xp.where(n > 0, n, xp.ones_like(n))


def _normalize(factors: list[Any]) -> tuple[Any, list[Any]]:
    """Unit-norm columns, weights = product of the column norms, sorted descending."""
    xp = backend.namespace(factors[0])
    weights = None
    out = []
    for a in factors:
        n = xp.linalg.vector_norm(a, axis=0)
        weights = n if weights is None else weights * n
        out.append(a / xp.where(n > 0, n, xp.ones_like(n))[None, :])
    order = xp.argsort(-weights)
    weights = xp.astype(xp.take(weights, order), factors[0].dtype)
    return weights, [xp.take(a, order, axis=1) for a in out]


# ---------------------------------------------------------------------- stabilisation
def _stabilize(x: Any, factors: list[Any], max_rounds: int, slack: float) -> list[Any]:
    """Error-preserving norm correction (module docstring), ``δ = (1 + slack)·`` the current
    error."""
    xp = backend.namespace(x)
    norm2 = cm.fro(x) ** 2
    delta2 = ((1.0 + slack) * cm.fro(x - _full(factors))) ** 2
    factors = list(factors)
    n = len(factors)
    prev = None
    for _ in range(min(max_rounds, _EPC_ROUNDS)):
        for k in range(n):
            scale = None
            for j in range(n):
                if j != k:
                    cn = _column_norms(factors[j])
                    factors[j] = factors[j] / cn[None, :]
                    scale = cn if scale is None else scale * cn
            factors[k] = factors[k] * scale[None, :]
            m = _full_mttkrp(x, factors, k)
            gamma = _hadamard([_gram(a) for j, a in enumerate(factors) if j != k])
            factors[k] = _min_norm_update(m, gamma, norm2, delta2)
        size = float(xp.sum(xp.abs(factors[-1]) ** 2))
        if prev is not None and abs(prev - size) <= 1e-6 * prev:
            break
        prev = size
    return factors


def _full_mttkrp(x: Any, factors: list[Any], mode: int) -> Any:
    letters = [chr(ord("a") + i) for i in range(x.ndim)]
    ops, terms = [x], ["".join(letters)]
    for j, a in enumerate(factors):
        if j != mode:
            ops.append(_conj(a))
            terms.append(letters[j] + "z")
    return contract.einsum(",".join(terms) + "->" + letters[mode] + "z", *ops)


_MU_MAX = math.exp(40.0)
_EPC_ROUNDS = 200


def _min_norm_update(m: Any, gamma: Any, norm2: float, delta2: float) -> Any:
    """``argmin ||A||²`` s.t. ``||X||² - 2Re tr(Aᴴ M) + tr(A Γ Aᴴ) <= δ²``.

    Stationarity gives ``A = μ M (I + μΓ)⁻¹``; in the eigenbasis ``Γ = V Σ Vᴴ`` with
    ``Z = M V`` the residual is ``f(μ) = ||X||² - Σ_r |z_r|² (2 d_r - σ_r d_r²)``,
    ``d_r = μ / (1 + μ σ_r)``, decreasing in μ; μ solves ``f(μ) = δ²`` (smallest grid point
    of a refined log-spaced bracket with ``f <= δ²``, so the constraint holds).
    """
    xp = backend.namespace(m)
    sig, v = xp.linalg.eigh(gamma)
    z = m @ v
    zn = backend.to_numpy(xp.sum(xp.abs(z) ** 2, axis=0)).astype(np.float64)
    sg = np.maximum(backend.to_numpy(sig).astype(np.float64), 0.0)

    def resid(mu: float) -> float:
        d = mu / (1.0 + mu * sg)
        return norm2 - float(np.sum(zn * (2 * d - sg * d * d)))

    if resid(_MU_MAX) >= delta2:  # only the least-squares solution meets δ
        d = np.where(sg > 0, 1.0 / np.where(sg > 0, sg, 1.0), 0.0)
    else:
        lo, hi = -40.0, math.log(_MU_MAX)
        for _ in range(4):  # bracket refinement on log-spaced grids, vectorised
            grid = np.exp(np.linspace(lo, hi, 33))
            d = grid[:, None] / (1.0 + grid[:, None] * sg[None, :])
            f = norm2 - np.sum(zn[None, :] * (2 * d - sg[None, :] * d * d), axis=1)
            i = int(np.argmax(f <= delta2))  # first grid point meeting δ (f decreases)
            lo, hi = math.log(grid[max(i - 1, 0)]), math.log(grid[i])
        mu = math.exp(hi)
        d = mu / (1.0 + mu * sg)
    dd = backend.asarray_like(d, z)
    return (z * dd[None, :]) @ cm.ct(v)


def _diagnostics(weights: Any, factors: list[Any]) -> dict[str, float]:
    w = np.abs(backend.to_numpy(weights)).astype(np.float64)
    model = math.sqrt(
        max(
            float(
                _model_norm2(
                    [_gram(a) for a in factors[:-1]] + [_gram(factors[-1] * weights[None, :])]
                )
            ),
            0.0,
        )
    )
    if model == 0.0:
        return {"norm_ratio": 0.0, "max_term_ratio": 0.0, "sensitivity": 0.0}
    n = len(factors)
    sens = n * float(np.sum(w ** (2.0 * (n - 1) / n))) / model ** (2.0 * (n - 1) / n)
    return {
        "norm_ratio": float(np.sqrt(np.sum(w**2))) / model,
        "max_term_ratio": float(w.max()) / model,
        "sensitivity": sens,
    }
