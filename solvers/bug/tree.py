"""One BUG step for a tree tensor network (Tucker and the two-leaf matrix included).

Notation of :mod:`solvers.bug.environments`. The state is an orthonormal TTN given as
``{node: array}``. For child ``i`` of node ``τ`` with initial tensor ``C̃_τ``
(``C_τ`` with its parent's ``R`` factor applied to the parent bond), ``Mat_i(C̃_τ)ᵀ = Q_i R_i``.

* **Fixed-rank / rank-adaptive BUG** (Ceruti, Lubich & Walach 2021; Ceruti, Lubich & Sulz,
  SINUM 61, 2023): leaves solve ``K' = F_leaf(K)`` from ``U R_iᵀ`` and take
  ``Û = orth(K1)`` (fixed) or ``orth([U0, K1])`` (adaptive); an inner node ``τ`` solves its
  Galerkin problem ``Ĉ' = F_τ(Ĉ)`` in its children's new bases from ``C̃_τ ×_j M̂_j``
  (``M̂_j = Û_jᴴ U_j^0``) and its parent takes the new basis ``orth([old, Mat_0(Ĉ(t1))ᵀ])``.
  Siblings run concurrently; a node waits for its children.
* **Parallel BUG** (Ceruti, Kusch, Lubich & Sulz, arXiv 2412.00858): every leaf K-step and
  every inner-node Galerkin step in the *old* bases run concurrently from old data; the
  augmented tensors are assembled with the old block ``C̄(t1)``, one new block per child
  (that child's update projected on its new directions) and zeros elsewhere.

A *complete* subtree (:func:`complete_nodes`: its basis spans the whole space of its sites,
e.g. a spin leaf of rank 2 or a two-spin node of rank 4) is left as it is by every variant —
any new basis spans the same space — so it has no substep, and on small trees most of the tree
is complete. The rank-adaptive and parallel steps end with :func:`truncate_tree` (root to
leaves) and a re-orthonormalisation. No S or R factor is ever inverted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import numpy as np

from tnkit import backend, linalg, lowrank
from tnkit.formats.ttn import TreeInfo, fold_t, mode_product, orthonormalize, unfold_t

Solve = Callable[[Callable, Any, float, float], Any]


def _mat0(a: Any) -> Any:
    return a.reshape(-1, a.shape[-1])


def _shape_as(m: Any, like_shape: tuple[int, ...]) -> Any:
    return m.reshape(*like_shape, m.shape[-1])


def _qr_slot(c: Any, i: int) -> tuple[Any, Any]:
    """``Mat_i(c)ᵀ = Q R``; returns (``Q`` as a tensor shaped like ``c``, ``R``)."""
    q, r = linalg.qr(unfold_t(c, i))
    return fold_t(q, tuple(c.shape), i), r


def _map(executor: Executor | None, func: Callable, items: list) -> list:
    if executor is None or len(items) < 2:
        return [func(x) for x in items]
    return list(executor.map(func, items))


class Prepared:
    """Old-state data every variant needs: old bases seen by the operator, initial tensors
    (``K0`` at leaves, ``C̃`` at inner nodes), the ``Q_i`` factors and the environments.

    Complete subtrees (:func:`complete_nodes`) have no substep, so they get no ``Q``, ``C̃``
    nor environment from above unless ``skip_complete=False``.
    """

    def __init__(
        self, info: TreeInfo, arrays: dict[str, Any], env: Any, *, skip_complete: bool = True
    ) -> None:
        self.info, self.arrays, self.env = info, arrays, env
        self.complete = complete_nodes(info, arrays) if skip_complete else set()
        ups = {}
        for x in info.order[:-1]:
            if x in info.site:
                ups[x] = env.leaf_up(x, arrays[x])
            else:
                ups[x] = env.node_up(x, arrays[x], [ups[c] for c in info.children[x]])
        self.ups = ups
        self.init = {info.root: arrays[info.root]}
        self.down = {info.root: env.root}
        self.q: dict[tuple[str, int], Any] = {}
        for x in reversed(info.inner):  # parents before children
            kids = info.children[x]
            child_ups = [ups[c] for c in kids]
            for i, ch in enumerate(kids):
                if ch in self.complete:
                    continue
                q, r = _qr_slot(self.init[x], i)
                self.q[x, i] = q
                self.down[ch] = env.child_down(x, i, q, child_ups, self.down[x])
                a = arrays[ch]
                self.init[ch] = a @ r.T if ch in info.site else mode_product(a, r, a.ndim - 1)


def complete_nodes(info: TreeInfo, arrays: dict[str, Any]) -> set[str]:
    """Non-root nodes whose subtree basis spans the whole space of its sites: a leaf with
    ``r >= n``, an inner node whose children are complete and whose ``Mat_0(C)ᵀ`` is square.

    A step leaves them unchanged: the augmented (or new) basis spans the same space, so the
    BUG update is the identity (``M̂ = I``) and their substeps are skipped.
    """
    out: set[str] = set()
    for x in info.order[:-1]:
        a = arrays[x]
        if x in info.site:
            if a.shape[1] >= a.shape[0]:
                out.add(x)
        elif all(c in out for c in info.children[x]) and a.shape[-1] >= math.prod(a.shape[:-1]):
            out.add(x)
    return out


def sequential_step(
    info: TreeInfo,
    arrays: dict[str, Any],
    env: Any,
    solve: Solve,
    t0: float,
    h: float,
    *,
    augment: bool,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Fixed-rank (``augment=False``) or rank-adaptive BUG step, before truncation.

    Returns ``{node: array}``: new (augmented) bases and the root's Galerkin result.
    """
    prep = Prepared(info, arrays, env)
    new: dict[str, Any] = {}
    mhat: dict[str, Any] = {}
    ups: dict[str, Any] = {}

    def unchanged(x: str) -> None:  # a complete basis: kept, M̂ = I (stored as None)
        new[x], mhat[x], ups[x] = arrays[x], None, prep.ups[x]

    def leaf(x: str) -> None:
        u0 = arrays[x]
        k1 = solve(env.leaf_rhs(x, prep.down[x]), prep.init[x], t0, h)
        uh = lowrank.augmented_basis(u0, k1) if augment else lowrank.orth(k1)
        new[x], mhat[x] = uh, lowrank.ct(uh) @ u0
        ups[x] = env.leaf_up(x, uh)

    def node(x: str) -> None:
        kids = info.children[x]
        c0, old = prep.init[x], arrays[x]
        for j, ch in enumerate(kids):
            if mhat[ch] is not None:
                c0, old = mode_product(c0, mhat[ch], j), mode_product(old, mhat[ch], j)
        child_ups = [ups[c] for c in kids]
        c1 = solve(env.node_rhs(x, child_ups, prep.down[x]), c0, t0, h)
        if x == info.root:
            new[x] = c1
            return
        old_m, c1_m = _mat0(old), _mat0(c1)
        w = lowrank.augmented_basis(old_m, c1_m) if augment else lowrank.orth(c1_m)
        new[x], mhat[x] = _shape_as(w, old.shape[:-1]), lowrank.ct(w) @ old_m
        ups[x] = env.node_up(x, new[x], child_ups)

    def update(x: str) -> None:
        if x in prep.complete:
            unchanged(x)
        elif x in info.site:
            leaf(x)
        else:
            node(x)

    for level in info.levels():
        _map(executor, update, level)
    return new


def parallel_step(
    info: TreeInfo,
    arrays: dict[str, Any],
    env: Any,
    solve: Solve,
    t0: float,
    h: float,
    *,
    executor: Executor | None = None,
) -> tuple[dict[str, Any], dict[str, int]]:
    """Parallel BUG step before truncation: all substeps concurrently, then assembly.

    Returns the augmented ``{node: array}`` and the augmented dimension of every bond.
    """
    prep = Prepared(info, arrays, env)

    def substep(x: str) -> Any:
        if x in prep.complete:
            return None
        if x in info.site:
            return solve(env.leaf_rhs(x, prep.down[x]), prep.init[x], t0, h)
        child_ups = [prep.ups[c] for c in info.children[x]]
        return solve(env.node_rhs(x, child_ups, prep.down[x]), prep.init[x], t0, h)

    results = dict(zip(info.order, _map(executor, substep, list(info.order))))
    new: dict[str, Any] = {}
    block: dict[str, Any] = {}  # child's update on its new directions (r_new × r_old)
    for x in info.order:
        old = arrays[x]
        if x in prep.complete:
            new[x], block[x] = old, None
            continue
        if x in info.site:
            k1 = results[x]
            new[x] = lowrank.augmented_basis(old, k1)
            block[x] = lowrank.ct(new[x][:, old.shape[1] :]) @ k1
            continue
        c_hat = _assemble(info, x, results[x], prep, block, new)
        if x == info.root:
            new[x] = c_hat
            continue
        old_m = _mat0(pad_to(old, tuple(c_hat.shape[:-1]) + (old.shape[-1],)))
        c_m = _mat0(c_hat)
        w = lowrank.augmented_basis(old_m, c_m)
        r = old.shape[-1]
        new[x] = _shape_as(w, c_hat.shape[:-1])
        block[x] = lowrank.ct(w[:, r:]) @ c_m if w.shape[1] > r else None
    dims = {x: int(new[x].shape[-1]) for x in info.order[:-1]}
    return new, dims


def pad_to(a: Any, shape: tuple[int, ...]) -> Any:
    """``a`` zero-padded at the end of every axis to ``shape``."""
    shape = tuple(int(n) for n in shape)
    if shape == tuple(int(m) for m in a.shape):
        return a
    xp = backend.namespace(a)
    out = xp.zeros(shape, dtype=a.dtype, **backend.device_kwargs(a))
    return _set(out, tuple(slice(0, int(m)) for m in a.shape), a)


def _set(out: Any, idx: tuple, value: Any) -> Any:
    out[idx] = value
    return out


def _assemble(info: TreeInfo, x: str, c_bar: Any, prep: Prepared, block: dict, new: dict) -> Any:
    """Augmented tensor of the parallel BUG: old block ``C̄(t1)``, one new block per child."""
    kids = info.children[x]
    old_dims = [prep.arrays[c].shape[-1] for c in kids]
    new_dims = [new[c].shape[-1] for c in kids]
    out = pad_to(c_bar, tuple(new_dims) + tuple(c_bar.shape[len(kids) :]))
    for i, ch in enumerate(kids):
        if block.get(ch) is None:
            continue
        part = mode_product(prep.q[x, i], block[ch], i)
        idx = tuple(
            slice(old_dims[j], new_dims[j]) if j == i else slice(0, old_dims[j])
            for j in range(len(kids))
        )
        out = _set(out, idx, part)
    return out


def truncate_tree(
    info: TreeInfo, arrays: dict[str, Any], *, max_error: float, rank_max: int | None = None
) -> dict[str, Any]:
    """Truncate every bond of an orthonormal TTN, root to leaves, then re-orthonormalise.

    At node ``τ`` with the parent-bond weights ``G`` (the singular values found one level up),
    each child bond ``i`` keeps the leading left singular vectors ``P`` of
    ``Mat_i(C_τ ×_parent G)``, dropping a Frobenius tail ``<= max_error`` (absolute) and at most
    ``rank_max`` kept; ``C_τ ← C_τ ×_i Pᴴ``, the child's basis ``← ·P``, its weights ``Σ_kept``.
    A bond that keeps every direction is not rotated (``P`` is unitary: ``C_τ ×_i Pᴴ`` and
    ``·P`` cancel; the child's weighted tensor is ``·(PΣ)``). The leaves-to-root QR sweep then
    skips the nodes that are still orthonormal: the leaves (``U P``) and every node whose child
    bonds all kept their dimension (``(⊗ Pᵢᴴ) Mat_0(C)ᵀ P_parent`` with unitary ``Pᵢ``).
    """
    out = dict(arrays)
    weighted: dict[str, Any] = {}  # C_x ×_parent G for the inner nodes
    kept: set[str] = set()  # nodes whose bond kept every direction (not rotated)
    complete = complete_nodes(info, arrays)
    for level in reversed(info.levels()[1:]):  # inner nodes by height: parents first
        cws = {x: out[x] if x == info.root else weighted[x] for x in level}
        svds = _svds(
            {(x, i): unfold_t(cws[x], i).T for x, i in _first_bonds(info, level, complete)}
        )
        for x in level:
            c, cw, fresh = out[x], cws[x], True
            for i, ch in enumerate(info.children[x]):
                hit = svds.get((x, i)) if fresh else None
                u, s = hit if hit is not None else _svds({0: unfold_t(cw, i).T})[0]
                k = _bond_rank(s, max_error, rank_max)
                child, leaf = out[ch], ch in info.site
                if k == child.shape[-1]:
                    kept.add(ch)
                    if not leaf:
                        weighted[ch] = mode_product(child, (u * s).T, child.ndim - 1)
                    continue
                p = u[:, :k]
                ph = lowrank.ct(p)
                c, cw, fresh = mode_product(c, ph, i), mode_product(cw, ph, i), False
                out[ch] = child @ p if leaf else mode_product(child, p.T, child.ndim - 1)
                if not leaf:
                    weighted[ch] = out[ch] * s[:k]  # weights act on the last (parent) axis
            out[x] = c
    still = {x for x in info.order[:-1] if all(c in kept for c in info.children[x])}
    return orthonormalize(info, out, skip=still)


def _first_bonds(info: TreeInfo, level: list[str], complete: set[str]) -> list[tuple[str, int]]:
    """The child bonds ``(x, i)`` of ``level`` whose SVD is known before any bond is cut: cutting
    bond ``i`` changes ``C_x`` and so the later bonds of ``x``. A complete child was not
    augmented and usually keeps its rank; the first other child usually is cut."""
    out = []
    for x in level:
        for i, ch in enumerate(info.children[x]):
            out.append((x, i))
            if ch not in complete:
                break
    return out


def _svds(mats: dict[Any, Any]) -> dict[Any, tuple[Any, Any]]:
    """``(U, s)`` of every matrix in ``mats``: one batched SVD per shape (the bonds of one tree
    level are independent, and a LAPACK call costs far more than its tiny matrix)."""
    groups: dict[tuple, list] = {}
    for key, m in mats.items():
        groups.setdefault(tuple(m.shape), []).append(key)
    out = {}
    for keys in groups.values():
        xp = backend.namespace(mats[keys[0]])
        u, s, _ = xp.linalg.svd(xp.stack([mats[k] for k in keys]), full_matrices=False)
        out.update({k: (u[j], s[j]) for j, k in enumerate(keys)})
    return out


def _bond_rank(s: Any, max_error: float, rank_max: int | None) -> int:
    """The kept rank of a bond with singular values ``s`` (:func:`tnkit.linalg.rank_for_error`,
    capped by ``rank_max``), from one copy of ``s`` on the host."""
    s = backend.to_numpy(s)
    # the smallest value alone exceeds the error budget: nothing can be dropped
    k = s.shape[0] if s[-1] > max_error else linalg.rank_for_error(s, max_error)
    return min(k, rank_max or k)


def padded_state(info: TreeInfo, augmented: dict[str, Any], old_root: Any) -> dict[str, Any]:
    """The old state written in the augmented bases (root zero-padded): same tensor, higher rank."""
    out = {x: augmented[x] for x in info.order[:-1]}
    dims = [augmented[c].shape[-1] for c in info.children[info.root]]
    out[info.root] = pad_to(old_root, dims)
    return out


def new_block_mask(
    old: dict[str, Any], new: dict[str, Any], kids: tuple[str, ...], shape: tuple[int, ...]
) -> np.ndarray:
    """0/1 mask over a node tensor of ``shape``: 1 on the blocks that are new in two or more
    children (the blocks the parallel BUG sets to zero)."""
    count = np.zeros(tuple(int(n) for n in shape[: len(kids)]), dtype=int)
    for j, c in enumerate(kids):
        is_new = np.arange(int(new[c].shape[-1])) >= int(old[c].shape[-1])
        count = count + is_new.reshape((1,) * j + (-1,) + (1,) * (len(kids) - j - 1))
    mask = (count >= 2).astype(float)
    return mask.reshape(mask.shape + (1,) * (len(shape) - len(kids)))
