"""TR-SVD with a Kronecker split of the first bond pair ("Kronecker-split TR-SVD").

TR-SVD (Zhao et al., "Tensor ring decomposition", arXiv:1606.05535, Alg. 1) takes the top
``R = r_a r_b`` left singular vectors ``U`` of the unfolding ``X_(s)`` as the first core and
continues with a TT-SVD of the remainder ``W = U^H X_(s)``. ``U`` is only fixed up to
``U = G_mat C`` with ``C`` in GL(R); the reshape of ``U`` into ``(r_a, n_s, r_b)`` is right only
when ``C`` is a Kronecker product, otherwise the next unfolding of ``W`` has rank up to
``R r_c`` instead of ``r_c`` and truncating it at the prescribed rank loses most of the energy
(TensorLy's ``tensor_ring`` reaches ~0.9 relative error on an exact rank-5 ring of 30^4).

The fix (tnkit's own construction, see ``docs/formats/tr.md``): write the slices of ``W`` along
the next mode, compressed on the remaining modes, as ``M_k = C^{-1} (I_{r_a} (x) B_k) Gamma``.
For generic cores the ``B_k`` span all ``r_b x r_c`` matrices, so the left-multiplier algebra
``{Y : Y M_k in span{M_l} for all k}`` equals ``C^{-1} (I (x) gl(r_b)) C``; it is the null space
of a positive semidefinite form (smallest ``r_b^2`` eigenvectors). A random element has
eigenvalue clusters of multiplicity ``r_a``; one cluster's invariant subspace is
``C^{-1} (F (x) v)``, and ``r_b`` algebra elements applied to it give
``T = C^{-1} (F (x) B)``, refined by two Newton steps that make ``T^{-1} Y T`` block-scalar
for the whole algebra basis (a small least-squares problem). Then ``U T`` is a first core
with the Kronecker structure and ``T^{-1} W`` is an exact TT at ranks ``r_c, ...``. ``T`` is
balanced (nearest Kronecker factor of ``T^H T``, Van Loan & Pitsianis 1993) and the best of a
few random draws is kept.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg

from .. import backend, linalg
from . import _common as cm

N_DRAWS = 2
N_REFINE = 2
# the split builds an R^2 x R^2 form (R = r_a r_b, cost ~R^4 r_a r_c); above this R the
# plain reshape is used (ALS then does the work)
MAX_SPLIT = 49
_MAX_TRIES = 30


def rotation(shape: tuple[int, ...], ranks: tuple[int, ...]) -> tuple[int, bool]:
    """Start mode ``s`` for TR-SVD at ``ranks`` and whether the Kronecker split is feasible.

    Core ``s`` is ``(ranks[s-1], n_s, ranks[s])``. The split needs ``n_s >= r_{s-1} r_s``,
    ``n_{s+1} >= r_s r_{s+1}`` and the other modes' product ``>= r_{s-1} r_{s+1}``; the mode
    with the largest worst-case margin is chosen. Raises ``ValueError`` when no mode can even
    hold its first bond pair (``n_s >= r_{s-1} r_s``).
    """
    n = len(shape)
    total = math.prod(shape)
    best, best_split = None, -1.0
    for s in range(n):
        pair = ranks[s - 1] * ranks[s]
        first = min(shape[s], total // shape[s]) / pair
        if first < 1:
            continue
        nxt = (s + 1) % n
        rest = total // (shape[s] * shape[nxt])
        margin = min(
            first, shape[nxt] / (ranks[s] * ranks[nxt]), rest / (ranks[s - 1] * ranks[nxt])
        )
        if best is None or margin > best_split:
            best, best_split = s, margin
    if best is None:
        raise ValueError(
            f"TR-SVD at rank {ranks} needs a mode k with n_k >= rank[k-1]*rank[k] "
            f"(shape {shape}); use smaller ranks or method='als'"
        )
    return best, best_split >= 1 and n >= 3


def tr_svd(x: Any, ranks: tuple[int, ...], *, seed: int = 0) -> list[Any]:
    """Cores of a TR at the prescribed ``ranks`` (Kronecker-split TR-SVD when feasible)."""
    s, split = rotation(tuple(int(d) for d in x.shape), ranks)
    dims, rr = _rotated(x.shape, s), _rotated(ranks, s)
    r0, r1 = rr[-1], rr[0]
    u1 = _canonical(cm.left_subspace(x, s, r0 * r1, None)[0])
    w = _project(x, s, u1)
    t = None
    if split and r0 > 1 and r1 > 1 and r0 * r1 <= MAX_SPLIT:
        t = _kron_split(w, dims, r0, r1, rr[1], seed)
    cores = _finish(dims, u1, w, t, r0, r1, ranks=rr[1:-1], max_error=None)
    return cores[-s:] + cores[:-s] if s else cores


def tr_svd_tol(x: Any, tol: float, *, seed: int = 0) -> list[Any]:
    """Cores of a TR with ``||x - ring||_F <= tol ||x||_F``, ranks chosen by the SVDs.

    Budget: with ``delta = tol ||x|| / sqrt(N-1)`` the first truncation drops at most
    ``delta`` and each of the ``N-2`` TT truncations of ``T^{-1} W`` at most
    ``delta / ||T||_2``; since ``U`` is orthonormal and ``U^H (X - U W) = 0`` the total error
    is at most ``sqrt(N-1) delta = tol ||x||``. The first rank ``R`` is rounded up to
    ``a b`` with ``a = floor(sqrt R)`` (keeping more singular vectors only lowers the error);
    both orientations ``(a, b)`` and ``(b, a)`` of the bond pair are tried and the ring with
    fewer parameters is kept.
    """
    xp = backend.namespace(x)
    shape = tuple(int(d) for d in x.shape)
    n = len(shape)
    s = int(np.argmax(shape))
    delta = tol * float(xp.linalg.vector_norm(x)) / math.sqrt(n - 1)
    cap = min(shape[s], math.prod(shape) // shape[s])
    u1, _ = cm.left_subspace(x, s, cap, delta)
    a, b = _factor_pair(int(u1.shape[1]), cap)
    if a * b > int(u1.shape[1]):
        u1, _ = cm.left_subspace(x, s, a * b, None)
    u1 = _canonical(u1)
    w = _project(x, s, u1)
    dims = _rotated(shape, s)
    best = None
    for r0, r1 in dict.fromkeys([(a, b), (b, a)]):
        cores = _tol_candidate(dims, u1, w, r0, r1, delta, seed)
        if best is None or sum(_size(g) for g in cores) < sum(_size(g) for g in best):
            best = cores
    return best[-s:] + best[:-s] if s else best


def _tol_candidate(
    dims: tuple[int, ...], u1: Any, w: Any, r0: int, r1: int, delta: float, seed: int
) -> list[Any]:
    """The rotated-frame ring for the bond pair ``(r0, r1)`` under the error budget ``delta``."""
    xp = backend.namespace(w)
    t = None
    if len(dims) >= 3 and r0 > 1 and r1 > 1 and r0 * r1 <= MAX_SPLIT:
        _, s2, _, _ = linalg.truncated_svd(xp.reshape(w, (r0 * r1 * dims[1], -1)), max_error=delta)
        r2 = max(1, -(-int(s2.shape[0]) // r0))
        if dims[1] >= r1 * r2 and math.prod(dims[2:]) >= r0 * r2:
            t = _kron_split(w, dims, r0, r1, r2, seed)
    scale = 1.0 if t is None else float(np.linalg.norm(backend.to_numpy(t), 2))
    return _finish(dims, u1, w, t, r0, r1, ranks=None, max_error=delta / scale)


def _size(a: Any) -> int:
    return math.prod(int(d) for d in a.shape)


def _factor_pair(r: int, limit: int) -> tuple[int, int]:
    """``(a, b)`` with ``a b >= r``, ``a <= b`` balanced, ``a b <= limit`` when possible."""
    a = max(1, math.isqrt(r))
    b = -(-r // a)
    if a * b <= limit:
        return a, b
    a = max(d for d in range(1, math.isqrt(r) + 1) if r % d == 0)
    return a, r // a


def _rotated(seq: Any, s: int) -> tuple[int, ...]:
    """``seq`` in the frame where mode ``s`` comes first: ``seq[s], seq[s+1], ..., seq[s-1]``."""
    n = len(seq)
    return tuple(int(seq[(s + k) % n]) for k in range(n))


def _canonical(u: Any) -> Any:
    """``u`` with each column's phase fixed (``sum_i u_i |u_i|^2`` real and positive), so the
    result does not depend on the sign conventions of the backend's eigensolver."""
    xp = backend.namespace(u)
    p = xp.sum(u * xp.abs(u) ** 2, axis=0)
    size = xp.abs(p)
    phase = xp.where(size > 0, p / xp.where(size > 0, size, xp.ones_like(size)), xp.ones_like(p))
    return u * (xp.conj(phase) if backend.is_complex(u) else phase)[None, :]


def _project(x: Any, s: int, u: Any) -> Any:
    """``W = U^H X_(s)`` with the columns in cyclic order ``(i_{s+1}, ..., i_{s-1})``.

    The product runs on a free reshape ``(A, n_s, B)`` of ``x`` (no copy of the data); only the
    result, ``R / n_s`` of the data's size, is permuted to ``(R, B, A)``.
    """
    xp = backend.namespace(x)
    uh = xp.conj(u.T) if backend.is_complex(u) else u.T
    y = cm.mode_product(x, uh, s)
    shape = tuple(int(d) for d in x.shape)
    a, b, r = math.prod(shape[:s]), math.prod(shape[s + 1 :]), int(u.shape[1])
    if a == 1:
        return xp.reshape(y, (r, b))
    y = xp.permute_dims(xp.reshape(y, (a, r, b)), (1, 2, 0))
    return xp.reshape(y, (r, b * a))


def _top_left(c: Any, rank: int) -> tuple[Any, Any]:
    """``U`` (top ``rank`` left singular vectors of ``c``) and ``U^H c``.

    For a wide ``c`` the vectors come from the small Gram matrix ``c c^H`` (its SVD is its
    eigendecomposition), which avoids factoring the long side.
    """
    xp = backend.namespace(c)
    m, n = (int(d) for d in c.shape)
    ch = xp.conj(c.T) if backend.is_complex(c) else c.T
    if 4 * m <= n:
        u = linalg.truncated_svd(c @ ch, rank=rank, method="lapack").u
        uh = xp.conj(u.T) if backend.is_complex(u) else u.T
        return u, uh @ c
    u, s, vh, _ = linalg.truncated_svd(c, rank=rank)
    if backend.is_complex(vh):
        s = xp.astype(s, vh.dtype)
    return u, s[:, None] * vh


def _finish(
    dims: tuple[int, ...],
    u1: Any,
    w: Any,
    t: Any,
    r0: int,
    r1: int,
    *,
    ranks: tuple[int, ...] | None,
    max_error: float | None,
) -> list[Any]:
    """First core ``U T`` and the TT-SVD of ``T^{-1} W`` (in the rotated frame)."""
    xp = backend.namespace(w)
    if t is not None:
        u1 = u1 @ t
        w = xp.linalg.inv(t) @ w  # T is small and balanced: cheaper than a many-RHS solve
    first = xp.permute_dims(xp.reshape(u1, (dims[0], r0, r1)), (1, 0, 2))
    rem = xp.reshape(w, (r0, r1 * math.prod(dims[1:])))
    rem = xp.reshape(rem.T, (r1, *dims[1:], r0))  # (b, i_1 ... i_{N-1}, a)
    return [first, *_chain_svd(rem, ranks, max_error)]


def _chain_svd(t: Any, ranks: tuple[int, ...] | None, max_error: float | None) -> list[Any]:
    """TT-SVD of ``t`` of shape ``(r_left, n_1, ..., n_m, r_right)`` into ``m`` cores."""
    xp = backend.namespace(t)
    dims = tuple(int(d) for d in t.shape)
    mids = dims[1:-1]
    left = dims[0]
    c = xp.reshape(t, (left * mids[0], -1))
    cores = []
    for j in range(len(mids) - 1):
        if ranks is None:
            u, s, vh, _ = linalg.truncated_svd(c, max_error=max_error)
            sv = xp.astype(s, vh.dtype) if backend.is_complex(vh) else s
            rest = sv[:, None] * vh
        else:
            u, rest = _top_left(c, ranks[j])
        k = int(u.shape[1])
        cores.append(xp.reshape(u, (left, mids[j], k)))
        c = xp.reshape(rest, (k * mids[j + 1], -1))
        left = k
    cores.append(xp.reshape(c, (left, mids[-1], dims[-1])))
    return cores


def _kron_split(w: Any, dims: tuple[int, ...], r0: int, r1: int, r2: int, seed: int) -> Any:
    """``T = C^{-1} (F (x) B)`` for ``W`` (``r0 r1 x prod dims[1:]``); see the module docstring."""
    xp = backend.namespace(w)
    big = r0 * r1
    size = r0 * r2
    w2 = xp.reshape(w, (big * dims[1], -1))
    if int(w2.shape[1]) > size:
        ct = xp.conj(w2.T) if backend.is_complex(w2) else w2.T
        qs = linalg.randomized_range(ct, size, n_iter=1, seed=seed)
        w2 = w2 @ qs
    sk = backend.to_numpy(w2).reshape(big, dims[1], -1)  # (R, n_1, size)
    slices = np.moveaxis(sk, 1, 0)  # M_k, k over mode 1
    algebra = _multiplier_algebra(slices, r1 * r2, r1 * r1)
    rng = np.random.default_rng(seed)
    best, best_res = None, np.inf
    draws = tries = 0
    while draws < N_DRAWS and tries < _MAX_TRIES:
        tries += 1
        t = _kron_basis(algebra, r0, r1, rng)
        if t is None:
            continue
        draws += 1
        res = _next_bond_residual(np.linalg.solve(t, sk.reshape(big, -1)), r0, r1, r2, dims[1])
        if res < best_res:
            best, best_res = t, res
    if best is None:
        return None
    return backend.asarray_like(best, w)


def _multiplier_algebra(slices: np.ndarray, span_dim: int, dim: int) -> np.ndarray:
    """Basis (``dim`` x R x R) of ``{Y : Y M_k in span{M_l}}``: smallest eigenvectors of a form.

    With ``P_S`` the orthogonal projector onto the span ``S`` of the slices (its top
    ``span_dim`` singular directions), the form is ``sum_k ||Y M_k - P_S(Y M_k)||^2``.
    """
    n1, big, _ = slices.shape
    _, _, vh = np.linalg.svd(slices.reshape(n1, -1), full_matrices=False)
    basis = vh[: min(span_dim, n1)].reshape(-1, big, slices.shape[2])  # orthonormal in Frobenius
    flat = slices.transpose(1, 0, 2).reshape(big, -1)
    gram = np.conj(flat) @ flat.T  # sum_k conj(M_k) M_k^T
    form = np.kron(np.eye(big), gram)
    p, size = basis.shape[0], slices.shape[2]
    proj = np.conj(basis).reshape(p * big, size) @ slices.reshape(n1 * big, size).T
    proj = proj.reshape(p, big, n1, big).transpose(2, 0, 1, 3).reshape(-1, big * big)
    form -= np.conj(proj.T) @ proj
    form = (form + np.conj(form.T)) / 2
    return _null_space(form, dim).T.reshape(dim, big, big)


def _null_space(form: np.ndarray, dim: int) -> np.ndarray:
    """The ``dim`` eigenvectors of a PSD matrix with the smallest eigenvalues.

    Block inverse iteration with a Cholesky factor of ``form + shift I`` (the wanted
    eigenvalues are ~0 and the next ones far above, so three steps suffice), then
    Rayleigh-Ritz; a dense ``eigh`` when the factorisation fails.
    """
    n = form.shape[0]
    shift = 1e-12 * max(float(np.trace(form).real) / n, 1e-300)
    try:
        factor = scipy.linalg.cho_factor(form + shift * np.eye(n))
    except np.linalg.LinAlgError:
        return scipy.linalg.eigh(form, subset_by_index=[0, dim - 1])[1]
    block = np.random.default_rng(0).standard_normal((n, min(n, dim + 8))).astype(form.dtype)
    for _ in range(3):
        block, _ = np.linalg.qr(scipy.linalg.cho_solve(factor, block))
    _, vecs = np.linalg.eigh(np.conj(block.T) @ form @ block)
    return block @ vecs[:, :dim]


def _kron_basis(algebra: np.ndarray, r0: int, r1: int, rng: np.random.Generator) -> Any:
    """One random draw of ``T = C^{-1} (F (x) B)``, gauge-balanced; None if no real cluster."""
    big = r0 * r1
    real = not np.iscomplexobj(algebra)
    elem = np.tensordot(rng.standard_normal(algebra.shape[0]), algebra, axes=1)
    vals, vecs = np.linalg.eig(elem)
    spread_all = np.abs(vals[:, None] - vals[None, :])
    best, best_score = None, np.inf
    for i in range(big):
        order = np.argsort(spread_all[i])
        cluster = order[:r0]
        spread = spread_all[i, cluster].max()
        gap = spread_all[i, order[r0]] if r0 < big else np.inf
        offset = abs(np.mean(vals[cluster]).imag) if real else 0.0
        score = (spread + offset) / max(gap, 1e-300)
        if score < best_score:
            best, best_score = cluster, score
    if best_score >= 0.5:
        return None
    v = vecs[:, best]
    if real:
        u, _, _ = np.linalg.svd(np.concatenate([v.real, v.imag], axis=1), full_matrices=False)
        v = u[:, :r0]
    else:
        v, _ = np.linalg.qr(v)
    movers = np.tensordot(rng.standard_normal((r1, algebra.shape[0])), algebra, axes=1)
    t = np.einsum("jab,bp->apj", movers, v).reshape(big, big)  # column (p, j)
    if np.linalg.cond(t) > 1e8:
        return None
    for _ in range(N_REFINE):
        t = _refine(t, algebra, r0, r1)
    return _balance(t, r0, r1)


def _refine(t: np.ndarray, algebra: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """One Newton step towards ``T^{-1} Y T in I (x) gl(r1)`` for every algebra element ``Y``.

    With ``T^{-1} Y_l T = I (x) D_l + E_l`` and the update ``T (I + Delta)``, the first-order
    conditions ``E_l[p, p'] + D_l Delta[p, p'] - Delta[p, p'] D_l = 0`` (off-diagonal blocks)
    and ``= 0`` after removing the block mean (diagonal blocks) are one least-squares problem
    in the ``r1 x r1`` blocks of ``Delta``, with the same operator for every block.
    """
    big = r0 * r1
    a = np.linalg.inv(t) @ algebra @ t
    blocks = a.reshape(-1, r0, r1, r0, r1).transpose(0, 1, 3, 2, 4)  # (l, p, p', i, j)
    d = np.einsum("lppij->lij", blocks) / r0
    target = blocks.copy()
    idx = np.arange(r0)
    target[:, idx, idx] -= d[:, None]
    eye = np.eye(r1)
    ops = np.einsum("lik,jc->lijkc", d, eye) - np.einsum("ab,lcd->ladbc", eye, d)
    rhs = -target.transpose(0, 3, 4, 1, 2).reshape(-1, r0 * r0)
    sol, *_ = np.linalg.lstsq(ops.reshape(-1, r1 * r1), rhs, rcond=None)
    delta = sol.reshape(r1, r1, r0, r0).transpose(2, 0, 3, 1).reshape(big, big)
    return t @ (np.eye(big) + delta)


def _balance(t: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """``T (P (x) Q)`` with ``T^H T ~ K1 (x) K2`` (nearest Kronecker product), P, Q = K^(-1/2)."""
    g = np.conj(t.T) @ t
    re = g.reshape(r0, r1, r0, r1).transpose(0, 2, 1, 3).reshape(r0 * r0, r1 * r1)
    u, s, vh = np.linalg.svd(re, full_matrices=False)
    k1 = u[:, 0].reshape(r0, r0) * np.sqrt(s[0])
    k2 = vh[0].reshape(r1, r1) * np.sqrt(s[0])
    if np.trace(k1).real < 0:
        k1, k2 = -k1, -k2
    return t @ np.kron(_inv_sqrt(k1), _inv_sqrt(k2))


def _inv_sqrt(k: np.ndarray) -> np.ndarray:
    k = (k + np.conj(k.T)) / 2
    vals, vecs = np.linalg.eigh(k)
    vals = np.maximum(np.abs(vals), 1e-12 * np.abs(vals).max())
    return (vecs / np.sqrt(vals)) @ np.conj(vecs.T)


def _next_bond_residual(rem: np.ndarray, r0: int, r1: int, r2: int, n1: int) -> float:
    """Energy beyond rank ``r2`` of the unfolding ``(b, i_1) x (rest, a)`` of ``T^{-1} W``."""
    r = rem.reshape(r0, r1 * n1, -1).transpose(1, 2, 0).reshape(r1 * n1, -1)
    s = np.linalg.svd(r, compute_uv=False)
    return float(np.sqrt(np.sum(s[r2:] ** 2)))
