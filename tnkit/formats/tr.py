"""Tensor ring (TR) format: a closed chain of order-3 cores.

A tensor ring with cores ``G_k`` of shape ``(r_{k-1}, n_k, r_k)`` (indices mod ``N``) represents

    X[i_0, ..., i_{N-1}] = trace( G_0[:, i_0, :] G_1[:, i_1, :] ... G_{N-1}[:, i_{N-1}, :] )

(Zhao, Zhou, Xie, Zhang & Cichocki, "Tensor ring decomposition", arXiv:1606.05535, 2016).
Bond ``k`` (label ``"b{k}"``, dimension ``rank[k]``) joins core ``k`` and core ``k+1 mod N``;
the open legs are ``"i0" ... "i{N-1}"``. The ring is invariant under the gauge
``G_k -> G_k A``, ``G_{k+1} -> A^{-1} G_{k+1}`` on every bond.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend, checks, io, linalg
from ._base import Format, as_arrays, mode_legs


@io.register
class TR(Format):
    """A tensor ring (see the module docstring).

    Parameters
    ----------
    cores : sequence of arrays
        N >= 2 arrays of shape ``(r_{k-1}, n_k, r_k)`` with
        ``cores[k].shape[2] == cores[k+1 mod N].shape[0]``.
    history, options
        Relative error per sweep and options of the algorithm that produced the ring.

    Examples
    --------
    >>> import numpy as np, tnkit as tk
    >>> rng = np.random.default_rng(0)
    >>> ring = tk.TR([rng.standard_normal((2, 4, 3)), rng.standard_normal((3, 5, 2))])
    >>> ring.shape, ring.rank
    ((4, 5), (3, 2))
    """

    def __init__(
        self,
        cores: Sequence[Any],
        *,
        history: list[float] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        cores = _check_cores(cores)
        n = len(cores)
        legs = mode_legs(n)
        for k, g in enumerate(cores):
            self.add_node(f"core{k}", g, (f"b{(k - 1) % n}", legs[k], f"b{k}"))
        self._init_extras(history, options)

    def _rebuild(self) -> TR:
        return TR(self.cores)

    # ------------------------------------------------------------------ accessors
    @property
    def cores(self) -> list[Any]:
        """The cores ``G_k`` of shape ``(r_{k-1}, n_k, r_k)``."""
        return [self[f"core{k}"] for k in range(len(self))]

    @property
    def rank(self) -> tuple[int, ...]:
        """The N bond dimensions; ``rank[k]`` joins core ``k`` and core ``k+1 mod N``."""
        return tuple(int(g.shape[2]) for g in self.cores)

    def to_tensor(self) -> Any:
        """The dense tensor, axes in mode order, C-ordered (see :func:`dense`)."""
        return dense(self.cores)

    # ------------------------------------------------------------------ conversions
    def to_tt(self) -> Any:
        """The same tensor as an exact :class:`tnkit.formats.tt.TT`.

        The closing bond ``b_{N-1}`` is carried through every core as a passenger index:
        ``TT_k[(a, b), i, (a', b')] = delta_{a a'} G_k[b, i, b']``, so the TT ranks are
        ``rank[N-1] * rank[k]`` (round the result to compress it).
        """
        from .tt import TT

        cores = self.cores
        n = len(cores)
        rc = self.rank[-1]
        xp = backend.namespace(*cores)
        eye = backend.asarray_like(np.eye(rc), cores[0])
        out = [xp.reshape(xp.permute_dims(cores[0], (1, 0, 2)), (1, cores[0].shape[1], -1))]
        for g in cores[1 : n - 1]:
            r0, m, r1 = (int(d) for d in g.shape)
            big = eye[:, None, None, :, None] * g[None, :, :, None, :]
            out.append(xp.reshape(big, (rc * r0, m, rc * r1)))
        last = cores[-1]
        r0, m, _ = (int(d) for d in last.shape)
        out.append(xp.reshape(xp.permute_dims(last, (2, 0, 1)), (rc * r0, m, 1)))
        return TT(out)

    @classmethod
    def from_tensorly(cls, tr_tensor: Any) -> TR:
        """Build a TR from TensorLy's ``TRTensor`` (or its list of factors)."""
        factors = getattr(tr_tensor, "factors", tr_tensor)
        if not isinstance(factors, (list, tuple)):
            raise TypeError(f"tr_tensor must be a TRTensor or a list of cores, got {factors!r}")
        return cls(list(factors))

    def to_tensorly(self) -> Any:
        """TensorLy's ``TRTensor`` with the same cores (needs ``tensorly``)."""
        try:
            from tensorly.tr_tensor import TRTensor
        except ImportError as err:
            raise ImportError("to_tensorly needs `pip install tensorly`") from err
        return TRTensor(self.cores)

    # ------------------------------------------------------------------ rounding
    def round(self, tol: float) -> TR:
        """A ring with smaller bond ranks and ``||self - result||_F <= tol * ||self||_F``.

        Guarantee and method: cutting the closing bond ``c`` leaves an open chain ``C`` with
        ``self = sum_a C[a, ..., a]``, hence ``||self - trace C'|| <= sqrt(r_c) ||C - C'||``
        (Cauchy-Schwarz). The chain is TT-rounded (Oseledets 2011: left-orthogonalise, then
        truncated SVDs right to left, ``||C - C'||^2 <= sum of the squared discarded parts``).
        Pass 1 closes the ring at bond ``N-1`` and truncates bonds ``0 .. N-2`` with the error
        budget ``tol ||self|| (N-1)/N``; pass 2 closes it at bond ``0`` and truncates bond
        ``N-1`` with the budget ``tol ||self|| / N``. The bound is sufficient, not tight, so the
        ranks may stay above the smallest ones that meet ``tol``.
        """
        tol = checks.check_real(tol, "tol", low=0, high=1, open_low=True, open_high=True)
        n = len(self)
        budget = float(tol) * self.norm()
        cores = self.cores
        delta1 = budget * (n - 1) / n / math.sqrt(cores[-1].shape[2] * (n - 1))
        cores = _round_chain(cores, delta1, n - 1)
        rotated = cores[1:] + cores[:1]
        delta2 = budget / n / math.sqrt(rotated[0].shape[0])
        rotated = _round_chain(rotated, delta2, 1)
        options = {**self.options, "round_tol": float(tol)}
        return TR(rotated[-1:] + rotated[:-1], history=self.history, options=options)


def dense(cores: Sequence[Any]) -> Any:
    """The tensor of a ring, built by matrix products and returned in C order.

    ``X = sum_a G_0[a] G_1 ... G_{N-2} G_{N-1}[..., a]`` over the closing bond ``a``: each term
    is a chain of matrix products (about ``2 r^2`` flops per entry in all), and the memory
    beyond the result is one more array of its size.
    """
    xp = backend.namespace(*cores)
    shape = tuple(int(g.shape[1]) for g in cores)
    out = None
    for a in range(int(cores[-1].shape[2])):
        p = cores[0][a]
        for g in cores[1:-1]:
            p = xp.reshape(p @ xp.reshape(g, (int(g.shape[0]), -1)), (-1, int(g.shape[2])))
        term = p @ cores[-1][:, :, a]
        if out is None:
            out = term
        else:
            out += term
    return xp.reshape(out, shape)


def _check_cores(cores: Sequence[Any]) -> list[Any]:
    if not isinstance(cores, (list, tuple)):
        raise TypeError(f"cores must be a list of 3-D arrays, got {type(cores).__name__}")
    cores = as_arrays(cores, "cores")
    if len(cores) < 2:
        raise ValueError(f"a tensor ring needs at least 2 cores, got {len(cores)}")
    for k, g in enumerate(cores):
        if not hasattr(g, "shape") or len(g.shape) != 3:
            raise ValueError(
                f"cores[{k}] must be a 3-D array (r_{{k-1}}, n_k, r_k), "
                f"got shape {getattr(g, 'shape', None)}"
            )
    for k, g in enumerate(cores):
        nxt = cores[(k + 1) % len(cores)]
        if int(g.shape[2]) != int(nxt.shape[0]):
            raise ValueError(
                f"bond {k}: cores[{k}] has right dimension {g.shape[2]} but "
                f"cores[{(k + 1) % len(cores)}] has left dimension {nxt.shape[0]}"
            )
    return cores


def _round_chain(cores: list[Any], delta: float, n_bonds: int) -> list[Any]:
    """TT-round an open chain (free boundary bonds): truncate its last ``n_bonds`` bonds.

    Cores ``0 .. m-2`` are left-orthogonalised by QR, then the bonds are truncated from the
    right, each by a truncated SVD dropping at most ``delta`` in Frobenius norm.
    """
    cores = list(cores)
    m = len(cores)
    xp = backend.namespace(*cores)
    for k in range(m - 1):
        r0, n, r1 = (int(d) for d in cores[k].shape)
        q, r = linalg.qr(xp.reshape(cores[k], (r0 * n, r1)))
        cores[k] = xp.reshape(q, (r0, n, -1))
        nxt = cores[k + 1]
        cores[k + 1] = xp.reshape(r @ xp.reshape(nxt, (r1, -1)), (-1, *nxt.shape[1:]))
    for k in range(m - 1, m - 1 - n_bonds, -1):
        r0, n, r1 = (int(d) for d in cores[k].shape)
        u, s, vh, _ = linalg.truncated_svd(
            xp.reshape(cores[k], (r0, n * r1)), max_error=delta, method="lapack"
        )
        cores[k] = xp.reshape(vh, (-1, n, r1))
        us = u * xp.astype(s, u.dtype)[None, :] if backend.is_complex(u) else u * s[None, :]
        prev = cores[k - 1]
        cores[k - 1] = xp.reshape(xp.reshape(prev, (-1, r0)) @ us, (*prev.shape[:2], -1))
    return cores
