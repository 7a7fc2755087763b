"""Projected right-hand sides on a tree: environments of an operator w.r.t. TTN bases.

For child ``i`` of node ``τ`` write ``C_τ = Q_i ×_i R_iᵀ`` with ``Q_i`` orthonormal on all modes
but ``i`` (QR of ``Mat_i(C_τ)ᵀ``). The subtree problem of ``τ_i`` is
``F_τi(Y) = π_iᴴ F(π_i Y)`` with the prolongation ``π_i`` by ``Q_i`` and the old bases of the
siblings and of everything above ``τ`` (Ceruti, Lubich & Walach, SINUM 2021, §4). For a sum of
products ``F = Σ_k c_k ⊗_l A_k^(l)`` this restricted operator is again a sum of products on the
subtree, with one extra factor per term on the parent bond:

    ``F_τ(Y) = Σ_k c_k (⊗_{l ∈ τ} A_k^(l)) Y ×_parent E_k^τ``,
    ``E_k^τ = restᴴ A_k^(outside) rest``  (an r_τ × r_τ "environment" matrix).

Bottom-up, ``M_k^τ = U_τᴴ A_k^(τ) U_τ`` is the term projected on the subtree basis. Terms that
lie wholly inside (outside) a subtree are summed into one matrix, so a node only carries the
terms that cross its bond; every node costs O(terms crossing it), and a chain Hamiltonian on a
tree costs O(N) per sweep. Two implementations share one interface:
:class:`SumOfProductsEnv` (the fast path) and :class:`DenseEnv` (any dense callable, small N).

Conventions: matrices act on the *ket* index, ``(X ×_a M)[.., i, ..] = Σ_j M[i, j] X[.., j, ..]``;
bases are orthonormal; the root has no parent axis.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import opt_einsum

from tnkit import backend, contract
from tnkit.formats.ttn import TreeInfo, mode_product, unfold_t

from .operators import SumOfProducts


class Up(NamedTuple):
    """A subtree basis seen by the operator: the summed inside terms and each crossing term."""

    inside: Any  # (r, r) or None
    cross: dict[int, Any]


class Down(NamedTuple):
    """The environment of a subtree: summed outside terms and each crossing term."""

    outside: Any  # (r, r) or None
    cross: dict[int, Any]


def apply_local(x: Any, terms: list[tuple[complex, dict[int, Any]]]) -> Any:
    """``Σ c · x ×_{a} M_a`` over ``terms = [(c, {axis: M})]`` (zero when empty)."""
    out = None
    for coef, factors in terms:
        y = x
        for axis, m in factors.items():
            y = mode_product(y, m, axis)
        if coef != 1:
            y = y * coef
        out = y if out is None else out + y
    return x * 0 if out is None else out


def bracket(bra: Any, ket: Any, axis: int) -> Any:
    """``E[a, b] = Σ_rest conj(bra[.., a, ..]) ket[.., b, ..]`` with ``a, b`` on ``axis``."""
    return unfold_t(bra, axis).conj().T @ unfold_t(ket, axis)


class SumOfProductsEnv:
    """Environments of a :class:`SumOfProducts` on the tree ``info`` (see the module doc)."""

    root = Down(None, {})

    def __init__(self, op: SumOfProducts, info: TreeInfo, like: Any) -> None:
        self.op, self.info = op, info
        self.coef = [t.coef for t in op.terms]
        self.factor = [
            {s: backend.asarray_like(backend.to_numpy(m), like) for s, m in zip(t.sites, t.mats)}
            for t in op.terms
        ]
        term_sites = [set(t.sites) for t in op.terms]
        self.touch = {x: set() for x in info.order}
        self.cross_up = {}
        for x in info.order:
            inside = set(info.sites[x])
            for k, ts in enumerate(term_sites):
                if ts & inside:
                    self.touch[x].add(k)
            self.cross_up[x] = sorted(k for k in self.touch[x] if not term_sites[k] <= inside)
        self.leaf_in = {}
        for x, s in info.site.items():
            single = [k for k in self.touch[x] if term_sites[k] == {s}]
            mats = [self.coef[k] * self.factor[k][s] for k in single]
            self.leaf_in[x] = sum(mats[1:], mats[0]) if mats else None
        # multi-slot terms at each inner node: (k, child axes touched, touches outside)
        self.multi = {}
        for x in info.inner:
            rows = []
            for k in sorted(self.touch[x]):
                axes = tuple(j for j, c in enumerate(info.children[x]) if k in self.touch[c])
                out = k in self.cross_up[x]
                if len(axes) + out >= 2:
                    rows.append((k, axes, out))
            self.multi[x] = rows
        self._ups: dict[str, tuple[tuple, Up]] = {}  # node -> (its inputs, its Up)

    # ---------------------------------------------------------------- bottom-up
    def _cached(self, x: str, inputs: tuple) -> Up | None:
        """The bottom-up data of ``x`` when computed last from the same arrays (``is``): a
        complete subtree (:func:`solvers.bug.tree.complete_nodes`) is left as it is by a step."""
        hit = self._ups.get(x)
        if hit is not None and len(hit[0]) == len(inputs):
            if all(a is b for a, b in zip(hit[0], inputs)):
                return hit[1]
        return None

    def leaf_up(self, x: Any, u: Any) -> Up:
        """The terms projected on the leaf basis ``u``."""
        up = self._cached(x, (u,))
        if up is None:
            s = self.info.site[x]
            uh = u.conj().T
            inside = None if self.leaf_in[x] is None else uh @ (self.leaf_in[x] @ u)
            up = Up(inside, {k: uh @ (self.factor[k][s] @ u) for k in self.cross_up[x]})
            self._ups[x] = ((u,), up)
        return up

    def node_up(self, x: str, w: Any, ups: list[Up]) -> Up:
        """The terms projected on the basis of ``x``: ``w`` over its children's ``ups``."""
        up = self._cached(x, (w, *ups))
        if up is None:
            up = self._node_up(x, w, ups)
            self._ups[x] = ((w, *ups), up)
        return up

    def _node_up(self, x: str, w: Any, ups: list[Up]) -> Up:
        last = len(ups)
        inside_terms = [(1, {j: up.inside}) for j, up in enumerate(ups) if up.inside is not None]
        inside_terms += [
            (self.coef[k], {j: ups[j].cross[k] for j in axes})
            for k, axes, out in self.multi[x]
            if not out
        ]
        inside = bracket(w, apply_local(w, inside_terms), last) if inside_terms else None
        cross = {}
        for k in self.cross_up[x]:
            axes = {j: up.cross[k] for j, up in enumerate(ups) if k in up.cross}
            cross[k] = bracket(w, apply_local(w, [(1, axes)]), last)
        return Up(inside, cross)

    # ---------------------------------------------------------------- top-down
    def child_down(self, x: str, i: int, q: Any, ups: list[Up], down: Down) -> Down:
        p = len(ups)
        terms = [
            (1, {j: up.inside}) for j, up in enumerate(ups) if j != i and up.inside is not None
        ]
        if down.outside is not None:
            terms.append((1, {p: down.outside}))
        cross = {}
        for k, axes, out in self.multi[x]:
            factors = {j: ups[j].cross[k] for j in axes if j != i}
            if out:
                factors[p] = down.cross[k]
            if i in axes:
                cross[k] = bracket(q, apply_local(q, [(1, factors)]), i)
            else:
                terms.append((self.coef[k], factors))
        outside = bracket(q, apply_local(q, terms), i) if terms else None
        return Down(outside, cross)

    # ---------------------------------------------------------------- right-hand sides
    def leaf_rhs(self, x: str, down: Down) -> Any:
        s = self.info.site[x]
        terms = []
        if self.leaf_in[x] is not None:
            terms.append((1, {0: self.leaf_in[x]}))
        if down.outside is not None:
            terms.append((1, {1: down.outside}))
        terms += [(self.coef[k], {0: self.factor[k][s], 1: e}) for k, e in down.cross.items()]
        return lambda t, y: apply_local(y, terms)

    def node_terms(self, x: str, ups: list[Up], down: Down) -> list:
        p = len(ups)
        terms = [(1, {j: up.inside}) for j, up in enumerate(ups) if up.inside is not None]
        if down.outside is not None:
            terms.append((1, {p: down.outside}))
        for k, axes, out in self.multi[x]:
            factors = {j: ups[j].cross[k] for j in axes}
            if out:
                factors[p] = down.cross[k]
            terms.append((self.coef[k], factors))
        return terms

    def node_rhs(self, x: str, ups: list[Up], down: Down) -> Any:
        terms = self.node_terms(x, ups, down)
        return lambda t, y: apply_local(y, terms)


class DenseBasis(NamedTuple):
    """A dense subtree basis (n_sites..., r), or the complement ``rest`` (n_outside..., r)."""

    sites: tuple[int, ...]
    basis: Any


class DenseEnv:
    """Environments for a dense callable ``F(t, Y)``: subtree bases kept as dense tensors.

    Bottom-up data is the subtree basis, top-down data the orthonormal complement basis
    ``rest``; the projected problems are ``πᴴ F(π ·)`` formed densely (small problems only).
    """

    root = None

    def __init__(self, op: Any, info: TreeInfo, like: Any) -> None:
        self.op, self.info = op, info

    def leaf_up(self, x: str, u: Any) -> DenseBasis:
        return DenseBasis((self.info.site[x],), u)

    def node_up(self, x: str, w: Any, ups: list[DenseBasis]) -> DenseBasis:
        sites = tuple(s for up in ups for s in up.sites)
        return DenseBasis(sites, _join(w, [up.basis for up in ups]))

    def child_down(
        self, x: str, i: int, q: Any, ups: list[DenseBasis], down: DenseBasis | None
    ) -> DenseBasis:
        others = [up for j, up in enumerate(ups) if j != i] + ([down] if down else [])
        sites = tuple(s for up in others for s in up.sites)
        return DenseBasis(sites, _join_open(q, [up.basis for up in others], open_axis=i))

    def _apply(self, t: float, sites: tuple[int, ...], full: Any) -> Any:
        """``F`` on a dense tensor whose axes are ``sites`` (any order); same axis order back."""
        xp = backend.namespace(full)
        order = tuple(int(a) for a in np.argsort(sites))
        f = self.op(t, xp.permute_dims(full, order))
        return xp.permute_dims(f, tuple(int(a) for a in np.argsort(order)))

    def leaf_rhs(self, x: str, down: DenseBasis) -> Any:
        sites = (self.info.site[x],) + down.sites

        def rhs(t: float, k: Any) -> Any:
            full = _join(k, [], tail=down.basis)
            return _project(self._apply(t, sites, full), [], down.basis, keep_first=True)

        return rhs

    def node_rhs(self, x: str, ups: list[DenseBasis], down: DenseBasis | None) -> Any:
        bases = [up.basis for up in ups] + ([down.basis] if down else [])
        sites = tuple(s for up in ups for s in up.sites) + (down.sites if down else ())

        def rhs(t: float, c: Any) -> Any:
            return _project(self._apply(t, sites, _join(c, bases)), bases, None)

        return rhs


# ------------------------------------------------------------------ dense helpers
def _sym(i: int) -> str:
    return opt_einsum.get_symbol(i)


def _join(core: Any, bases: list[Any], tail: Any = None) -> Any:
    """Contract axis ``j`` of ``core`` with the last axis of ``bases[j]`` (physical axes out).

    With ``tail`` (a leaf K-step): ``core`` is K (n, r) and ``tail`` the rest (outside..., r);
    the result has axes (n, outside...).
    """
    if tail is not None:
        out = "".join(_sym(2 + j) for j in range(tail.ndim - 1))
        return contract.einsum(f"a{_sym(1)},{out}{_sym(1)}->a{out}", core, tail)
    counter = iter(range(core.ndim, 10_000))
    core_lab = [_sym(j) for j in range(core.ndim)]
    ops, out = [], []
    for j, b in enumerate(bases):
        phys = [_sym(next(counter)) for _ in range(b.ndim - 1)]
        ops.append("".join(phys) + core_lab[j])
        out += phys
    out += core_lab[len(bases) :]
    eq = "".join(core_lab) + "," + ",".join(ops) + "->" + "".join(out)
    return contract.einsum(eq, core, *bases)


def _join_open(q: Any, bases: list[Any], open_axis: int) -> Any:
    """Contract ``q``'s axes (except ``open_axis``) with the bases, in order; open axis last."""
    axes = [a for a in range(q.ndim) if a != open_axis]
    counter = iter(range(q.ndim, 10_000))
    q_lab = [_sym(j) for j in range(q.ndim)]
    ops, out = [], []
    for a, b in zip(axes, bases):
        phys = [_sym(next(counter)) for _ in range(b.ndim - 1)]
        ops.append("".join(phys) + q_lab[a])
        out += phys
    eq = "".join(q_lab) + "," + ",".join(ops) + "->" + "".join(out) + q_lab[open_axis]
    return contract.einsum(eq, q, *bases)


def _project(f: Any, bases: list[Any], rest: Any, keep_first: bool = False) -> Any:
    """Contract ``f``'s physical axes with conj of each basis (and of ``rest``), in order.

    ``keep_first``: ``f``'s first axis (a leaf's mode) stays open, in front.
    """
    xp = backend.namespace(f)
    allb = bases + ([rest] if rest is not None else [])
    counter = iter(range(1, 10_000))
    f_lab, ops, out = ([_sym(0)], [], [_sym(0)]) if keep_first else ([], [], [])
    for b in allb:
        phys = [_sym(next(counter)) for _ in range(b.ndim - 1)]
        r = _sym(next(counter))
        f_lab += phys
        ops.append("".join(phys) + r)
        out.append(r)
    eq = "".join(f_lab) + "," + ",".join(ops) + "->" + "".join(out)
    return contract.einsum(eq, f, *(xp.conj(b) for b in allb))


def environments(op: Any, info: TreeInfo, like: Any) -> Any:
    """The environment implementation for ``op`` (sum of products or dense callable)."""
    if isinstance(op, SumOfProducts):
        return SumOfProductsEnv(op, info, like)
    return DenseEnv(op, info, like)


def expectation(op: Any, info: TreeInfo, arrays: dict[str, Any], env: Any = None) -> complex:
    """``⟨Y, op Y⟩`` for an orthonormal TTN ``{node: array}`` (bottom-up projections).

    ``env``: the environments of ``op`` on this tree, when the caller keeps them.
    """
    env = env or environments(op, info, arrays[info.root])
    ups: dict[str, Any] = {}
    for x in info.order[:-1]:
        if x in info.site:
            ups[x] = env.leaf_up(x, arrays[x])
        else:
            ups[x] = env.node_up(x, arrays[x], [ups[c] for c in info.children[x]])
    root = arrays[info.root]
    f = env.node_rhs(info.root, [ups[c] for c in info.children[info.root]], env.root)(0.0, root)
    xp = backend.namespace(root)
    return complex(xp.sum(xp.conj(root) * f))
