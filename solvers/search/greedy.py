"""Greedy edge growing (Hashemizadeh, Liu, Miller & Rabusseau, "Adaptive learning of tensor
network structures", arXiv 2008.05437).

Start from the rank-one network on the N modes (all bond ranks 1) fitted by ALS. Each step:

1. for every mode pair (a, b) (within ``max_arity``), append one slice to the bond (a, b) and
   fit only the new slices to the residual ``X - T`` with a few ALS sweeps ("rank_one"
   scoring); the score is the error of ``T + slice`` (on held-out observed entries when a
   mask is given);
2. keep the pair with the largest error decrease per added parameter,
   ``(RSE(T) - score) / (n_params(T') - n_params(T))``;
3. refit all nodes of the grown network by ALS (warm start).

It stops at ``target_rse``, when the penalised objective stops improving, or at the budget.
tnkit adds an optional pruning pass (``prune=True``): once the target is met, every bond is
tried one rank smaller (warm-started refits, in parallel) and the smallest network that still
meets the target is kept, repeatedly — this removes ranks that greedy growth over-allocated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tnkit import backend

from .driver import run_search
from .evaluator import Evaluator
from .objective import FitOptions, grow, shrink
from .result import SearchResult
from .structure import Structure


def greedy(
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
    max_arity: int | None = None,
    score_sweeps: int = 2,
    max_iter: int = 100,
    prune: bool = True,
    holdout: float = 0.1,
) -> SearchResult:
    """Greedy structure search (see the module docstring).

    Parameters
    ----------
    x
        Data tensor (order >= 2).
    lam, target_rse
        Penalised objective ``n_params/size + lam*RSE^2`` (default, ``lam=200``) or constrained
        objective (fewest parameters with ``RSE <= target_rse``); greedy stops at the target.
    budget
        Maximum number of evaluations (edge scorings and refits both count).
    mask
        Observed entries (completion); edge scores use a random ``holdout`` share of them.
    workers, scheduler
        Local process count, or a Dask address/Client/any ``concurrent.futures.Executor``.
    checkpoint, resume
        JSON-lines log of every evaluation; ``resume=True`` continues it exactly.
    seed
        Makes the search reproducible whatever the executor.
    progress
        ``True`` for a live bar, or a callable receiving a status dict after each evaluation
        (``n_evaluations``, ``best_f``, ``best_rse``, ``best_n_params``, ``evals_per_s``,
        ``elapsed``, ``last``: the latest fit's rse/n_params/f); if it returns ``True`` the
        search stops (with the best result so far).
    device
        Where the fits run: ``None`` (default) on ``x``'s own backend and device (torch and
        cupy arrays stay there, and so does the result network), ``"cpu"`` with numpy,
        ``"gpu"`` (or ``"cuda"``) on a CUDA GPU, by cupy when it sees one, else torch. Only
        scalars (errors, parameter counts) come back to the host during the search;
        checkpoints store host copies. ``ValueError`` if no GPU is visible.
    max_arity
        Largest number of bonds per node (``None``: unlimited).
    score_sweeps, max_iter
        ALS sweeps of the cheap edge scoring and of each refit.
    prune
        Try one-smaller ranks once the target is met (see module docstring).
    holdout
        Share of observed entries held out for edge scoring when ``mask`` is given.
    """
    backend.check_int(max_arity, "max_arity", 1, optional=True)
    backend.check_int(score_sweeps, "score_sweeps", 1)
    backend.check_real(holdout, "holdout", low=0, high=1, open_low=True, open_high=True)
    if not isinstance(prune, (bool, np.bool_)):
        raise TypeError(f"prune must be True or False, got {prune!r}")
    fit = FitOptions(max_iter=max_iter, restarts=1)
    options = {"max_arity": max_arity, "score_sweeps": score_sweeps, "prune": prune}
    options["holdout"] = holdout

    def body(ev: Evaluator, rng: np.random.Generator) -> None:
        _greedy(ev, rng, max_arity, score_sweeps, prune, holdout)

    return run_search(
        "greedy",
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


def _greedy(ev, rng, max_arity, score_sweeps, prune, holdout) -> None:
    n = ev.x.ndim
    train, held = _split(ev.mask, holdout, rng)
    current = Structure(np.ones((n, n), dtype=int))
    record = ev.evaluate([current])[0]
    target = ev.objective.target_rse
    while record is not None and not ev.exhausted:
        if target is not None and record["rse"] <= target:
            break
        edges = _edges(current, ev.x.shape, max_arity)
        if not edges:
            break
        scores = ev.score_edges(current, edges, score_sweeps, train, held)
        if any(s is None for s in scores):
            break
        base = current.n_params(ev.x.shape)
        gains = []
        for (a, b), s in zip(edges, scores):
            child = current.with_rank(a, b, current.ranks[a][b] + 1)
            gains.append((record["rse"] - s["rse"]) / (child.n_params(ev.x.shape) - base))
        k = int(np.argmax(gains))
        a, b = edges[k]
        child = current.with_rank(a, b, current.ranks[a][b] + 1)
        start = grow(ev.network(record), child, a, b, scores[k]["arrays"], ev.x.shape)
        arrays = dict(zip(start.nodes, start.arrays))
        new = ev.evaluate([child], starts=[{"structure": child, "arrays": arrays}])[0]
        if new is None:
            break
        if target is None and new["f"] >= record["f"]:
            break
        current, record = child, new
    if prune and target is not None and record is not None and record["rse"] <= target:
        _prune(ev, current, target)


def _prune(ev: Evaluator, current: Structure, target: float) -> None:
    """Lower single bond ranks while the target stays met (largest saving first)."""
    while not ev.exhausted:
        n = current.order
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n) if current.ranks[a][b] > 1]
        children = [current.with_rank(a, b, current.ranks[a][b] - 1) for a, b in pairs]
        net = ev.network(ev.cache[current.key_string()])
        starts = [
            {"structure": c, "arrays": shrink(net, c, a, b, ev.x.shape)}
            for c, (a, b) in zip(children, pairs)
        ]
        results = ev.evaluate(children, starts=starts)
        ok = [
            (r["n_params"], i)
            for i, r in enumerate(results)
            if r is not None and r["rse"] <= target
        ]
        if not ok:
            return
        _, i = min(ok)
        current = children[i]


def _edges(
    current: Structure, shape: tuple[int, ...], max_arity: int | None
) -> list[tuple[int, int]]:
    """Mode pairs whose bond may grow: within ``max_arity`` and below the redundancy bound
    (a bond rank above the product of a node's other dimensions adds nothing)."""
    n = current.order
    ranks = np.array(current.ranks)
    out = []
    for a in range(n):
        for b in range(a + 1, n):
            r = ranks[a, b]
            if max_arity is not None and r == 1:
                if current.degree(a) >= max_arity or current.degree(b) >= max_arity:
                    continue
            cap = min(shape[m] * np.prod(ranks[m]) // r for m in (a, b))
            if r + 1 <= cap:
                out.append((a, b))
    return out


def _split(mask, holdout, rng):
    """Training and held-out masks for edge scoring (both ``None`` without a mask), on the
    mask's device (the random draws are numpy's, uploaded once)."""
    if mask is None:
        return None, None
    xp = backend.namespace(mask)
    held = (backend.asarray_like(rng.random(tuple(mask.shape)), mask) < holdout) & (mask > 0)
    n_held = int(xp.sum(xp.astype(held, xp.int64)))
    if n_held == 0 or n_held == float(xp.sum(mask)):
        return mask, None
    return mask * ~held, xp.astype(held, mask.dtype)
