"""Tensor ring (TR) format: a closed chain of order-3 cores.

A tensor ring with cores ``G_k`` of shape ``(r_{k-1}, n_k, r_k)`` (indices mod ``N``) represents

    X[i_0, ..., i_{N-1}] = trace( G_0[:, i_0, :] G_1[:, i_1, :] ... G_{N-1}[:, i_{N-1}, :] )

(Zhao, Zhou, Xie, Zhang & Cichocki, "Tensor ring decomposition", arXiv:1606.05535, 2016).
Bond ``k`` (label ``"b{k}"``, dimension ``rank[k]``) joins core ``k`` and core ``k+1 mod N``;
the open legs are ``"i0" ... "i{N-1}"``. The ring is invariant under the gauge
``G_k -> G_k A``, ``G_{k+1} -> A^{-1} G_{k+1}`` on every bond.

Arithmetic (``+``, ``-``, ``*`` by a scalar or Hadamard, :meth:`TR.dot`) is shared with TT
(:mod:`tnkit.formats._arith`); a TT operand counts as a ring with closing bond 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import backend, checks, io
from ._arith import CoreChain, block_diag_core, round_from_right
from ._base import as_arrays, mode_legs
from .tt import TT, _bond_ranks


@io.register
class TR(CoreChain):
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
        self._set_cores(_check_cores(cores), self.add_node)
        self._init_extras(history, options)

    def _set_cores(self, cores: list[Any], put: Any) -> None:
        """Store ``cores`` as nodes ``core{k}`` with legs ``(b{k-1 mod N}, i{k}, b{k})``."""
        n = len(cores)
        legs = mode_legs(n)
        for k, g in enumerate(cores):
            put(f"core{k}", g, (f"b{(k - 1) % n}", legs[k], f"b{k}"))

    @classmethod
    def _coerce(cls, other: CoreChain) -> TR | None:
        """A TR as itself, a TT as the ring with closing bond 1 (the same cores)."""
        if isinstance(other, TT):
            return cls._made(other.cores)
        return super()._coerce(other)

    @staticmethod
    def _sum_cores(a: list[Any], b: list[Any]) -> list[Any]:
        xp = backend.namespace(a[0], b[0])
        return [block_diag_core(xp, ca, cb) for ca, cb in zip(a, b)]

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
    def round(self, tol: float | None = None, rank: int | Sequence[int] | None = None) -> TR:
        """A ring with smaller bond ranks: ``||self - result||_F <= tol * ||self||_F`` and/or
        ``result.rank[k] <= rank[k]``.

        Guarantee and method: cutting the closing bond ``c`` leaves an open chain ``C`` with
        ``self = sum_a C[a, ..., a]``, hence ``||self - trace C'|| <= sqrt(r_c) ||C - C'||``
        (Cauchy-Schwarz). The chain is TT-rounded from the right
        (:func:`tnkit.formats._arith.round_from_right`, ``||C - C'||^2 <= sum of the squared
        discarded parts``, Oseledets 2011). Pass 1 closes
        the ring at bond ``N-1`` and truncates bonds ``0 .. N-2`` with the error budget
        ``tol ||self|| (N-1)/N``; pass 2 closes it at bond ``0`` and truncates bond ``N-1``
        with the budget ``tol ||self|| / N``. The bound is sufficient, not tight, so the ranks
        may stay above the smallest ones that meet ``tol``; in particular a cut sees the
        ranks of the two terms of a sum add (the closing bond is block-diagonal), so rounding
        ``a + b`` removes only what each cut finds redundant. To bring such a sum down to
        given ranks, refit it: ``tk.tr(a + b, rank)`` runs TR-ALS against the ring itself,
        never forming the tensor, from this rounding at ``rank`` as its start.

        Parameters
        ----------
        tol : float, optional
            Relative error bound in (0, 1), guaranteed when ``rank`` does not bind.
        rank : int or sequence of N ints, optional
            Caps on the bond ranks (``rank[k]`` joins core ``k`` and ``k+1 mod N``); each cut
            keeps at most that many singular vectors, so with a binding cap the error is that
            of the truncation, not bounded by ``tol``.
        """
        if tol is None and rank is None:
            raise ValueError("round needs tol= or rank= (or both)")
        tol = checks.check_real(
            tol, "tol", low=0, high=1, open_low=True, open_high=True, optional=True
        )
        n = len(self)
        caps = _bond_ranks(rank, n + 1)  # N caps, one per bond of the ring
        cores = self.cores
        delta1 = delta2 = None
        if tol is not None:
            budget = float(tol) * self.norm()
            delta1 = budget * (n - 1) / n / math.sqrt(int(cores[-1].shape[2]) * (n - 1))
        cores = round_from_right(cores, delta1, caps[:-1], method="lapack")
        if tol is not None:
            delta2 = budget / n / math.sqrt(int(cores[0].shape[2]))
        rotated = round_from_right(cores[1:] + cores[:1], delta2, caps[-1:], method="lapack")
        options = {
            **self.options,
            "round_tol": None if tol is None else float(tol),
            "round_rank": None if rank is None else caps,
        }
        return self._made(rotated[-1:] + rotated[:-1], self.history, options)


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
