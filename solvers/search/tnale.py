"""TnALE: alternating local enumeration (Li, Zeng, Li, Caiafa & Zhao, ICML 2023,
arXiv 2304.12875).

The variables are the bond ranks of a fixed topology (ring, chain or fully connected) and the
mode-to-vertex permutation. A *round trip* visits the rank variables 0..K-1, the permutation,
then K-1..1; at each it enumerates a local neighbourhood with all other variables fixed and
moves to the arg-min of the objective (coordinate descent, so f never rises within a trip):

* a rank variable: the ``2L+1`` ranks around its value (shifted at the bounds);
* the permutation: itself and all N(N-1)/2 transpositions of two vertices.

During the first ``init_trips`` trips the radius is ``init_radius`` and only the two window
ends and the centre are fitted; ``RSE^2`` at the other ranks is interpolated linearly (the
size term is exact), and the arg-min is fitted if it was interpolated. After a trip that
does not improve on the centre, a local random restart draws every variable at random from
its neighbourhood around the centre. Rank candidates are warm-started from the current
structure's fit. The evaluation at which the best structure was first found is recorded
(``SearchResult.best_evaluation``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tnkit import backend, checks

from .driver import run_search
from .evaluator import Evaluator
from .objective import FitOptions
from .result import SearchResult
from .space import RankSpace


def tnale(
    x: Any,
    *,
    lam: float | None = None,
    target_rse: float | None = None,
    budget: int = 500,
    mask: Any = None,
    workers: int = 1,
    scheduler: Any = None,
    checkpoint: str | None = None,
    resume: bool = False,
    seed: int = 0,
    progress: bool | Callable[[dict], Any] = False,
    device: str | None = None,
    topology: str = "ring",
    max_rank: int = 7,
    radius: int = 1,
    init_radius: int = 2,
    init_trips: int = 2,
    search_perm: bool | None = None,
    restarts: int = 2,
    max_iter: int = 60,
) -> SearchResult:
    """TnALE structure search (see the module docstring).

    Shared arguments (``device`` included) as in :func:`solvers.search.greedy`. ``topology``
    is ``"ring"``, ``"chain"`` or ``"full"``; ranks range over ``1..max_rank``;
    ``radius``/``init_radius`` are the enumeration radii of the main and initial
    (interpolated) phases, ``init_trips`` the length of the latter; ``search_perm`` (default:
    not for ``"full"``) enumerates mode placements; ``restarts`` and ``max_iter`` set each fit
    (ALS restarts and sweeps).
    """
    x = backend.as_data_tensor(x, "x", min_ndim=2)
    perm = topology != "full" if search_perm is None else search_perm
    space = RankSpace(topology, x.ndim, max_rank, perm)
    checks.check_int(radius, "radius", 1)
    checks.check_int(init_radius, "init_radius", 1)
    checks.check_int(init_trips, "init_trips", 0)
    fit = FitOptions(max_iter=max_iter, restarts=restarts)
    options = {
        "topology": topology,
        "max_rank": max_rank,
        "radius": radius,
        "init_radius": init_radius,
        "init_trips": init_trips,
        "search_perm": perm,
    }

    def body(ev: Evaluator, rng: np.random.Generator) -> None:
        _tnale(ev, rng, space, radius, init_radius, init_trips)

    return run_search(
        "tnale",
        body,
        x,
        lam=lam,
        target_rse=target_rse,
        budget=budget,
        mask=mask,
        workers=workers,
        scheduler=scheduler,
        checkpoint=checkpoint,
        resume=resume,
        seed=seed,
        progress=progress,
        fit=fit,
        options=options,
        device=device,
    )


def _tnale(ev, rng, space: RankSpace, radius, init_radius, init_trips) -> None:
    point = space.random_point(rng)
    rec = ev.evaluate([space.structure(*point)])[0]
    center, center_f = point, rec["f"]
    k = space.n_vars
    positions = [*range(k), "perm", *range(k - 1, 0, -1)]
    trip = 0
    while not ev.exhausted:
        wide = trip < init_trips
        for pos in positions:
            if ev.exhausted:
                return
            if pos == "perm":
                if space.search_perm:
                    point = _perm_step(ev, space, point)
            else:
                r = init_radius if wide else radius
                point = _rank_step(ev, space, point, pos, r, interpolate=wide and r > 1)
        trip += 1
        f = ev.cache[space.structure(*point).key_string()]["f"]
        if f < center_f:
            center, center_f = point, f
            continue
        point = _restart(ev, rng, space, center, radius)


def _rank_step(ev, space, point, pos, r, interpolate):
    values, perm = point
    current = space.structure(values, perm)
    window = space.window(values[pos], r)
    cands = [space.structure(_set(values, pos, v), perm) for v in window]
    fitted = [window[0], values[pos], window[-1]] if interpolate else window
    fitted = list(dict.fromkeys(fitted))
    todo = [cands[window.index(v)] for v in fitted]
    recs = ev.evaluate(todo, parents=[current] * len(todo))
    if any(rec is None for rec in recs):
        return point
    known = {v: rec for v, rec in zip(fitted, recs)}
    scores = []
    for v, s in zip(window, cands):
        if v in known:
            scores.append(known[v]["f"])
        else:
            rse2 = _interp(v, {u: known[u]["rse"] ** 2 for u in known})
            scores.append(ev.objective(float(np.sqrt(max(rse2, 0.0))), s.n_params(ev.x.shape)))
    best = int(np.argmin(scores))
    v = window[best]
    if v not in known:
        rec = ev.evaluate([cands[best]], parents=[current])[0]
        if rec is None or rec["f"] >= known[values[pos]]["f"]:
            return point
    return _set(values, pos, v), perm


def _perm_step(ev, space, point):
    values, perm = point
    perms = [perm, *space.transpositions(perm)]
    recs = ev.evaluate([space.structure(values, p) for p in perms])
    f = [rec["f"] if rec is not None else np.inf for rec in recs]
    return values, perms[int(np.argmin(f))]


def _restart(ev, rng, space, center, radius):
    """A random neighbour of the centre (every variable redrawn in its neighbourhood)."""
    values, perm = center
    for _ in range(100):
        new_values = tuple(int(rng.choice(space.window(v, radius))) for v in values)
        new_perm = perm
        if space.search_perm and rng.random() < 0.5:
            options = space.transpositions(perm)
            new_perm = options[int(rng.integers(len(options)))]
        if (new_values, new_perm) != center:
            break
    point = (new_values, new_perm)
    ev.evaluate([space.structure(*point)], parents=[space.structure(*center)])
    return point


def _interp(v: int, known: dict[int, float]) -> float:
    """Linear interpolation of ``known`` (rank -> value) at rank ``v``."""
    xs = sorted(known)
    return float(np.interp(v, xs, [known[u] for u in xs]))


def _set(values: tuple[int, ...], pos: int, v: int) -> tuple[int, ...]:
    out = list(values)
    out[pos] = v
    return tuple(out)
