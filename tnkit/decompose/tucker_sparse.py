"""HOOI of a :class:`tnkit.sparse.SparseTensor` with zeros unlisted, from its listed entries
(completion of one with missing entries unlisted: :mod:`tnkit.decompose.tucker_completion`).

The sweep is dense HOOI's (:mod:`tnkit.decompose.tucker`): for mode ``k``,
``U_k ← orth(Y Yᴴ U_k)`` with ``Y = X_(k) (⊗_{j≠k} conj(U_j))``, the other factors already
updated in this sweep. Here ``Y`` is a scatter-add over the entries,
``Y[i] = Σ_{e: i_{e,k} = i} v_e ⊗_{j≠k} conj(U_j[i_{e,j}, :])`` — ``nnz × Π_{j≠k} r_j``
work, never the dense tensor (Kolda & Sun, "Scalable tensor decompositions for multi-aspect
data mining", ICDM 2008, do the same for sparse HOOI). The core is ``U_{N-1}ᴴ Y`` of the last
mode and the error ``sqrt(||x||² - ||core||²)``. From the same start the sweeps are those of
dense HOOI.
"""

from __future__ import annotations

import math
from typing import Any

from .. import backend, linalg
from ..sparse import SparseTensor
from . import _common as cm
from .cp_sparse import Entries


def hooi(
    x: SparseTensor,
    factors: list[Any],
    max_iter: int,
    stop_tol: float | None,
    progress: Any,
    history: list[float],
) -> tuple[Any, list[Any]]:
    """HOOI sweeps from orthonormal ``factors`` (the loop of
    :func:`tnkit.decompose._common.tucker_sweeps`); appends the relative error of each sweep
    to ``history``."""
    entries = Entries(x)

    def sweep(entries: Entries, _core: Any, factors: list[Any]) -> tuple[Any, list[Any], Any]:
        core, factors = _sweep(entries, list(factors))
        xp = backend.namespace(core)
        return core, factors, entries.norm2 - xp.sum(xp.abs(core) ** 2)  # ||x||² - ||core||²

    core, factors = cm.tucker_sweeps(
        math.sqrt(entries.norm2),
        None,
        None,
        entries,
        None,
        factors,
        sweep,
        max_iter,
        stop_tol,
        progress,
        "sparse HOOI",
        history,
    )
    if core is None:  # interrupted before the first sweep finished
        core = _core(entries, factors)
    return core, factors


def _sweep(entries: Entries, factors: list[Any]) -> tuple[Any, list[Any]]:
    n = len(factors)
    y = None
    for k in range(n):
        y = unfolded_projection(entries, factors, k)
        q, _ = linalg.qr(y @ (cm.ct(y) @ factors[k]))
        factors[k] = q
    return core_from(y, factors), factors


def _core(entries: Entries, factors: list[Any]) -> Any:
    return core_from(unfolded_projection(entries, factors, len(factors) - 1), factors)


def core_from(y_last: Any, factors: list[Any]) -> Any:
    """The core from ``Y`` of the last mode: ``U_{N-1}ᴴ Y`` with its rows moved last."""
    xp = backend.namespace(y_last)
    ranks = [int(u.shape[1]) for u in factors]
    core = xp.reshape(cm.ct(factors[-1]) @ y_last, (ranks[-1], *ranks[:-1]))
    return xp.moveaxis(core, 0, -1)


def unfolded_projection(entries: Entries, factors: list[Any], mode: int, values: Any = None) -> Any:
    """``X_(mode) (⊗_{j≠mode} conj(U_j))`` (``n_mode × Π_{j≠mode} r_j``, C order), ``X`` the
    listed entries with ``values`` in place of their own when given."""
    values = entries.v if values is None else values
    others = [j for j in range(len(factors)) if j != mode]
    width = math.prod(int(factors[j].shape[1]) for j in others)

    def rows(part: slice) -> Any:
        return values[part][:, None] * _conj(kron_rows(entries, factors, others, part))

    return entries.row_sums(mode, width, rows)


def kron_rows(entries: Entries, factors: list[Any], modes: list[int], part: slice) -> Any:
    """``(entries in part, Π_{j in modes} r_j)``: ``⊗_{j in modes} U_j[i_{e,j}, :]`` per entry
    (C order)."""
    xp = backend.namespace(factors[0])
    out = None
    for j in modes:
        rows = xp.take(factors[j], entries.idx[j][part], axis=0)
        out = (
            rows
            if out is None
            else xp.reshape(out[:, :, None] * rows[:, None, :], (int(rows.shape[0]), -1))
        )
    return out


def _conj(a: Any) -> Any:
    return backend.namespace(a).conj(a) if backend.is_complex(a) else a


def check_options(
    x: SparseTensor, method: str, given: dict[str, Any], nonnegative: bool, rank: Any
) -> None:
    """The :func:`tnkit.tucker` options a SparseTensor cannot take."""
    if method != "hooi":
        raise ValueError(
            f"a SparseTensor is fitted by HOOI or ALS sweeps: method must be 'hooi', got {method!r}"
        )
    for name, value in given.items():
        if value is not None:
            raise ValueError(f"tucker of a SparseTensor needs rank=, not {name}=")
    if rank is None:
        raise ValueError("tucker of a SparseTensor needs rank= (the multilinear rank to fit)")
    if nonnegative:
        raise ValueError("nonnegative=True needs dense x")
