"""TR-ALS: alternating least squares for a tensor ring, by normal equations.

Core ``k`` of a ring solves ``min_G ||X_(k) - G_(k) Z_k||_F`` where ``Z_k`` is the subchain of
all other cores (Zhao et al., "Tensor ring decomposition", arXiv:1606.05535, Alg. 2). Instead of
a least-squares solve on the ``(prod n) x r^2`` matrix ``Z_k`` we form the normal equations
``G H_k = D_k`` with

* ``H_k = Z_k Z_k^H`` (``r^2 x r^2``) as a product of transfer matrices
  ``E_j = sum_i G_j[:, i, :] (x) conj(G_j[:, i, :])``: the prefix product of the cores already
  updated in this sweep times the suffix product of the cores still to come, so each
  transfer product is computed once per sweep;
* ``D_k = X_(k) Z_k^H`` from two shared subchain contractions: ``L_k``, the data contracted
  with the updated cores ``0 .. k-1`` (one more core per step), and ``Q_{k+1}``, the product of
  the old cores ``k+1 .. N-1`` (all built at the start of the sweep).

One sweep costs about ``2 r^2 prod(n)`` for the data terms plus lower-order terms, and never
forms an operator larger than ``r^2 x r^2``. It runs on the cores' device: ridges, identities
and the balancing scales are computed there, and only the sweep's error reaches the host.

With missing data (:class:`tnkit.decompose.network.MaskedSweep` with :func:`gauged_ring`)
every slice ``G_k[:, i, :]`` has its own Gram matrix
``sum_{j observed} z_j z_j^H`` (``z_j`` the subchain at the other indices ``j``), so there is no
shared transfer-matrix product; the sweep is the masked ALS of
:func:`tnkit.decompose.network.fit_network`, which solves exactly these per-slice normal
equations for any network, here on the ring. Before each masked sweep the ring is moved to a
left-orthogonal gauge (:func:`left_orthogonal`): ALS leaves the bond gauges free to drift into
ill-conditioned ones, and then the small relative ridge of the solves stalls exact recovery near
``1e-8`` (with the gauge fixed it reaches ``~1e-12``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend, linalg
from ..formats.tr import TR


def _conj(xp: Any, a: Any) -> Any:
    return xp.conj(a) if backend.is_complex(a) else a


def _transfer(xp: Any, b: Any, g: Any = None) -> Any:
    """``E[(x, y), (x', y')] = sum_i b[x, i, x'] conj(g[y, i, y'])`` (``g = b`` by default), as
    one GEMM over the mode index."""
    g = b if g is None else g
    s0, m, s1 = (int(d) for d in b.shape)
    r0, _, r1 = (int(d) for d in g.shape)
    bm = xp.reshape(xp.permute_dims(b, (0, 2, 1)), (s0 * s1, m))
    gm = xp.reshape(xp.permute_dims(_conj(xp, g), (1, 0, 2)), (m, r0 * r1))
    e = xp.reshape(bm @ gm, (s0, s1, r0, r1))
    return xp.reshape(xp.permute_dims(e, (0, 2, 1, 3)), (s0 * r0, s1 * r1))


def _suffix_chains(xp: Any, cores: list[Any]) -> list[Any]:
    """``Q[k]`` = conj(G_k ... G_{N-1}) with layout (b_{k-1}, i_k .. i_{N-1}, b_{N-1})."""
    n = len(cores)
    q: list[Any] = [None] * (n + 1)
    q[n - 1] = _conj(xp, cores[n - 1])
    for k in range(n - 2, 0, -1):
        g = _conj(xp, cores[k])
        r0, m, r1 = (int(d) for d in g.shape)
        nxt = q[k + 1]
        q[k] = xp.reshape(
            xp.reshape(g, (r0 * m, r1)) @ xp.reshape(nxt, (r1, -1)), (r0, -1, int(nxt.shape[-1]))
        )
    return q


def _float64(xp: Any, a: Any) -> Any:
    """``a`` (a real array) in double precision, on its device."""
    return xp.astype(a, xp.float64)


def _solve(xp: Any, h: Any, d: Any) -> Any:
    """``G`` with ``G H = D`` for Hermitian positive (semi)definite ``H`` (a tiny ridge).

    The ridge ``1e-13 max|diag H|`` is computed in double precision on the device, then cast to
    ``H``'s dtype (the rounding a Python float would get), so no value goes to the host.
    """
    p = int(h.shape[0])
    peak = _float64(xp, xp.max(xp.abs(xp.linalg.diagonal(h))))
    ridge = xp.astype(1e-13 * peak + 1e-300, h.dtype)
    eye = xp.eye(p, dtype=h.dtype, **backend.device_kwargs(h))
    hs = h + ridge * eye
    hs_t = _conj(xp, hs)  # H^T = conj(H) for Hermitian H
    return xp.linalg.solve(hs_t, d.T).T


def _suffix_products(trans: list[Any]) -> list[Any]:
    """``S[k] = T_k ... T_{N-1}`` for ``k = 1 .. N-1`` (``S[N] = None``, the empty product)."""
    n = len(trans)
    suffix: list[Any] = [None] * (n + 1)
    for k in range(n - 1, 0, -1):
        suffix[k] = trans[k] if suffix[k + 1] is None else trans[k] @ suffix[k + 1]
    return suffix


def _around(suffix: Any, prefix: Any) -> Any:
    """The ring's product of transfer matrices past core ``k``: ``S[k+1] P_k`` (the cores
    ``k+1 .. N-1`` then ``0 .. k-1``), either factor possibly empty (None)."""
    if prefix is None:
        return suffix
    return prefix if suffix is None else suffix @ prefix


def _pair_matrix(xp: Any, env: Any, rl: int, rr: int) -> Any:
    """``env[(b', b), (a', a)]`` (left pair members ``b', a'`` of size ``p = len/rr``) as the
    matrix ``[(a', b'), (a, b)]``."""
    p = int(env.shape[0]) // rr
    q = int(env.shape[1]) // rl
    return xp.reshape(xp.permute_dims(xp.reshape(env, (p, rr, q, rl)), (2, 0, 3, 1)), (q * p, -1))


class _DenseData:
    """The right-hand sides ``D_k = X_(k) Z_k^H`` of a dense tensor ``x``: ``L_k`` (the data
    contracted with the updated cores ``0 .. k-1``) times ``Q_{k+1}`` (the old cores
    ``k+1 .. N-1``, built when the sweep starts)."""

    def __init__(self, xp: Any, x: Any, cores: list[Any]) -> None:
        self.xp, self.x, self.n = xp, x, len(cores)
        self.q = _suffix_chains(xp, cores)
        self.left = None  # L_k, layout (b_{N-1}, b_{k-1}, i_k ... i_{N-1})

    def rhs(self, k: int, rl: int, nk: int, rr: int) -> Any:
        """``D_k`` as an ``n_k x (r_{k-1} r_k)`` matrix."""
        xp, left = self.xp, self.left
        if k == 0:
            zq = xp.reshape(xp.permute_dims(self.q[1], (1, 2, 0)), (-1, rl * rr))  # (I, a, d)
            return xp.reshape(self.x, (nk, -1)) @ zq
        if k < self.n - 1:
            ra = int(left.shape[0])
            zq = xp.permute_dims(self.q[k + 1], (2, 1, 0))  # (a, I', d)
            d = xp.reshape(left, (ra, rl * nk, -1)) @ zq
            d = xp.reshape(xp.sum(d, axis=0), (rl, nk, rr))
        else:
            d = xp.permute_dims(left, (1, 2, 0))
        return xp.reshape(xp.permute_dims(d, (1, 0, 2)), (nk, rl * rr))

    def push(self, k: int, g: Any) -> None:
        """Take the updated core ``k`` into ``L``."""
        xp = self.xp
        rl, nk, rr = (int(d) for d in g.shape)
        gc = _conj(xp, g)
        if k == 0:
            lhs = xp.reshape(xp.permute_dims(gc, (0, 2, 1)), (rl * rr, nk))
            self.left = xp.reshape(lhs @ xp.reshape(self.x, (nk, -1)), (rl, rr, -1))
        else:
            gt = xp.reshape(gc, (rl * nk, rr)).T
            self.left = gt @ xp.reshape(self.left, (int(self.left.shape[0]), rl * nk, -1))


class _RingData:
    """The right-hand sides ``D_k`` of a tensor given as a ring ``Y`` (cores ``B_j``), from
    the mixed transfer matrices ``F_j = sum_i B_j[:, i, :] (x) conj(G_j[:, i, :])``: with
    ``F = F_{k+1} ... F_{N-1} F_0 ... F_{k-1}`` (old cores after ``k``, updated ones before),

        D_k[a, i, b] = sum_{c, d} B_k[c, i, d] F[(d, b), (c, a)],

    and the tensor is never formed."""

    def __init__(self, xp: Any, target: list[Any], cores: list[Any]) -> None:
        self.xp, self.target = xp, target
        self.suffix = _suffix_products([_transfer(xp, b, g) for b, g in zip(target, cores)])
        self.prefix = None

    def rhs(self, k: int, rl: int, nk: int, rr: int) -> Any:
        xp, b = self.xp, self.target[k]
        s0, _, s1 = (int(d) for d in b.shape)
        w = _pair_matrix(xp, _around(self.suffix[k + 1], self.prefix), rl, rr)
        return xp.reshape(xp.permute_dims(b, (1, 0, 2)), (nk, s0 * s1)) @ w

    def push(self, k: int, g: Any) -> None:
        f = _transfer(self.xp, self.target[k], g)
        self.prefix = f if self.prefix is None else self.prefix @ f


def sweep(x: Any, cores: list[Any], x_norm2: float) -> tuple[list[Any], float]:
    """One ALS sweep over cores ``0 .. N-1`` fitting the dense tensor ``x``; returns (cores,
    relative error) (see :func:`_sweep`)."""
    xp = backend.namespace(x, *cores)
    return _sweep(xp, _DenseData(xp, x, cores), cores, x_norm2)


def ring_sweep(target: list[Any], cores: list[Any], x_norm2: float) -> tuple[list[Any], float]:
    """One ALS sweep fitting the tensor of the ring with cores ``target`` (of squared norm
    ``x_norm2``) without forming it; each core costs ``O((r s)^3 + n r s (r + s) ...)``
    flops, ``r`` and ``s`` the ranks of the fit and of the target (see :class:`_RingData`)."""
    xp = backend.namespace(*target, *cores)
    return _sweep(xp, _RingData(xp, target, cores), cores, x_norm2)


def _sweep(xp: Any, data: Any, cores: list[Any], x_norm2: float) -> tuple[list[Any], float]:
    """One ALS sweep over cores ``0 .. N-1`` (on a copy of the list) with the right-hand sides
    of ``data``; returns (balanced cores, relative error).

    The error is evaluated from the last normal equations,
    ``||X - G Z||^2 = ||X||^2 - 2 Re<G, D> + <G, G H>``, without forming the approximation.
    """
    cores = list(cores)
    n = len(cores)
    suffix = _suffix_products([_transfer(xp, g) for g in cores])
    prefix = None  # E_0 ... E_{k-1} of the updated cores
    err2 = x_norm2
    for k in range(n):
        rl, nk, rr = (int(d) for d in cores[k].shape)
        dm = data.rhs(k, rl, nk, rr)
        h = _pair_matrix(xp, _around(suffix[k + 1], prefix), rl, rr)
        gm = _solve(xp, h, dm)
        g = xp.permute_dims(xp.reshape(gm, (nk, rl, rr)), (1, 0, 2))
        cores[k] = g
        if k == n - 1:
            fit = _float64(xp, xp.real(xp.sum(_conj(xp, gm) * dm)))
            model = _float64(xp, xp.real(xp.sum(_conj(xp, gm) * (gm @ h))))
            err2 = float(x_norm2 - 2.0 * fit + model)  # the sweep's one host sync
            break
        e = _transfer(xp, g)
        prefix = e if prefix is None else prefix @ e
        data.push(k, g)
    return _balance(xp, cores), float(np.sqrt(max(err2, 0.0) / x_norm2))


def gauged_ring(cores: list[Any]) -> TR:
    """The ring of ``cores`` in the gauge of :func:`left_orthogonal` (masked sweeps start
    from it)."""
    return TR(left_orthogonal(cores))


def left_orthogonal(cores: list[Any]) -> list[Any]:
    """The same ring with cores ``0 .. N-2`` left-orthonormal where their shape allows.

    ``G_k = Q R`` (thin QR of the ``(r_{k-1} n_k) x r_k`` unfolding), ``G_k <- Q`` and
    ``G_{k+1} <- R G_{k+1}``: a gauge change on bond ``k``, so the ring is unchanged. A core
    with ``r_{k-1} n_k < r_k`` is left as it is (its QR would change the bond rank).
    """
    xp = backend.namespace(*cores)
    cores = list(cores)
    for k in range(len(cores) - 1):
        r0, n, r1 = (int(d) for d in cores[k].shape)
        if r0 * n < r1:
            continue
        q, r = linalg.qr(xp.reshape(cores[k], (r0 * n, r1)))
        cores[k] = xp.reshape(q, (r0, n, r1))
        nxt = cores[k + 1]
        cores[k + 1] = xp.reshape(r @ xp.reshape(nxt, (r1, -1)), tuple(nxt.shape))
    return cores


def _balance(xp: Any, cores: list[Any]) -> list[Any]:
    """Rescale the cores to equal Frobenius norms (the ring is unchanged).

    Each core is multiplied by ``mean / ||G_k||`` with ``mean`` the geometric mean of the norms,
    all in double precision on the device; if a core is zero every scale is 1.
    """
    norms = xp.stack([_float64(xp, xp.linalg.vector_norm(g)) for g in cores])
    norms = xp.where(xp.all(norms > 0), norms, xp.ones_like(norms))
    scales = xp.exp(xp.mean(xp.log(norms))) / norms
    real = getattr(xp, backend.real_dtype_name(cores[0]))
    return [g * xp.astype(scales[k], real) for k, g in enumerate(cores)]


# ---------------------------------------------------------------------- ring cores
SHRINK_SWEEPS = 2  # ALS sweeps a shrunken bond gets to get back within tol


def random_cores(
    shape: tuple[int, ...], ranks: tuple[int, ...], like: Any, seed: int, norm: float
) -> list[Any]:
    """Gaussian cores (of ``like``'s library and device) scaled so that the ring has ``norm``."""
    rng = np.random.default_rng(seed)
    n = len(ranks)
    cores = [backend.random_normal((ranks[k - 1], shape[k], ranks[k]), like, rng) for k in range(n)]
    scale = (norm / max(TR(cores).norm(), 1e-300)) ** (1.0 / n)
    return [g * scale for g in cores]


def shrink_bond(cores: list[Any], k: int, rank: int | None = None) -> list[Any]:
    """The ring with bond ``k`` at ``rank`` (default: one rank smaller; fewer when the product
    of its two cores is thinner): cores ``k`` and ``k+1 mod N`` multiplied and split again by
    the truncated SVD (square roots of the singular values on both sides)."""
    j = (k + 1) % len(cores)
    a, b = cores[k], cores[j]
    xp = backend.namespace(a)
    (r0, n1, r1), (_, n2, r2) = a.shape, b.shape
    pair = xp.reshape(a, (r0 * n1, r1)) @ xp.reshape(b, (r1, n2 * r2))
    u, s, vh, _ = linalg.truncated_svd(pair, rank=r1 - 1 if rank is None else rank)
    root = xp.astype(xp.sqrt(s), a.dtype)
    out, kept = list(cores), int(s.shape[0])
    out[k] = xp.reshape(u * root[None, :], (r0, n1, kept))
    out[j] = xp.reshape(root[:, None] * vh, (kept, n2, r2))
    return out
