"""TT-cross: a tensor train of a tensor known only through a function of its indices.

Two-site (DMRG) cross interpolation of Savostyanov & Oseledets, "Fast adaptive interpolation of
multi-dimensional arrays in tensor train format" (nDS 2011), built on the TT-cross idea of
Oseledets & Tyrtyshnikov (LAA 432, 2010) and the maxvol row selection of Goreinov et al.,
"How to find a good submatrix" (2010). Only ``O(N n² r²)`` entries per sweep are evaluated, never
the ``n^N`` grid.

Evaluations of ``f`` are what costs (a simulation, a model run), so a run can keep every
entry it evaluated in a checkpoint file; a resumed run replays the same sweeps from the same
``seed`` and takes every entry it finds there from the file instead of calling ``f``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend, checks, io, linalg
from ..formats.tt import TT
from . import _common as cm

CHECKPOINT_FORMAT = "tnkit.tt_cross/1"


def tt_cross(
    f: Callable[..., Any],
    shape: Sequence[int],
    *,
    rank: int | Sequence[int] | None = None,
    tol: float | None = None,
    max_rank: int = 100,
    max_sweeps: int = 20,
    init_rank: int = 2,
    seed: int = 0,
    progress: bool | Callable[[int, float], Any] = False,
    batch: bool = True,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
) -> TT:
    """TT-cross approximation of the tensor ``X[i] = f(i)`` from few evaluations of ``f``.

    Every bond ``k`` carries a set ``I_k`` of ``r_k`` left multi-indices ``(i_0 .. i_k)`` and a
    set ``J_k`` of ``r_k`` right multi-indices ``(i_{k+1} .. i_{N-1})``. A sweep visits the
    bonds in turn; at bond ``k`` it evaluates the two-site supercore

    .. math::  B[a, i, j, b] = f(I_{k-1}[a], i, j, J_{k+1}[b]),
               \\quad B \\in \\mathbb{K}^{(r_{k-1} n_k) \\times (n_{k+1} r_{k+1})},

    splits it by a truncated SVD ``B ≈ U S Vᴴ`` (rank ``<= rank`` or ``max_rank``, discarded
    norm ``<= tol ||B||_F / sqrt(N-1)``) and picks the ``r_k`` rows ``P`` of ``U`` whose square
    submatrix has (quasi-)maximal volume (maxvol). Sweeping left to right, core ``k`` becomes
    the interpolant ``U U[P]^{-1}`` (entries bounded by ~1, so stable) and ``I_k`` the rows
    ``P`` of ``I_{k-1} × {0..n_k-1}``; right to left the same acts on ``V`` and ``J_k``. The
    last bond of a sweep stores ``U S Vᴴ`` restricted to the selected rows (columns), so the
    TT reproduces the truncated supercores on the cross. Ranks adapt because ``B`` has up to
    ``n`` times more rows than the previous rank (Savostyanov & Oseledets 2011). Sweeps
    alternate direction and stop when ``||X_s - X_{s-1}||_F / ||X_s||_F`` (computed in TT
    arithmetic by orthogonalising the difference) is ``<= tol`` (``<= 1e-10`` without
    ``tol``), when the index sets equal those of two sweeps before (the sweeps then repeat
    forever: a fixed point whose two directions differ by about the approximation error), or
    after ``max_sweeps``.

    Parameters
    ----------
    f : the tensor as a function. With ``batch=True`` it takes an integer array of shape
        ``(m, N)`` (one multi-index per row) and returns ``m`` values (numpy, or anything
        :func:`tnkit.backend.to_numpy` converts, e.g. torch); with ``batch=False`` it takes
        one index tuple and returns one number (tnkit loops over the rows).
    shape : the N >= 2 positive mode sizes.
    rank : a cap on every bond rank, or a list of the N-1 bond caps (fixed-rank cross when
        ``tol`` is None); a listed cap above ``min(n_0⋯n_k, n_{k+1}⋯n_{N-1})`` raises
        ``ValueError``.
    tol : relative error target in (0, 1): truncation threshold and stopping rule.
        One of ``rank`` and ``tol`` is required.
    max_rank : a cap on every bond rank when ``rank`` is not given.
    max_sweeps : the most sweeps (one sweep = one pass over the N-1 bonds).
    init_rank : the size of the random initial right index sets.
    seed : seed of the random initial index sets (same seed, same TT).
    progress : ``True`` for a tqdm bar, or a callable ``progress(sweep, change)``.
    batch : whether ``f`` is vectorised (see ``f``).
    checkpoint : ``.npz`` file of every entry evaluated so far (multi-indices and values),
        rewritten after each sweep and on Ctrl-C (never pickled).
    resume : take the entries in ``checkpoint`` from it instead of calling ``f`` (a missing
        file starts afresh). The file must hold entries of a grid of the same ``shape`` and
        of the same ``f`` (which tnkit cannot check); with the same options the resumed run
        ends with the same TT as an uninterrupted one, and other options (a smaller ``tol``,
        more ``max_sweeps``) reuse every entry they revisit.

    Returns
    -------
    TT (float64, or complex128 when ``f`` returns complex values) with ``history`` the
    relative change per sweep (the first sweep records 1.0) and ``options`` holding the
    arguments, ``n_evaluations`` (distinct entries this run evaluated by calling ``f``; repeats
    come from a cache), ``n_reused`` (entries taken from the checkpoint),
    ``n_sweeps``, ``converged`` (change ``<= tol``), ``stalled`` (stopped by a repeat of the
    index sets) and ``interrupted``. Ctrl-C (``KeyboardInterrupt``) after the
    first sweep returns the TT of the last finished sweep with ``interrupted=True``; in the
    first sweep it propagates (after writing the checkpoint).

    Notes
    -----
    Like every cross method it sees only the entries it samples: a tensor that vanishes on
    all of them (an isolated spike) comes out as zero. Singular values below ``1e-14 s_0`` of
    a supercore are always dropped, so a fixed ``rank`` above the exact rank gives the exact
    rank. Each sweep evaluates at most ``sum_k r_{k-1} n_k n_{k+1} r_{k+1}`` new entries.
    Modes of size 1 (which would cap the ranks next to them) are left out of the sweeps and get
    identity cores; a grid with at most one mode of size > 1 is evaluated whole.
    """
    full, bond_caps, stop = _check_args(f, shape, rank, tol, max_rank, max_sweeps, init_rank, batch)
    seed = checks.check_int(seed, "seed", 0)
    checks.check_checkpoint(checkpoint, resume)
    oracle = _Oracle(f, full, batch)
    if resume and os.path.exists(checkpoint):
        oracle.load(checkpoint)
    reused = oracle.n_known
    keep = [k for k, d in enumerate(full) if d > 1]  # modes of size 1 would block rank growth
    shape = tuple(full[k] for k in keep)
    n = len(shape)
    # a bond of the kept modes spans the full bonds keep[j] .. keep[j+1]-1 (identity cores)
    caps = [min(bond_caps[keep[j] : keep[j + 1]]) for j in range(n - 1)]
    lookup = oracle if n == len(full) else _Expand(oracle, keep, len(full))
    options = {
        "rank": rank,
        "tol": tol,
        "max_rank": max_rank,
        "max_sweeps": max_sweeps,
        "init_rank": init_rank,
        "seed": seed,
        "batch": batch,
        "interrupted": False,
        "converged": False,
        "stalled": False,
    }
    bar = cm.Progress(progress, max_sweeps, "tt_cross")
    if n < 2:  # at most one mode of size > 1: evaluate the whole grid
        bar.close()
        grid = np.arange(shape[0] if n else 1, dtype=np.int64)[:, None]
        core = lookup(grid[:, :n]).reshape(1, -1, 1)
        if checkpoint is not None:
            oracle.save(checkpoint)
        options.update(n_evaluations=oracle.n_known - reused, n_reused=reused)
        options.update(converged=True, n_sweeps=0)
        return TT._made(_with_unit_modes([core], keep or [0], full), [], options)
    rng = np.random.default_rng(seed)
    # right sets J_k (r_k x (N-1-k)) for bonds k = 0..N-2; left sets I_k (r_k x (k+1))
    right = [np.zeros((1, 0), dtype=np.int64)] * n
    left = [np.zeros((1, 0), dtype=np.int64)] * n
    for k in range(n - 2, -1, -1):
        size = min(init_rank, math.prod(shape[k + 1 :]))
        right[k] = _random_rows(rng, shape[k + 1 :], size)
    prev, history, sigs = None, [], []
    try:
        for sweep in range(max_sweeps):
            cores = _sweep(lookup, shape, left, right, caps, tol, forward=sweep % 2 == 0)
            cur = TT._made(cores)
            change = 1.0 if prev is None else _relative_change(cur, prev)
            prev = cur
            history.append(change)
            sigs = [*sigs[-2:], _signature(left, right)]
            bar.update(sweep + 1, change)
            if checkpoint is not None:
                oracle.save(checkpoint)
            if sweep > 0 and change <= stop:
                options["converged"] = True
                break
            if len(sigs) == 3 and sigs[0] == sigs[2]:  # the index sets of two sweeps ago:
                options["stalled"] = True  # the sweeps now repeat, further ones change nothing
                break
    except KeyboardInterrupt:
        if checkpoint is not None:
            oracle.save(checkpoint)
        if prev is None:
            raise
        options["interrupted"] = True
    finally:
        bar.close()
    options.update(n_evaluations=oracle.n_known - reused, n_reused=reused)
    options["n_sweeps"] = len(history)
    return TT._made(_with_unit_modes(prev.cores, keep, full), history, options)


def _with_unit_modes(cores: list[np.ndarray], keep: list[int], full: tuple[int, ...]) -> list:
    """The cores of the TT on ``full`` whose modes ``keep`` carry ``cores`` and whose other
    modes (of size 1) carry identity cores ``(r, 1, r)``."""
    out, j = [], 0
    for k in range(len(full)):
        if j < len(keep) and keep[j] == k:
            out.append(cores[j])
            j += 1
        else:
            r = int(out[-1].shape[2]) if out else 1
            out.append(np.eye(r, dtype=cores[0].dtype).reshape(r, 1, r))
    return out


class _Expand:
    """The oracle called with rows that index only the modes ``keep`` (the others are 0)."""

    def __init__(self, oracle: _Oracle, keep: list[int], ndim: int) -> None:
        self.oracle, self.keep, self.ndim = oracle, keep, ndim

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        full = np.zeros((idx.shape[0], self.ndim), dtype=np.int64)
        full[:, self.keep] = idx
        return self.oracle(full)


# ---------------------------------------------------------------------- one sweep
def _sweep(
    oracle: Callable[[np.ndarray], np.ndarray],
    shape: tuple[int, ...],
    left: list[np.ndarray],
    right: list[np.ndarray],
    caps: list[int],
    tol: float | None,
    *,
    forward: bool,
) -> list[np.ndarray]:
    """One pass over the bonds (left to right when ``forward``), updating the index sets
    ``left``/``right`` in place; returns the cores of the TT it builds."""
    n = len(shape)
    cores: list[Any] = [None] * n
    rel = None if tol is None else tol / math.sqrt(n - 1)
    bonds = range(n - 1) if forward else range(n - 2, -1, -1)
    for k in bonds:
        lk = left[k - 1] if k > 0 else np.zeros((1, 0), dtype=np.int64)
        rk = right[k + 1] if k < n - 2 else np.zeros((1, 0), dtype=np.int64)
        block = oracle(_cross_indices(lk, shape[k], shape[k + 1], rk))
        p, q = lk.shape[0] * shape[k], shape[k + 1] * rk.shape[0]
        u, s, vh = _truncate(block.reshape(p, q), caps[k], rel)
        r = s.size
        last = k == (n - 2 if forward else 0)
        if forward:
            rows = _maxvol(u)
            cores[k] = np.linalg.solve(u[rows].T, u.T).T.reshape(-1, shape[k], r)
            left[k] = _extend_left(lk, shape[k])[rows]
            if last:
                cores[k + 1] = ((u[rows] * s) @ vh).reshape(r, shape[k + 1], -1)
        else:
            v = vh.T
            cols = _maxvol(v)
            core = np.linalg.solve(v[cols].T, v.T)  # (r, q): V[cols]^{-T} V^T
            cores[k + 1] = core.reshape(r, shape[k + 1], -1)
            right[k] = _extend_right(shape[k + 1], rk)[cols]
            if last:
                cores[k] = ((u * s) @ vh[:, cols]).reshape(-1, shape[k], r)
    return cores


def _truncate(b: np.ndarray, cap: int, rel: float | None) -> tuple[np.ndarray, ...]:
    """Truncated SVD of ``b``: rank ``<= cap`` and, with ``rel``, discarded norm
    ``<= rel ||b||_F``; singular values below ``1e-14 s_0`` are always dropped (at least one
    triplet is kept)."""
    u, s, vh, _ = linalg.truncated_svd(b, method="lapack")  # every triplet
    r = min(cap, s.size)
    if s[0] > 0:
        r = min(r, max(1, int(np.sum(s > 1e-14 * s[0]))))
        if rel is not None:
            r = min(r, linalg.rank_from_tol(s, rel))
    else:
        r = 1
    return u[:, :r], s[:r], vh[:r]


def _maxvol(a: np.ndarray, tol: float = 1.05, max_iter: int = 100) -> np.ndarray:
    """Rows ``P`` of the tall ``a`` (m x r, m >= r) whose r x r submatrix has quasi-maximal
    volume: every entry of ``a a[P]^{-1}`` is ``<= tol`` in modulus (Goreinov et al. 2010).

    Starts from the pivots of Gaussian elimination with partial pivoting, then swaps the row
    of the largest coefficient in, updating ``B = a a[P]^{-1}`` by a rank-one correction.
    """
    m, r = a.shape
    work = a.copy()
    rows = np.empty(r, dtype=np.int64)
    for j in range(r):  # LU with partial pivoting on the columns of a
        i = int(np.argmax(np.abs(work[:, j])))
        rows[j] = i
        piv = work[i, j]
        if piv != 0:
            work[:, j + 1 :] -= np.outer(work[:, j] / piv, work[i, j + 1 :])
        work[i, :] = 0
    b = np.linalg.solve(a[rows].T, a.T).T
    for _ in range(max_iter):
        i, j = np.unravel_index(int(np.argmax(np.abs(b))), b.shape)
        if abs(b[i, j]) <= tol:
            break
        e = np.zeros(r, dtype=b.dtype)
        e[j] = 1.0
        b -= np.outer(b[:, j], (b[i] - e) / b[i, j])
        rows[j] = i
    return rows


# ---------------------------------------------------------------------- index bookkeeping
def _cross_indices(lk: np.ndarray, n1: int, n2: int, rk: np.ndarray) -> np.ndarray:
    """All multi-indices ``(I[a], i, j, J[b])`` in C order of ``(a, i, j, b)``."""
    p, q = lk.shape[0], rk.shape[0]
    a, i, j, b = np.meshgrid(
        np.arange(p), np.arange(n1), np.arange(n2), np.arange(q), indexing="ij"
    )
    a, i, j, b = a.ravel(), i.ravel(), j.ravel(), b.ravel()
    return np.concatenate([lk[a], i[:, None], j[:, None], rk[b]], axis=1)


def _extend_left(lk: np.ndarray, nk: int) -> np.ndarray:
    """Rows ``(I[a], i)`` in C order of ``(a, i)``."""
    a, i = np.divmod(np.arange(lk.shape[0] * nk), nk)
    return np.concatenate([lk[a], i[:, None]], axis=1)


def _extend_right(nk: int, rk: np.ndarray) -> np.ndarray:
    """Rows ``(j, J[b])`` in C order of ``(j, b)``."""
    j, b = np.divmod(np.arange(nk * rk.shape[0]), rk.shape[0])
    return np.concatenate([j[:, None], rk[b]], axis=1)


def _random_rows(rng: np.random.Generator, shape: Sequence[int], size: int) -> np.ndarray:
    """``size`` distinct random multi-indices of a grid of ``shape``."""
    rows: dict[tuple[int, ...], None] = {}
    while len(rows) < size:
        row = tuple(int(rng.integers(d)) for d in shape)
        rows.setdefault(row, None)
    return np.array(list(rows), dtype=np.int64).reshape(size, len(shape))


def _signature(left: list[np.ndarray], right: list[np.ndarray]) -> bytes:
    """The index sets as one bytes string (shapes included)."""
    parts = [np.array(a.shape, dtype=np.int64).tobytes() + a.tobytes() for a in left + right]
    return b"".join(parts)


def _relative_change(cur: TT, prev: TT) -> float:
    """``||cur - prev||_F / ||cur||_F`` in TT arithmetic (QR sweeps, so accurate to ~eps)."""
    n = len(cur)
    diff = (cur - prev).orthogonalize(n - 1).cores[-1]
    norm = cur.orthogonalize(n - 1).cores[-1]
    den = float(np.linalg.norm(norm))
    return float(np.linalg.norm(diff)) / den if den > 0 else float(np.linalg.norm(diff) > 0)


class _Oracle:
    """``f`` on a batch of multi-indices, with a cache of every entry evaluated so far.

    A multi-index is keyed by its linear index when the grid has fewer than 2^62 entries
    (sorted int64 keys, looked up by binary search); a larger grid is cut into groups of modes
    with fewer than 2^62 entries each, and the row of group indices (as bytes) keys a dict.
    """

    def __init__(self, f: Callable[..., Any], shape: tuple[int, ...], batch: bool) -> None:
        self.f, self.batch, self.shape = f, batch, shape
        groups, size = [[]], 1
        for k, d in enumerate(shape):
            if size * d >= 2**62:
                groups.append([])
                size = 1
            groups[-1].append(k)
            size *= d
        self.groups = [
            (g, np.array([math.prod(shape[j + 1 : g[-1] + 1]) for j in g])) for g in groups
        ]
        self.keys = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0)
        self.table: dict[bytes, int] = {}

    @property
    def n_known(self) -> int:
        """Distinct entries known (evaluated or loaded from a checkpoint)."""
        return int(self.values.size)

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        return self._lookup(idx, self._evaluate)

    def _lookup(self, idx: np.ndarray, evaluate: Callable[[np.ndarray], np.ndarray]) -> Any:
        """The values at the rows ``idx``; the rows not known yet (each once) are passed to
        ``evaluate`` and remembered."""
        if len(self.groups) > 1:
            return self._lookup_dict(idx, evaluate)
        keys = idx @ self.groups[0][1]
        pos = np.searchsorted(self.keys, keys)
        known = pos < self.keys.size
        known[known] = self.keys[pos[known]] == keys[known]
        new_keys, first = np.unique(keys[~known], return_index=True)
        if new_keys.size:
            vals = evaluate(idx[~known][first])
            dtype = np.result_type(self.values.dtype, vals.dtype)
            order = np.argsort(np.concatenate([self.keys, new_keys]), kind="stable")
            self.keys = np.concatenate([self.keys, new_keys])[order]
            self.values = np.concatenate([self.values.astype(dtype), vals])[order]
        return self.values[np.searchsorted(self.keys, keys)]

    def columns(self) -> np.ndarray:
        """The known entries as linear indices within each group of modes,
        ``(m, n_groups)``, in the order of ``values``: the compact form a checkpoint stores
        (one int64 per entry below ``2^62`` grid entries, instead of one per mode)."""
        if len(self.groups) == 1:
            return self.keys[:, None].copy()
        out = np.empty((self.values.size, len(self.groups)), dtype=np.int64)
        cols = np.frombuffer(b"".join(self.table), dtype=np.int64).reshape(-1, len(self.groups))
        out[np.fromiter(self.table.values(), dtype=np.int64, count=len(self.table))] = cols
        return out

    def rows_of(self, columns: np.ndarray) -> np.ndarray:
        """The multi-indices ``(m, N)`` of entries given by their group ``columns``."""
        out = np.zeros((columns.shape[0], len(self.shape)), dtype=np.int64)
        for j, (g, _) in enumerate(self.groups):
            parts = np.unravel_index(columns[:, j], [self.shape[k] for k in g])
            out[:, g] = np.stack(parts, axis=1)
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the known entries to the checkpoint ``path``."""
        meta = {"format": CHECKPOINT_FORMAT, "shape": list(self.shape)}
        io.save_record(path, meta, {"columns": self.columns(), "values": self.values})

    def load(self, path: str | os.PathLike) -> None:
        """Take the entries of the checkpoint ``path`` as known (``ValueError`` naming the
        file when it is not a tt_cross checkpoint of this grid)."""
        meta, arrays = io.load_record(path, "tt_cross checkpoint")
        where = os.fspath(path)
        if meta.get("format") != CHECKPOINT_FORMAT or set(arrays) != {"columns", "values"}:
            raise ValueError(f"{where} is not a tt_cross checkpoint")
        if meta.get("shape") != list(self.shape):
            saved = meta.get("shape")
            raise ValueError(f"{where} holds entries of shape {saved}, not {list(self.shape)}")
        columns, values = arrays["columns"], arrays["values"]
        sizes = np.array([math.prod(self.shape[k] for k in g) for g, _ in self.groups])
        ok = columns.ndim == 2 and columns.shape == (values.size, len(self.groups))
        ok = ok and columns.dtype.kind == "i" and values.dtype.kind in "fc" and values.ndim == 1
        if not ok or (columns.size and (columns.min() < 0 or np.any(columns >= sizes))):
            raise ValueError(f"{where} is not a valid tt_cross checkpoint (malformed entries)")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{where} is not a valid tt_cross checkpoint (NaN or Inf values)")
        rows = self.rows_of(columns)
        self._lookup(rows, lambda idx: _values_at(rows, values, idx))

    def _lookup_dict(self, idx: np.ndarray, evaluate: Callable[[np.ndarray], Any]) -> Any:
        m = idx.shape[0]
        cols = np.stack([idx[:, g] @ st for g, st in self.groups], axis=1)
        rows = np.ascontiguousarray(cols).view(f"V{8 * cols.shape[1]}").ravel().tolist()
        table = self.table
        pos = np.fromiter((table.get(b, -1) for b in rows), dtype=np.int64, count=m)
        miss = np.nonzero(pos < 0)[0]
        if miss.size:
            new: dict[bytes, int] = {}
            for j in miss.tolist():
                new.setdefault(rows[j], j)
            vals = evaluate(idx[np.fromiter(new.values(), dtype=np.int64, count=len(new))])
            start = self.values.size
            dtype = np.result_type(self.values.dtype, vals.dtype)
            self.values = np.concatenate([self.values.astype(dtype), vals])
            table.update(zip(new, range(start, start + len(new))))
            pos[miss] = [table[rows[j]] for j in miss.tolist()]
        return self.values[pos]

    def _evaluate(self, idx: np.ndarray) -> np.ndarray:
        m = idx.shape[0]
        if self.batch:
            out = self.f(idx)
        else:
            out = [self.f(tuple(int(i) for i in row)) for row in idx]
        try:
            out = backend.to_numpy(out) if not isinstance(out, list) else np.asarray(out)
        except TypeError:
            out = np.asarray(out)
        if out.dtype.kind not in "biufc":
            raise ValueError(f"f must return numbers, got an array of dtype {out.dtype}")
        if out.shape not in ((m,), (m, 1)):
            what = "one value per index tuple" if not self.batch else f"{m} values (one per row)"
            raise ValueError(f"f must return {what}, got shape {tuple(out.shape)} for {m}")
        out = out.reshape(m).astype(np.result_type(out.dtype, np.float64))
        if not np.all(np.isfinite(out)):
            raise ValueError("f returned NaN or Inf values")
        return out


def _values_at(rows: np.ndarray, values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The ``values`` of the ``idx`` rows, each of which is one of ``rows`` (distinct)."""
    where = {row: k for k, row in enumerate(map(bytes, np.ascontiguousarray(rows)))}
    order = [where[bytes(row)] for row in np.ascontiguousarray(idx)]
    return values[np.array(order, dtype=np.int64)]


# ---------------------------------------------------------------------- validation
def _check_args(
    f: Any,
    shape: Any,
    rank: Any,
    tol: Any,
    max_rank: Any,
    max_sweeps: Any,
    init_rank: Any,
    batch: Any,
) -> tuple[tuple[int, ...], int, float]:
    """Validate the options; returns ``(shape, the N-1 bond caps, stopping threshold)``."""
    if not callable(f):
        raise TypeError(f"f must be a callable, got {type(f).__name__}")
    if isinstance(shape, (int, np.integer)) or not isinstance(shape, Sequence):
        raise TypeError(f"shape must be a sequence of positive ints, got {shape!r}")
    shape = tuple(checks.check_int(d, f"shape[{k}]", 1) for k, d in enumerate(shape))
    if len(shape) < 2:
        raise ValueError(f"shape must have N >= 2 entries, got {shape!r}")
    if rank is None and tol is None:
        raise ValueError("tt_cross needs rank= or tol=")
    cm.check_tol(tol)
    max_rank = cm.check_positive_int(max_rank, "max_rank")
    cm.check_positive_int(max_sweeps, "max_sweeps")
    cm.check_positive_int(init_rank, "init_rank")
    if not isinstance(batch, (bool, np.bool_)):
        raise TypeError(f"batch must be a bool, got {batch!r}")
    bounds = cm.tt_bond_bounds(shape)
    caps = cm.check_ranks(rank if rank is not None else max_rank, bounds, "bond ranks")
    return shape, caps, 1e-10 if tol is None else float(tol)
