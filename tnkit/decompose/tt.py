"""TT-SVD: a dense tensor to a tensor train with a guaranteed relative error.

Oseledets (SIAM J. Sci. Comput. 2011), Alg. 1: sweep left to right; at bond k reshape the
remainder to ``C ∈ K^{(r_{k-1} n_k) × (n_{k+1} ⋯ n_{N-1})}``, keep its leading singular
subspace ``U``, and continue with ``Uᴴ C``. Truncating each bond with error
``δ = tol · ||x||_F / sqrt(N-1)`` gives ``||x - TT||_F ≤ tol · ||x||_F``.

While ``C`` is wide (the usual case for large tensors) the singular subspace comes from the
eigen-decomposition of the small Gram matrix ``C Cᴴ`` (``_common.left_subspace``): ``C`` is a
free reshape of the input and ``Uᴴ C`` is smaller than ``C``, so peak memory stays near the
input size. When the kept
singular values are too small for Gram accuracy the step falls back to LAPACK.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend, linalg
from ..formats.tt import TT
from . import _common as cm


def tt(x: Any, rank: int | list[int] | None = None, tol: float | None = None) -> TT:
    """TT-SVD of ``x`` with bond ranks ``<= rank`` and/or relative error ``<= tol``.

    Parameters
    ----------
    x : N-way array (N >= 2; numpy, torch or cupy; float or complex).
    rank : one cap for every bond, or a list of the N-1 bond ranks. Each bond k is bounded by
        ``min(n_0⋯n_k, n_{k+1}⋯n_{N-1})`` and a larger request raises ``ValueError``.
    tol : relative Frobenius error target in (0, 1). With ``rank`` too, both caps apply (then
        the error may exceed ``tol``).

    Returns
    -------
    TT with ``options = {"rank", "tol", "error"}`` where ``error`` is the bound
    ``sqrt(sum of squared discarded singular values) / ||x||`` (exact for TT-SVD).
    The zero tensor gives a rank-1 TT of zeros.
    """
    x = backend.as_data_tensor(x, "x", min_ndim=2)
    if rank is None and tol is None:
        raise ValueError("tt needs rank= or tol=")
    cm.check_tol(tol)
    shape = tuple(int(d) for d in x.shape)
    n = len(shape)
    bounds = [min(math.prod(shape[: k + 1]), math.prod(shape[k + 1 :])) for k in range(n - 1)]
    caps = cm.check_ranks(rank, bounds, "bond ranks") if rank is not None else bounds
    xp = backend.namespace(x)
    norm = cm.fro(x)
    options = {"rank": rank, "tol": tol}
    if norm == 0.0:
        return TT([backend.asarray_like(np.zeros((1, d, 1)), x) for d in shape], options=options)
    max_err = None if tol is None else tol * norm / math.sqrt(n - 1)
    cores, dropped = [], 0.0
    c, r_prev = x, 1
    for k in range(n - 1):
        m = r_prev * shape[k]
        mat = xp.reshape(c, (m, -1))
        if max_err is None and caps[k] >= m:  # nothing to truncate: identity core, no pass
            u, err, c = backend.asarray_like(np.eye(m), x), 0.0, mat
        elif m > mat.shape[1]:  # tall: the small Gram is on the right, so a thin SVD is cheap
            u, sv, vh, err = linalg.truncated_svd(
                mat, rank=caps[k], max_error=max_err, method="lapack"
            )
            c = sv[:, None] * vh
        else:
            u, err = cm.left_subspace(mat, 0, caps[k], max_err)
            c = cm.ct(u) @ mat
        dropped += err**2
        cores.append(xp.reshape(u, (r_prev, shape[k], u.shape[1])))
        r_prev = int(u.shape[1])
    cores.append(xp.reshape(c, (r_prev, shape[-1], 1)))
    options["error"] = math.sqrt(dropped) / norm
    return TT(cores, options=options)
