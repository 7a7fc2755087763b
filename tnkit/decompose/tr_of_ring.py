"""The start of a ring fitted to a ring (``tk.tr`` of a TT or TR): no data to run TR-SVD on,
and no single start that suits every target, so :func:`best_start` tries three."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..formats.tr import TR
from . import _common as cm
from . import tr_als

START_NOISE = 1e-2  # noise on the rounded start of a ring fit, relative to each core's RMS
TRIAL_SWEEPS = 10  # ALS sweeps each candidate start of a ring fit gets before one is kept


def best_start(
    fit: cm.Sweeps, target: TR, ranks: tuple[int, ...], seed: int, norm: float
) -> tuple[list[Any], list[float]]:
    """The start of a fit to the ring ``target`` (of norm ``norm``) at ``ranks``: of the
    rounded start (:func:`rounded_start`), random cores and the shrunk start
    (:func:`shrunk_start`, when there is one), the one with the lowest error after
    ``TRIAL_SWEEPS`` ALS sweeps (its cores and error history); the first to reach
    ``fit.tol`` ends the trials.

    No one start is best: the rounding stalls on sums such as ``a + a`` (every cut's singular
    values come in equal pairs), the shrunk ring is the surest start when ``target`` has an
    exact ring at ``ranks`` but a poor one when it has none, and random cores miss now and
    then. Over 12 small rings (4-6 cores, modes 4-6) and five targets fitted at ranks 3-5
    (``examples/benchmarks/tr_of_ring.py``), the kept start ended within 5 % of the best of
    the three single-start fits in 51 of 60 fits: ``a + a`` 12/12 (the rounded start alone
    2/12, random cores 10/12), an exact ring of ranks 5 12/12, a ring's TT 11/12.
    """
    candidates = (
        lambda: rounded_start(target, ranks, seed),
        lambda: tr_als.random_cores(target.shape, ranks, target.cores[0], seed, norm),
        lambda: shrunk_start(fit, target, ranks),
    )
    best: tuple[list[Any], list[float]] | None = None
    for make in candidates:
        start = make()
        if start is None:
            continue
        cores, history = fit.run(start, TRIAL_SWEEPS)
        if fit.interrupted:
            break
        if history and (best is None or history[-1] < best[1][-1]):
            best = (cores, history)
        if best is not None and best[1][-1] <= fit.tol:
            break
    return best if best is not None else (start, [])


def shrunk_start(fit: cm.Sweeps, target: TR, ranks: tuple[int, ...]) -> list[Any] | None:
    """The exact rounding of ``target`` (``round(1e-12)``) brought down to ``ranks`` in
    steps, each taking half of every bond's excess over its rank (at least 1) off
    (:func:`tr_als.shrink_bond`) and followed by ``SHRINK_SWEEPS`` ALS sweeps. ``None``
    when a bond of that rounding is below its rank (a TT's closing bond, say) or above twice
    it: a sweep at ranks ``R`` costs ``(R / r)^3`` times one at ``r`` (a sum of 10 rings of
    ranks 8 rounds to ranks 80, and its first sweeps would cost 1000 times the fit's)."""
    cores = target.round(1e-12).cores
    if any(not ranks[k] <= int(g.shape[2]) <= 2 * ranks[k] for k, g in enumerate(cores)):
        return None
    while not fit.interrupted and any(int(g.shape[2]) > ranks[k] for k, g in enumerate(cores)):
        for k in range(len(cores)):
            r = int(cores[k].shape[2])
            if r > ranks[k]:
                cores = tr_als.shrink_bond(cores, k, r - max(1, (r - ranks[k]) // 2))
        cores, _ = fit.run(cores, tr_als.SHRINK_SWEEPS)
    return cores


def rounded_start(target: TR, ranks: tuple[int, ...], seed: int) -> list[Any]:
    """The start of a fit to the ring ``target`` at ``ranks``: ``target.round(rank=ranks)``,
    zero-padded where a cut found fewer ranks, plus Gaussian noise of ``START_NOISE`` times
    each core's RMS entry (seeded).

    The noise breaks ties: the cuts of ``a + a`` see every singular value twice and the
    truncation keeps an arbitrary half of each pair, from which ALS stalls (it still stalls
    from the perturbed start in most such fits, 10 of 12 in the benchmark, hence the other
    starts of :func:`best_start`); and a padded bond (a TT fitted by a ring, whose closing
    bond is 1) stays zero without it.
    """
    rng = np.random.default_rng(seed)
    out = []
    for k, g in enumerate(target.round(rank=ranks).cores):
        xp = backend.namespace(g)
        r0, m, r1 = (int(d) for d in g.shape)
        rms = float(xp.linalg.vector_norm(g)) / math.sqrt(r0 * m * r1)
        start = backend.random_normal((ranks[k - 1], m, ranks[k]), g, rng) * (START_NOISE * rms)
        start[:r0, :, :r1] += g
        out.append(start)
    return out
