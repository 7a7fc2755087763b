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

Arithmetic (``+``, ``-``, ``*`` by a scalar or Hadamard, :meth:`dot`) is shared with TR; see
:mod:`tnkit.formats._arith`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend, checks, io, linalg
from ._arith import CoreChain, block_diag_core, ct, left_mul, right_gauges, right_mul, round_chain
from ._base import as_arrays


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

    def round(self, tol: float | None = None, rank: int | list[int] | None = None) -> TT:
        """TT-rounding: recompress to relative error ``<= tol`` and/or bond ranks ``<= rank``.

        ``rank`` is one int for every bond or a list of N-1 ints.
        """
        n = len(self)
        if tol is None and rank is None:
            raise ValueError("round needs tol= or rank=")
        tol = checks.check_real(tol, "tol", low=0, high=1, open_high=True, optional=True)
        ranks = _bond_ranks(rank, n)
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
