"""What TT and TR share: formats stored as a chain of 3-D cores, their arithmetic, inner
product and the rounding sweep that recompresses them.

Both represent

.. math::  X[i_0, ..., i_{N-1}] = trace(G_0[:, i_0, :] G_1[:, i_1, :] ⋯ G_{N-1}[:, i_{N-1}, :])

with cores ``G_k`` of shape ``(r_{k-1}, n_k, r_k)``; a TT is the ring whose closing bond has
dimension 1. Hence one formula per operation serves both (Oseledets 2011, §4; Zhao et al. 2016):

* ``A + B``: ``G_k = blockdiag(A_k, B_k)`` in both bonds (a TT keeps its boundary ranks 1 by
  stacking its first and last cores instead), so the ranks add.
* ``A * B`` (Hadamard): ``G_k[:, i, :] = A_k[:, i, :] ⊗ B_k[:, i, :]``, so the ranks multiply.
* ``<A, B> = trace(Π_k E_k)`` with ``E_k = Σ_i conj(A_k[:, i, :]) ⊗ B_k[:, i, :]``.

A TT meeting a TR becomes a ring (closing bond 1) and the result is a TR.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend, linalg
from ._base import Format


class CoreChain(Format):
    """Base class of TT and TR: nodes ``core{k}``, :attr:`cores` as 3-D arrays, arithmetic.

    Subclasses define :attr:`cores`, ``_set_cores(cores, put)`` (store the 3-D cores as nodes
    through ``put(name, array, legs)``), ``_sum_cores`` and, to accept other classes as
    operands, ``_coerce``.
    """

    cores: list[Any]

    def _set_cores(self, cores: list[Any], put: Any) -> None:
        raise NotImplementedError

    @classmethod
    def _made(
        cls, cores: list[Any], history: list[float] | None = None, options: dict | None = None
    ) -> Any:
        """An instance from 3-D cores that tnkit made (so no validation: it costs a check per
        core, a third of a small TT rounding's time)."""
        new = cls.__new__(cls)
        Format.__init__(new)
        new._set_cores(cores, new._put_node)
        new._init_extras(history, options)
        return new

    def _like(self, cores: list[Any]) -> Any:
        """Same class, history and options, new cores."""
        return self._made(cores, self.history, self.options)

    @classmethod
    def _coerce(cls, other: CoreChain) -> Any:
        """``other`` as an instance of ``cls``, or None when it cannot be one."""
        return other if isinstance(other, cls) else None

    @staticmethod
    def _sum_cores(a: list[Any], b: list[Any]) -> list[Any]:
        raise NotImplementedError

    # ------------------------------------------------------------------ arithmetic
    def _operands(self, other: Any, op: str) -> tuple[CoreChain, CoreChain]:
        """``(self, other)`` as two instances of one class (a TT meeting a TR: both TRs).

        Raises TypeError when ``other`` is no TT/TR or holds another library's arrays, and
        ValueError when its shape differs.
        """
        if not isinstance(other, CoreChain):
            raise TypeError(
                f"{op}: the other operand must be a TT or TR, got {type(other).__name__}"
            )
        mine, theirs = type(self).__name__, type(other).__name__
        if self.shape != other.shape:
            raise ValueError(
                f"{op}: shapes differ, this {mine} has {self.shape}, the other operand "
                f"({theirs}) {other.shape}"
            )
        if self.backend != other.backend:
            raise TypeError(
                f"{op}: the other {theirs} holds {other.backend} arrays, this one {self.backend}"
            )
        b = self._coerce(other)
        if b is not None:
            return self, b
        return other._coerce(self), other

    def __add__(self, other: CoreChain) -> CoreChain:
        """Sum; the bond ranks add (block-diagonal cores). Round afterwards."""
        a, b = self._operands(other, "+")
        return a._made(a._sum_cores(a.cores, b.cores))

    def __sub__(self, other: CoreChain) -> CoreChain:
        a, b = self._operands(other, "-")
        return a + (-b)

    def __neg__(self) -> CoreChain:
        return self * -1.0

    def __mul__(self, other: Any) -> CoreChain:
        """Scalar multiple (``x * 2.0``, first core scaled) or Hadamard product with a TT/TR
        (slices Kronecker-multiplied, ranks multiply)."""
        if isinstance(other, (int, float, complex, np.number)) and not isinstance(other, bool):
            if not np.isfinite(other):
                raise ValueError(f"the scalar factor must be finite, got {other!r}")
            cores = self.cores
            return self._made([cores[0] * other, *cores[1:]])
        a, b = self._operands(other, "*")
        cores_a, cores_b = a.cores, b.cores
        xp = backend.namespace(cores_a[0])
        out = []
        for ca, cb in zip(cores_a, cores_b):
            c = ca[:, None, :, :, None] * cb[None, :, :, None, :]
            r1, r2, m, s1, s2 = c.shape
            out.append(xp.reshape(c, (r1 * r2, m, s1 * s2)))
        return a._made(out)

    __rmul__ = __mul__

    def dot(self, other: CoreChain) -> Any:
        """``<self, other> = Σ conj(self) · other`` (a 0-d array of the cores' library).

        The ring of transfer matrices ``E_k`` (module docstring) is contracted core by core
        with the closing bonds ``α`` of A and ``β`` of B kept open: the environment
        ``W[(β, α), b, a]`` starts as the identity and takes ``conj(A_k)`` then ``B_k``, and
        ``<A, B> = Σ_{α, β} W[(β, α), β, α]``. With ranks ``r_A, r_B`` and closing ranks
        ``c_A, c_B`` a core costs ``2 c_A c_B n r_A r_B (r_A + r_B)`` flops (``O(n r^5)``,
        ``O(n r^3)`` for a TT, whose closing ranks are 1) and the environment holds
        ``c_A c_B n r_A r_B`` numbers; forming the ``E_k`` would cost ``O(r^6)`` a core.
        """
        a, b = self._operands(other, "dot")
        cores_a, cores_b = a.cores, b.cores
        xp = backend.namespace(cores_a[0])
        p = int(cores_a[0].shape[0]) * int(cores_b[0].shape[0])
        dtype = xp.result_type(cores_a[0].dtype, cores_b[0].dtype)
        env = xp.eye(p, dtype=dtype, **backend.device_kwargs(cores_a[0]))
        for ca, cb in zip(cores_a, cores_b):
            ra, m, sa = ca.shape
            rb, _, sb = cb.shape
            ca = xp.conj(ca) if backend.is_complex(ca) else ca
            t = xp.reshape(env, (-1, ra)) @ xp.reshape(ca, (ra, m * sa))  # (p rb, m sa)
            t = xp.reshape(t, (p, rb * m, sa) if p > 1 else (rb * m, sa))  # TT: no batch
            env = xp.reshape(cb, (rb * m, sb)).T @ t  # (p, sb, sa)
        return xp.linalg.trace(xp.reshape(env, (p, p)))

    def inner(self, other: Any) -> Any:
        """Inner product; a TT or TR partner of the same shape and library uses :meth:`dot`."""
        if (
            isinstance(other, CoreChain)
            and self.shape == other.shape
            and self.backend == other.backend
        ):
            return self.dot(other)
        return super().inner(other)


def block_diag_core(xp: Any, a: Any, b: Any) -> Any:
    """``[[A, 0], [0, B]]`` in both bonds: (r, n, s) and (p, n, q) -> (r + p, n, s + q)."""
    top = xp.concat([a, zeros(xp, (a.shape[0], a.shape[1], b.shape[2]), a)], axis=2)
    bottom = xp.concat([zeros(xp, (b.shape[0], b.shape[1], a.shape[2]), a), b], axis=2)
    return xp.concat([top, bottom], axis=0)


# ---------------------------------------------------------------------- rounding
def right_gauges(cores: list[Any]) -> list[Any]:
    """``L_k`` for ``k = 1 .. N`` with ``T_{≥k} = L_k Q_k``, ``T_{≥k}`` the cores ``k..N-1``
    unfolded as ``r_{k-1} × (n_k ⋯ n_{N-1} r_{N-1})`` and ``Q_k`` row-orthonormal
    (``L_N = I``): the triangular factors of QR sweeps from the right, without forming the
    ``Q``'s (LAPACK ``geqrf`` alone)."""
    xp = backend.namespace(cores[0])
    n = len(cores)
    gauges = [None] * (n + 1)
    last = cores[-1]
    gauges[n] = xp.eye(int(last.shape[2]), dtype=last.dtype, **backend.device_kwargs(last))
    for k in range(n - 1, 0, -1):
        r = int(cores[k].shape[0])
        mat = xp.reshape(right_mul(xp, cores[k], gauges[k + 1]), (r, -1))
        gauges[k] = ct(xp, linalg.qr_r(ct(xp, mat)))
    return gauges


def round_chain(
    cores: list[Any],
    gauges: list[Any] | None,
    max_error: float | None,
    ranks: list[int | None],
    method: str = "auto",
) -> list[Any]:
    """Truncate the first ``len(ranks)`` inner bonds of an open chain of cores, left to right
    (Oseledets 2011, Alg. 2).

    ``gauges`` are :func:`right_gauges` of ``cores`` (``None`` when the cores after each
    truncated bond are right-orthonormal already: all gauges are the identity). At bond ``k``
    the SVD of
    ``A_k L_{k+1}`` (``A_k`` the core after the projections so far, unfolded
    ``(r_{k-1} n_k) × r_k``) has the singular values and left vectors of the chain's
    unfolding; it keeps at most ``ranks[k]`` of them dropping at most ``max_error`` in
    Frobenius norm (``None``: no cap), the core becomes the kept ``U`` and the next one is
    projected, ``A_{k+1} = (Uᴴ A_k) G_{k+1}``; the cores after it stay as they are. The
    truncated cores are left-orthonormal and ``||chain - result||² <=`` the sum of the squared
    dropped parts. The boundary bonds (dimension 1 for a TT) are kept.
    """
    xp = backend.namespace(cores[0])
    out, proj = [], None
    for k in range(len(ranks)):
        a = cores[k] if proj is None else left_mul(xp, proj, cores[k])
        m, s = int(a.shape[1]), int(a.shape[2])
        a = xp.reshape(a, (-1, s))
        gauged = a if gauges is None else a @ gauges[k + 1]
        u = linalg.truncated_svd(gauged, rank=ranks[k], max_error=max_error, method=method).u
        out.append(xp.reshape(u, (-1, m, int(u.shape[1]))))
        proj = ct(xp, u) @ a
    nxt = len(ranks)
    out.append(cores[nxt] if proj is None else left_mul(xp, proj, cores[nxt]))
    return out + list(cores[nxt + 1 :])


def round_from_right(
    cores: list[Any],
    max_error: float | None,
    caps: list[int | None],
    *,
    left_orthonormal: bool = False,
    method: str = "auto",
) -> list[Any]:
    """Truncate the last ``len(caps)`` bonds of an open chain (free boundary bonds) from the
    right, each by a truncated SVD dropping at most ``max_error`` in Frobenius norm (``None``:
    no bound) and keeping at most its cap (``caps[j]`` for the bond between cores ``j`` and
    ``j + 1`` of the last ``len(caps) + 1`` cores; ``None``: uncapped). The truncated cores
    come out right-orthonormal.

    This is :func:`round_chain` on the chain read backwards (cores ``G_k`` transposed to
    ``(r_k, n_k, r_{k-1})``): its unfoldings are the transposes of the chain's, with the same
    singular values. Its gauges come from ``geqrf`` alone, or are the identity when the
    cores before each truncated bond are ``left_orthonormal`` already.
    """
    xp = backend.namespace(*cores)
    rev = [xp.permute_dims(g, (2, 1, 0)) for g in reversed(cores)]
    gauges = None if left_orthonormal else right_gauges(rev)
    rev = round_chain(rev, gauges, max_error, list(reversed(caps)), method)
    return [xp.permute_dims(g, (2, 1, 0)) for g in reversed(rev)]


# ---------------------------------------------------------------------- core helpers
def ct(xp: Any, a: Any) -> Any:
    """Conjugate transpose of a matrix."""
    return xp.conj(a.T) if backend.is_complex(a) else a.T


def left_mul(xp: Any, m: Any, core: Any) -> Any:
    """``m @ core`` over the first core axis: (p, r) x (r, n, s) -> (p, n, s)."""
    r, n, s = core.shape
    return xp.reshape(m @ xp.reshape(core, (r, n * s)), (m.shape[0], n, s))


def right_mul(xp: Any, core: Any, m: Any) -> Any:
    """``core @ m`` over the last core axis: (r, n, s) x (s, p) -> (r, n, p)."""
    r, n, s = core.shape
    return xp.reshape(xp.reshape(core, (r * n, s)) @ m, (r, n, m.shape[1]))


def zeros(xp: Any, shape: tuple[int, ...], like: Any) -> Any:
    """Zeros of ``like``'s library, dtype and device."""
    return xp.zeros(shape, dtype=like.dtype, **backend.device_kwargs(like))
