"""TNLS: local sampling (Li, Zeng, Tao & Zhao, "Permutation search of tensor network structures
via local sampling", ICML 2022, arXiv 2206.06597), as a baseline on the same machinery.

Start from one random point (ranks of a fixed topology and a mode permutation). Generation
``g >= 2`` draws ``samples`` points around the centre: each rank moves by
``sign(z) * min(round(|z|), 4)`` with ``z ~ N(0, 0.9^(g-1))`` (forced inward at the bounds),
and with probability ``0.94^(g-1)`` two vertices swap modes. If the best sample is no worse
than the centre it becomes the new centre.
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


def tnls(
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
    samples: int = 60,
    search_perm: bool | None = None,
    restarts: int = 2,
    max_iter: int = 60,
) -> SearchResult:
    """TNLS structure search (see the module docstring); arguments (``device`` included) as in
    :func:`tnale`, ``samples`` points per generation."""
    x = backend.as_data_tensor(x, "x", min_ndim=2)
    perm = topology != "full" if search_perm is None else search_perm
    space = RankSpace(topology, x.ndim, max_rank, perm)
    checks.check_int(samples, "samples", 1)
    fit = FitOptions(max_iter=max_iter, restarts=restarts)
    options = {"topology": topology, "max_rank": max_rank, "samples": samples}
    options["search_perm"] = perm

    def body(ev: Evaluator, rng: np.random.Generator) -> None:
        _tnls(ev, rng, space, samples)

    return run_search(
        "tnls",
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


def _tnls(ev, rng, space: RankSpace, samples: int) -> None:
    center = space.random_point(rng)
    rec = ev.evaluate([space.structure(*center)])[0]
    center_f = rec["f"]
    g = 2
    while not ev.exhausted:
        points = [_sample(rng, space, center, g) for _ in range(samples)]
        parent = space.structure(*center)
        structs = [space.structure(*p) for p in points]
        parents = [parent if p[1] == center[1] else None for p in points]
        recs = ev.evaluate(structs, parents=parents)
        f = [r["f"] if r is not None else np.inf for r in recs]
        best = int(np.argmin(f))
        if f[best] <= center_f:
            center, center_f = points[best], f[best]
        g += 1


def _sample(rng, space: RankSpace, center, g: int):
    values, perm = center
    sigma = 0.9 ** (g - 1)
    new = []
    for v in values:
        z = rng.normal(0.0, sigma)
        step = int(np.sign(z) * min(round(abs(z)), 4))
        if (v == space.max_rank and step > 0) or (v == 1 and step < 0):
            step = -step
        new.append(int(np.clip(v + step, 1, space.max_rank)))
    if space.search_perm and rng.random() < 0.94 ** (g - 1):
        u, w = rng.choice(space.order, 2, replace=False)
        p = list(perm)
        p[u], p[w] = p[w], p[u]
        perm = tuple(p)
    return tuple(new), perm
