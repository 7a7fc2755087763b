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

With ``internal_nodes=True`` ("greedyint" in the paper) each step is followed by a split
move: every node of the fitted network with at least three legs is matricised along each
bipartition of its legs (its open leg, if any, plus some bonds | at least two other bonds)
and its SVD is truncated to the singular values above ``split_tol`` times the largest. If the
network where that node is replaced by the two factors — the second one a new *internal*
node (no tensor mode) joined by the new bond — saves more than ``split_saving`` of the
parameters, the candidates are refitted (warm-started from the split, largest saving first,
at most ``split_tries``) and the first whose objective is no worse than the current one is
kept; this repeats until no split is kept. The inverse move, contracting an internal node
into a neighbour (exact), is tried first when it saves parameters (tnkit's addition, also
run by the pruning pass). Later steps grow bonds between any two nodes, internal ones
included. This is what lets greedy reach Tucker-like structures (a core plus factors) and
trees.

tnkit adds an optional pruning pass (``prune=True``): once the target is met, every bond is
tried one rank smaller (warm-started refits, in parallel) and the smallest network that still
meets the target is kept, repeatedly — this removes ranks that greedy growth over-allocated.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tnkit import backend, checks

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
    internal_nodes: bool = False,
    split_tol: float = 1e-5,
    split_tries: int = 3,
    split_saving: float = 0.05,
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
    internal_nodes
        After each step, try to split a node in two by a truncated SVD, creating an internal
        node (see the module docstring). The found network then has nodes ``h0, h1, ...``.
    split_tol
        Singular values below ``split_tol`` times the largest are dropped by a split.
    split_tries
        Most split candidates refitted per attempt (largest parameter saving first).
    split_saving
        Smallest share of the parameters a split must save to be tried (0.05: 5 %). Splits
        that save a few parameters tend to lead greedy into tangled internal nodes.
    """
    checks.check_int(max_arity, "max_arity", 1, optional=True)
    checks.check_int(score_sweeps, "score_sweeps", 1)
    checks.check_real(holdout, "holdout", low=0, high=1, open_low=True, open_high=True)
    if not isinstance(prune, (bool, np.bool_)):
        raise TypeError(f"prune must be True or False, got {prune!r}")
    if not isinstance(internal_nodes, (bool, np.bool_)):
        raise TypeError(f"internal_nodes must be True or False, got {internal_nodes!r}")
    split_tol = checks.check_real(
        split_tol, "split_tol", low=0, high=1, open_low=True, open_high=True
    )
    split_tries = checks.check_int(split_tries, "split_tries", 1)
    split_saving = checks.check_real(split_saving, "split_saving", low=0, high=1, open_high=True)
    fit = FitOptions(max_iter=max_iter, restarts=1)
    options = {"max_arity": max_arity, "score_sweeps": score_sweeps, "prune": prune}
    options["holdout"] = holdout
    split = None
    if internal_nodes:
        split = (float(split_tol), int(split_tries), float(split_saving))
        options.update(internal_nodes=True, split_tol=split[0], split_tries=split[1])
        options["split_saving"] = split[2]

    def body(ev: Evaluator, rng: np.random.Generator) -> None:
        _greedy(ev, rng, max_arity, score_sweeps, prune, holdout, split)

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


def _greedy(ev, rng, max_arity, score_sweeps, prune, holdout, split=None) -> None:
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
        if split is not None:
            current, record = _split_nodes(ev, current, record, *split)
    if prune and target is not None and record is not None and record["rse"] <= target:
        _prune(ev, current, target)


def _prune(ev: Evaluator, current: Structure, target: float) -> None:
    """Lower single bond ranks while the target stays met (largest saving first); merge
    internal nodes where that saves parameters (:func:`merge_candidates`)."""
    current = _merge(ev, current, target)
    while not ev.exhausted:
        n = current.n_vertices
        pairs = [
            (a, b)
            for a in range(n)
            for b in range(a + 1, n)
            if current.ranks[a][b] > 1 and not _isolates(current, a, b)
        ]
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
            break
        _, i = min(ok)
        current = _merge(ev, children[i], target)


def _merge(ev: Evaluator, current: Structure, target: float) -> Structure:
    """Contract internal nodes into neighbours while that saves parameters and the refit
    still meets the target (nothing to do without internal vertices)."""
    while not ev.exhausted:
        net = ev.network(ev.cache[current.key_string()])
        found = merge_candidates(net, current, ev.x.shape)
        if not found:
            break
        child, arrays = found[0]
        record = ev.evaluate([child], starts=[{"structure": child, "arrays": arrays}])[0]
        if record is None or record["rse"] > target:
            break
        current = child
    return current


def _isolates(current: Structure, a: int, b: int) -> bool:
    """Whether lowering bond (a, b) by one leaves an internal vertex without any bond."""
    if current.ranks[a][b] > 2:
        return False
    return any(m >= current.order and current.degree(m) == 1 for m in (a, b))


def _split_nodes(
    ev: Evaluator, current: Structure, record: dict, split_tol: float, tries: int, saving: float
) -> tuple[Structure, dict]:
    """Keep splitting nodes of the fitted network while a split lowers the parameter count
    and its refit does not worsen the objective (see the module docstring)."""
    while not ev.exhausted:
        net = ev.network(record)
        candidates = merge_candidates(net, current, ev.x.shape)[:1]
        candidates += split_candidates(net, current, ev.x.shape, split_tol, saving, tries)
        if not candidates:
            break
        kept = None
        for child, arrays in candidates[:tries]:
            start = {"structure": child, "arrays": arrays}
            new = ev.evaluate([child], starts=[start])[0]
            if new is None:
                return current, record
            if new["f"] <= record["f"]:
                kept = child, new
                break
        if kept is None:
            break
        current, record = kept
    return current, record


def merge_candidates(
    net: Any, current: Structure, shape: tuple[int, ...]
) -> list[tuple[Structure, dict]]:
    """Every contraction of an internal node into a neighbour that lowers the parameter count
    (the inverse of a split; the tensor is unchanged): ``(child structure, start arrays)``,
    largest saving first. ``net`` is the fitted network of ``current`` (identity ``perm``)."""
    base = current.n_params(shape)
    found = []
    for h in range(current.order, current.n_vertices):
        for u in range(current.n_vertices):
            if u != h and current.ranks[h][u] > 1:
                child = current.merge_vertex(h, u)
                gain = base - child.n_params(shape)
                if gain > 0:
                    found.append((gain, h, u, child))
    found.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [(child, _merge_arrays(net, current, child, h, u, shape)) for _, h, u, child in found]


def _merge_arrays(net, current, child, h, u, shape) -> dict:
    """Start arrays for ``child`` (= ``current.merge_vertex(h, u)``): nodes ``u`` and ``h`` of
    ``net`` contracted, shared neighbours' double bonds fused, labels renamed."""
    index = {w: w - (w > h) for w in range(current.n_vertices) if w != h}
    name_u = current.node_name(u)
    merged = net.contract_nodes(name_u, current.node_name(h), name=name_u)
    rename = {}
    for w in range(current.n_vertices):
        if w in (u, h):
            continue
        new = child.bond_label(index[u], index[w])
        pair = [current.bond_label(x, w) for x in (u, h) if current.ranks[x][w] > 1]
        if len(pair) == 2:
            merged = merged.fuse_legs(pair, new)
        elif pair:
            rename[pair[0]] = new
    for a in range(current.n_vertices):
        for b in range(a + 1, current.n_vertices):
            if h not in (a, b) and u not in (a, b) and current.ranks[a][b] > 1:
                rename[current.bond_label(a, b)] = child.bond_label(index[a], index[b])
    merged = merged.rename_legs(rename)
    target = child.to_network(shape, 0)
    arrays = {}
    for w, k in index.items():
        arr, legs = merged[current.node_name(w)], merged.legs(current.node_name(w))
        name = child.node_name(k)
        order = tuple(legs.index(g) for g in target.legs(name))
        arrays[name] = backend.namespace(arr).permute_dims(arr, order)
    return arrays


def split_candidates(
    net: Any,
    current: Structure,
    shape: tuple[int, ...],
    split_tol: float,
    saving: float = 0.0,
    limit: int | None = None,
) -> list[tuple[Structure, dict]]:
    """Every parameter-saving SVD split of a node of ``net`` (the fitted network of
    ``current``, whose ``perm`` is the identity): ``(child structure, start arrays)``, largest
    saving first; only those saving more than ``saving`` times the current parameter count,
    and the first ``limit`` of them.

    A node's legs are cut into its open leg (if any) plus some bonds | at least two other
    bonds (internal nodes: at least two bonds on each side); the matricised node's singular
    values above ``split_tol`` times the largest give the new bond's rank. The singular values
    are computed on the host (nodes are small); the split itself runs on ``net``'s device.
    """
    base = current.n_params(shape)
    found = []
    for v in range(current.n_vertices):
        name = current.node_name(v)
        legs = net.legs(name)
        others = [w for w in range(current.n_vertices) if w != v and current.ranks[v][w] > 1]
        if len(legs) < 3:
            continue
        for size in range(0 if v < current.order else 2, len(others) - 1):
            for stay in itertools.combinations(others, size):
                moved = [w for w in others if w not in stay]
                if v >= current.order and stay[0] != others[0]:
                    continue  # each bipartition of an internal node once
                rank = _split_rank(net, current, v, moved, split_tol)
                child = current.split_vertex(v, moved, rank)
                gain = base - child.n_params(shape)
                if gain > saving * base:
                    found.append((gain, v, tuple(moved), child))
    found.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [
        (child, _split_arrays(net, current, child, v, moved, shape))
        for _, v, moved, child in found[:limit]
    ]


def _split_rank(net: Any, current: Structure, v: int, moved: list[int], split_tol: float) -> int:
    name = current.node_name(v)
    legs = net.legs(name)
    right = [current.bond_label(v, w) for w in moved]
    left = [g for g in legs if g not in right]
    a = np.asarray(backend.to_numpy(net[name]))
    mat = np.transpose(a, [legs.index(g) for g in left + right])
    rows = math.prod(mat.shape[: len(left)])
    s = np.linalg.svd(mat.reshape(rows, -1), compute_uv=False)
    return max(int(np.sum(s > split_tol * s[0])), 1) if s[0] > 0 else 1


def _split_arrays(net, current, child, v, moved, shape) -> dict:
    """Start arrays for ``child``: node ``v`` of ``net`` split by a truncated SVD."""
    name = current.node_name(v)
    new_name = child.node_name(child.n_vertices - 1)
    right = [current.bond_label(v, w) for w in moved]
    left = [g for g in net.legs(name) if g not in right]
    bond = child.bond_label(v, child.n_vertices - 1)
    rank = child.ranks[v][child.n_vertices - 1]
    rename = {current.bond_label(v, w): child.bond_label(child.n_vertices - 1, w) for w in moved}
    parts = net.split_node(name, left, right, rank=int(rank), bond=bond, names=(name, new_name))
    parts = parts.rename_legs(rename) if rename else parts
    target = child.to_network(shape, 0)
    arrays = {}
    for node in target.nodes:
        arr, legs = parts[node], parts.legs(node)
        order = tuple(legs.index(g) for g in target.legs(node))
        arrays[node] = backend.namespace(arr).permute_dims(arr, order)
    return arrays


def _edges(
    current: Structure, shape: tuple[int, ...], max_arity: int | None
) -> list[tuple[int, int]]:
    """Vertex pairs (modes, then internal vertices) whose bond may grow: within
    ``max_arity`` and below the redundancy bound (a bond rank above the product of a node's
    other dimensions adds nothing)."""
    n = current.n_vertices
    ranks = np.array(current.ranks)
    dims = [*shape, *[1] * current.internal]
    out = []
    for a in range(n):
        for b in range(a + 1, n):
            r = ranks[a, b]
            if max_arity is not None and r == 1:
                if current.degree(a) >= max_arity or current.degree(b) >= max_arity:
                    continue
            cap = min(dims[m] * np.prod(ranks[m]) // r for m in (a, b))
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
