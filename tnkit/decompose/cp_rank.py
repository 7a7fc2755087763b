"""Choosing a CP rank: the core consistency diagnostic and a scan over candidate ranks.

CORCONDIA (Bro & Kiers, "A new efficient method for determining the number of components in
PARAFAC models", J. Chemometrics 17, 2003): with the weights absorbed into the last factor,
fit a full ``R × ... × R`` Tucker core to the CP factors,

.. math::  G = x \\times_0 A_0^+ \\times_1 A_1^+ \\cdots \\times_{N-1} A_{N-1}^+,

(``A^+`` the pseudo-inverse; this ``G`` minimises ``||x - G ×_k A_k||``) and compare it with the
superdiagonal core ``T`` of ones that the CP model itself is:

.. math::  \\mathrm{CC} = 100 \\left(1 - \\frac{\\sum |G - T|^2}{R}\\right).

An appropriate model has ``CC`` near 100; one rank too many lets components model noise or
each other, the best core moves off the superdiagonal and ``CC`` drops (it can go negative).
:func:`cp_rank_scan` fits each candidate rank (the best of a few starts). A component too many
often fits a rank-one piece of the noise, which is itself trilinear: the core stays
consistent and only the error curve shows it (it flattens). So the suggested rank is the
smallest after which one more component lowers the error by less than ``min_gain``
(relative), among the ranks before the first whose ``CC`` falls below ``threshold``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backend, checks, io
from ..formats.cp import CP
from ..sparse import SparseTensor, check_for_fit
from . import _common as cm
from .cp import cp, given_factors
from .cp_sparse import GRAM_CHUNK, Entries
from .tucker_sparse import kron_rows

CORE_LIMIT = 2**24  # largest R^N core (entries) core_consistency forms
CHECKPOINT_FORMAT = "tnkit.cp_rank_scan/1"
# error, core consistency, norm ratio, held-out error (None without a hold-out), model
Row = tuple[float, float, float, "float | None", CP]


def core_consistency(x: Any, model: CP, *, mask: Any = None) -> float:
    """The core consistency (percent) of the CP ``model`` of ``x`` (module docstring).

    Parameters
    ----------
    x : the data tensor the model was fitted to (numpy, torch or cupy), or a
        :class:`tnkit.sparse.SparseTensor`: the core then comes from the listed entries only
        (:func:`_entries_core`), equal to the dense computation on the same data.
    model : a :class:`CP` of ``x``'s shape.
    mask : optional boolean array, True where ``x`` is observed; the missing entries are
        filled in with the model's values (``x`` may hold NaN there). Dense ``x`` only.

    Returns
    -------
    float: 100 for a core exactly superdiagonal; lower (possibly negative) the further the
    best Tucker core is from the CP model.
    """
    sparse = isinstance(x, SparseTensor)
    if sparse:
        check_for_fit(x, mask)
    else:
        x, mask = cm.check_masked_data(x, mask, "x", min_ndim=2)
    if not isinstance(model, CP):
        raise TypeError(f"model must be a tnkit CP, got {type(model).__name__}")
    if model.shape != tuple(int(d) for d in x.shape):
        raise ValueError(f"model has shape {model.shape}, x has shape {tuple(x.shape)}")
    rank, order = model.rank, len(x.shape)
    if rank**order > CORE_LIMIT:
        raise ValueError(
            f"the core of rank {rank} and order {order} has {rank**order:,} entries "
            f"(more than {CORE_LIMIT:,}): core consistency is for small ranks"
        )
    like = x.values if sparse else x
    xp = backend.namespace(like)
    factors = given_factors(model, model.shape, rank, like)  # the weights in the last factor
    pinvs = [_pinv(a) for a in factors]
    if sparse:
        core = _entries_core(x, factors, pinvs)
    else:
        data = x if mask is None else cm.impute(x, mask, model.to_tensor())
        core = cm.mode_products(data, pinvs)
    flat = xp.reshape(core, (-1,))
    stride = sum(rank**k for k in range(order))  # of the superdiagonal, in C order
    diagonal = flat[::stride]
    # ||G - T||² = ||G||² - 2 Re Σ diag(G) + R
    dist2 = cm.fro(core) ** 2 - 2.0 * float(xp.real(xp.sum(diagonal))) + rank
    return 100.0 * (1.0 - dist2 / rank)


def _entries_core(x: SparseTensor, factors: list[Any], pinvs: list[Any]) -> Any:
    """``G = x̃ ×_k A_k⁺`` from the listed entries: ``Σ_e r_e ⊗_k A_k⁺[:, i_{e,k}]`` with
    ``r_e = v_e`` when the unlisted entries are zeros. When they are missing, ``x̃`` is the
    model there (as with a dense mask): ``G = T ×_k (A_k⁺ A_k)`` (``T`` the superdiagonal of
    ones) plus the same sum over the residuals ``r_e = v_e - x̂_e``."""
    entries = Entries(x)
    xp = backend.namespace(entries.v)
    rank, order = int(factors[0].shape[1]), len(factors)
    r = entries.v if x.unlisted == "zero" else entries.v - entries.model(factors)
    rows = [p.T for p in pinvs]  # (n_k, R): the columns of A_k⁺ by index
    step = max(1, GRAM_CHUNK // rank**order)
    flat = 0
    for start in range(0, x.nnz, step):
        part = slice(start, start + step)
        flat = flat + r[part] @ kron_rows(entries, rows, list(range(order)), part)
    core = xp.reshape(flat, (rank,) * order)
    if x.unlisted == "missing":
        ones = np.zeros((rank,) * order)
        ones[(np.arange(rank),) * order] = 1.0
        ones = backend.asarray_like(ones, entries.v, entries.v.dtype)
        core = core + cm.mode_products(ones, [p @ a for p, a in zip(pinvs, factors)])
    return core


def _pinv(a: Any) -> Any:
    """``A⁺ = (AᴴA)⁻¹Aᴴ`` (R × n) with a tiny ridge for rank-deficient factors."""
    xp = backend.namespace(a)
    g = cm.ct(a) @ a
    r = int(g.shape[0])
    eye = xp.eye(r, dtype=g.dtype, **backend.device_kwargs(g))
    ridge = xp.max(xp.abs(xp.linalg.diagonal(g))) * (backend.eps(g) * r)
    return xp.linalg.solve(g + ridge * eye, cm.ct(a))


@dataclass
class RankScan:
    """The result of :func:`cp_rank_scan`: one entry per rank fitted, in scan order.

    ``errors`` are relative errors (on the observed entries with a mask), ``consistency`` the
    core consistency in percent, ``norm_ratio`` CP's degeneracy diagnostic
    (``||λ||₂ / ||x̂||``, 1 for orthogonal terms), ``models`` the best fit of each rank and
    ``suggested`` the suggested rank (None when no rank was fitted): a component beyond it
    must both keep the core consistent and lower the error by ``min_gain``. With entries
    missing, ``validation`` holds each model's relative error on the held-out observed
    entries, and the gain is measured on it. ``interrupted`` is True when Ctrl-C ended the
    scan early (the ranks fitted before are kept); ``resumed`` lists the ranks taken from a
    checkpoint.
    """

    ranks: list[int] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    consistency: list[float] = field(default_factory=list)
    norm_ratio: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    models: list[CP] = field(default_factory=list)
    threshold: float = 80.0
    min_gain: float = 0.05
    interrupted: bool = False
    resumed: list[int] = field(default_factory=list)

    def add(self, rank: int, row: Row) -> None:
        """Append the fit of one more rank (its :data:`Row`)."""
        error, consistency, norm_ratio, held_out, model = row
        self.ranks.append(rank)
        self.errors.append(error)
        self.consistency.append(consistency)
        self.norm_ratio.append(norm_ratio)
        if held_out is not None:
            self.validation.append(held_out)
        self.models.append(model)

    @property
    def suggested(self) -> int | None:
        """The smallest rank whose next scanned rank lowers the error (the held-out error when
        there is one) by less than ``min_gain`` (relative), among the ranks before the first
        whose core consistency is below ``threshold``; the largest of those when every step
        still gains."""
        rows = sorted(zip(self.ranks, self.validation or self.errors, self.consistency))
        keep = []
        for row in rows:
            if row[2] < self.threshold and keep:
                break
            keep.append(row)
        if not keep:
            return None
        for (r, err, _), (_, nxt, _) in zip(keep, rows[1:]):
            if err - nxt < self.min_gain * err:
                return r
        return keep[-1][0]

    def model(self, rank: int | None = None) -> CP:
        """The best fit of ``rank`` (default: the suggested rank)."""
        rank = self.suggested if rank is None else rank
        if rank is None:
            raise ValueError("no rank was fitted (the scan was interrupted before the first)")
        if rank not in self.ranks:
            raise ValueError(f"rank {rank} was not scanned (scanned: {self.ranks})")
        return self.models[self.ranks.index(rank)]

    def refit(self, x: Any, rank: int | None = None, *, mask: Any = None, **cp_options: Any) -> CP:
        """The fit of ``rank`` (default: the suggested rank) refitted to every observed entry
        of ``x`` by :func:`tnkit.cp`, starting from the scan's model: after a scan with a
        hold-out the models saw only part of the observed entries. ``x`` and ``mask`` are
        the scan's data; ``cp_options`` go on to :func:`tnkit.cp`."""
        start = self.model(rank)
        return cp(x, start.rank, init=start, mask=mask, **cp_options)

    def table(self) -> str:
        """A Markdown table of the scan, the suggested rank marked."""
        held = bool(self.validation)
        head = "| rank | relative error | " + ("held-out error | " if held else "")
        lines = [head + "core consistency % | norm ratio |", "|---" * (5 if held else 4) + "|"]
        for k, r in enumerate(self.ranks):
            mark = " (suggested)" if r == self.suggested else ""
            cells = [f"{r}{mark}", f"{self.errors[k]:.4g}"]
            cells += [f"{self.validation[k]:.4g}"] if held else []
            cells += [f"{self.consistency[k]:.1f}", f"{self.norm_ratio[k]:.3g}"]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _repr_markdown_(self) -> str:
        return self.table()


def cp_rank_scan(
    x: Any,
    ranks: Iterable[int],
    *,
    restarts: int = 3,
    threshold: float = 80.0,
    min_gain: float = 0.05,
    holdout: float = 0.1,
    mask: Any = None,
    seed: int = 0,
    progress: bool | Callable[[int, float], Any] = False,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    **cp_options: Any,
) -> RankScan:
    """Fit CP models of each rank in ``ranks`` and report their core consistency.

    Parameters
    ----------
    x : N-way data tensor (N >= 2; numpy, torch or cupy), or a
        :class:`tnkit.sparse.SparseTensor` (fitted and diagnosed from its listed entries).
    ranks : the candidate ranks (positive integers, each at most
        ``prod(shape) / max(shape)``), fitted in increasing order.
    restarts : fits per rank: the SVD start, then ``restarts - 1`` random starts (seeds
        ``seed + 1, ...``); the lowest-error fit is kept.
    threshold : core consistency (percent, at most 100) below which a rank counts as too many.
    min_gain : relative error decrease a further component must bring to be suggested
        (an extra component always lowers the error a little by fitting noise, often with a
        consistent core, so the consistency alone does not reveal it).
    holdout : with entries missing (a ``mask``, or a SparseTensor with
        ``unlisted="missing"``), the fraction of the observed entries set aside (drawn from
        ``seed``): every rank is fitted to the others, and the gain of one more component is
        measured on the held-out ones, where fitting noise does not pay (0: no hold-out, the
        gain on the fitted entries as for complete data). The models are then those of the
        fitted part: refit the chosen rank to every observed entry with :func:`tnkit.cp`.
    mask : optional boolean array, True where ``x`` is observed (as in :func:`tnkit.cp`).
    seed : seed of the random starts.
    progress : True for a progress bar over the ranks, or a callable
        ``progress(rank, rel_error)`` called after each rank.
    checkpoint : ``.npz`` file rewritten after each fitted rank (the fits of every rank so
        far, their models included; never pickled).
    resume : take the ranks already in ``checkpoint`` from it instead of fitting them again
        (a missing file starts a new scan). The file must come from a scan of the same data
        with the same ``restarts``, ``seed``, ``holdout`` and ``cp_options``; its ranks
        outside ``ranks`` stay in the file, so a scan can be resumed over a wider range.
    **cp_options : passed on to :func:`tnkit.cp` (``max_iter``, ``tol``, ``nonnegative`` ...).

    Returns
    -------
    RankScan (``.table()``, ``.suggested``, ``.model()``). Ctrl-C ends the scan after the ranks
    already fitted (``interrupted`` is then True); with a ``checkpoint`` they are in the file
    too, and ``resume=True`` goes on from there to the same result as an uninterrupted scan.
    """
    candidates = _check_ranks(ranks)
    restarts = cm.check_positive_int(restarts, "restarts")
    threshold = checks.check_real(threshold, "threshold", high=100)
    min_gain = checks.check_real(min_gain, "min_gain", low=0)
    seed = checks.check_seed(seed)
    checks.check_checkpoint(checkpoint, resume)
    for name in ("init", "seed", "mask", "progress"):
        if name in cp_options:
            raise TypeError(f"cp_rank_scan sets {name}= itself; it cannot be passed on to cp")
    holdout = checks.check_real(holdout, "holdout", low=0, high=1, open_high=True)
    if isinstance(x, SparseTensor):
        check_for_fit(x, mask)
    else:
        x, mask = cm.check_masked_data(x, mask, "x", min_ndim=2)
    settings = _settings(x, mask, restarts, seed, cp_options)
    x, mask, held = _hold_out(x, mask, holdout, seed)
    settings["holdout"] = 0.0 if held is None else holdout
    saved = {}
    if resume and os.path.exists(checkpoint):
        like = x.values if isinstance(x, SparseTensor) else x
        saved = _load_checkpoint(checkpoint, settings, like)
    scan = RankScan(threshold=threshold, min_gain=min_gain)
    bar = cm.Progress(progress, len(candidates), "CP rank scan")
    try:
        for rank in candidates:
            if rank in saved:
                scan.resumed.append(rank)
            else:
                saved[rank] = _fit_rank(x, mask, held, rank, restarts, seed, cp_options)
                if checkpoint is not None:
                    _save_checkpoint(checkpoint, settings, saved)
            scan.add(rank, saved[rank])
            bar.update(rank, scan.errors[-1])
    except KeyboardInterrupt:
        scan.interrupted = True
    finally:
        bar.close()
    return scan


def _fit_rank(
    x: Any, mask: Any, held: Any, rank: int, restarts: int, seed: int, options: dict
) -> Row:
    """The best of ``restarts`` fits of ``rank`` and its diagnostics (the error on the
    held-out entries ``held`` too, when there are some)."""
    best = None
    for k in range(restarts):
        init = "svd" if k == 0 else "random"
        fit = cp(x, rank, init=init, seed=seed + k, mask=mask, **options)
        if best is None or fit.history[-1] < best.history[-1]:
            best = fit
    consistency = core_consistency(x, best, mask=mask)
    held_out = None if held is None else _held_out_error(best, held)
    return best.history[-1], consistency, best.options["diagnostics"]["norm_ratio"], held_out, best


def _hold_out(x: Any, mask: Any, fraction: float, seed: int) -> tuple[Any, Any, Any]:
    """``(x, mask, held)``: with entries missing, ``fraction`` of the observed ones (drawn from
    ``seed``) move from the data to ``held``, a SparseTensor of them; else ``held`` is None."""
    sparse = isinstance(x, SparseTensor)
    if fraction == 0 or (mask is None and not (sparse and x.unlisted == "missing")):
        return x, mask, None
    rng = np.random.default_rng(seed)
    like = x.values if sparse else x
    xp = backend.namespace(like)
    if sparse:
        rows = np.zeros(x.nnz, dtype=bool)
    else:
        observed = np.flatnonzero(backend.to_numpy(mask))
        rows = np.zeros(observed.size, dtype=bool)
    if rows.size < 2:
        raise ValueError("holdout needs at least 2 observed entries (or holdout=0)")
    rows[rng.choice(rows.size, size=max(1, round(fraction * rows.size)), replace=False)] = True

    def pick(a: Any, which: np.ndarray) -> Any:
        return xp.take(a, backend.asarray_like(np.flatnonzero(which), a, xp.int64), axis=0)

    if sparse:
        fit = SparseTensor(pick(x.indices, ~rows), pick(x.values, ~rows), x.shape, "missing")
        return (
            fit,
            None,
            SparseTensor(pick(x.indices, rows), pick(x.values, rows), x.shape, "missing"),
        )
    ids = observed[rows]
    fit_mask = backend.to_numpy(mask).astype(bool)
    fit_mask.reshape(-1)[ids] = False
    index = backend.asarray_like(np.stack(np.unravel_index(ids, x.shape), axis=1), x, xp.int64)
    values = xp.take(xp.reshape(x, (-1,)), backend.asarray_like(ids, x, xp.int64))
    held = SparseTensor(index, values, x.shape, "missing")
    return x, backend.asarray_like(fit_mask, x, xp.bool), held


def _held_out_error(model: CP, held: SparseTensor) -> float:
    """The relative error of ``model`` on the entries of ``held``."""
    xp = backend.namespace(held.values)
    diff = held.values - model.entries(held.indices)
    return float(xp.linalg.vector_norm(diff) / xp.linalg.vector_norm(held.values))


def _settings(x: Any, mask: Any, restarts: int, seed: int, options: dict) -> dict[str, Any]:
    """What a checkpoint must share with the scan that resumes it; the data are identified
    by shape, dtype, number of observed (listed) entries and their norm."""
    if isinstance(x, SparseTensor):
        like, count, norm = x.values, x.nnz, x.norm()
    else:
        like = x
        count = math.prod(x.shape) if mask is None else float(backend.namespace(mask).sum(mask))
        norm = cm.fro(x if mask is None else x * mask)
    return {
        "shape": [int(d) for d in x.shape],
        "dtype": backend.dtype_name(like),
        "observed": int(count),
        "norm": float(f"{norm:.12g}"),  # 12 digits: the same data on any backend
        "restarts": restarts,
        "seed": seed,
        "cp_options": json.loads(json.dumps(options, sort_keys=True, default=str)),
    }


def _save_checkpoint(path: Any, settings: dict[str, Any], rows: dict[int, Row]) -> None:
    meta: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "settings": settings, "ranks": []}
    arrays = {}
    for rank in sorted(rows):
        error, consistency, norm_ratio, held_out, model = rows[rank]
        record, nodes = io.network_record(model)
        meta["ranks"].append(
            {"rank": rank, "error": error, "consistency": consistency,
             "norm_ratio": norm_ratio, "held_out": held_out, "model": record}
        )  # fmt: skip
        arrays.update({f"rank{rank}/{key}": a for key, a in nodes.items()})
    io.save_record(path, meta, arrays)


def _load_checkpoint(path: Any, settings: dict[str, Any], like: Any) -> dict[int, Row]:
    """The rows of a checkpoint written for ``settings``, the models moved to ``like``'s
    library and device; ``ValueError`` naming the file when it is not such a checkpoint."""
    meta, arrays = io.load_record(path, "CP rank scan checkpoint")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{os.fspath(path)} is not a CP rank scan checkpoint")
    io.check_same_settings(meta.get("settings"), settings, path)
    rows = {}
    try:
        for entry in meta["ranks"]:
            rank = int(entry["rank"])
            prefix = f"rank{rank}/"
            nodes = {k[len(prefix) :]: a for k, a in arrays.items() if k.startswith(prefix)}
            model = io.network_from_record(entry["model"], nodes, os.fspath(path))
            if not isinstance(model, CP) or model.rank != rank:
                raise ValueError(f"its rank-{rank} model is not a CP of that rank")
            model = model.to(backend.backend_name(like), backend.device(like))
            diagnostics = (float(entry[k]) for k in ("error", "consistency", "norm_ratio"))
            held_out = None if entry["held_out"] is None else float(entry["held_out"])
            rows[rank] = (*diagnostics, held_out, model)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"{os.fspath(path)} is not a valid CP rank scan checkpoint: {err}"
        ) from None
    return rows


def _check_ranks(ranks: Any) -> list[int]:
    """The candidate ranks, sorted and without repeats."""
    return sorted(set(checks.check_positive_ints(ranks, "ranks", "rank")))
