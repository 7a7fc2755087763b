"""Tree tensor network (TTN): orthonormal leaf bases and connecting tensors on a tree.

The tree is a nested tuple of leaf (mode) indices, e.g. ``((0, 1), (2, 3))``. Leaf ``k`` holds
a basis ``U_k`` (n_k × r_k); every inner node ``τ`` with children ``τ_1..τ_m`` holds a
connecting tensor ``C_τ`` (r_1, ..., r_m, r_τ) — **parent axis last** — and represents

.. math::  U_τ = (U_{τ_1} ⊗ \\cdots ⊗ U_{τ_m}) \\, \\mathrm{Mat}_0(C_τ)^T ,
           \\qquad  X = U_{root}  \\;(r_{root} = 1)

(Hackbusch & Kühn 2009; Ceruti, Lubich & Walach, SINUM 2021). The root stores no parent axis.
Tucker is the depth-one tree ``(0, 1, ..., N-1)``; a low-rank matrix ``U S Vᴴ`` is ``(0, 1)``.

Node names: ``"leaf{k}"`` for mode ``k`` (legs ``("i{k}", "b:leaf{k}")``) and ``"node"``
followed by the child path for inner nodes (``"node"`` is the root, ``"node0"``, ``"node0.1"``
...); the bond above node ``x`` is labelled ``"b:x"``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .. import backend, checks, io, linalg
from ._base import Format, check_arrays

Tree = tuple


@dataclass(frozen=True)
class TreeInfo:
    """The structure of a tree: node names, parents, children and the modes below each node."""

    tree: Tree
    order: tuple[str, ...]  # post-order: children before parents, root last
    children: Mapping[str, tuple[str, ...]]
    parent: Mapping[str, str | None]
    sites: Mapping[str, tuple[int, ...]]  # modes below each node, in tree order
    site: Mapping[str, int]  # leaf name -> mode
    height: Mapping[str, int]  # 0 for leaves

    @property
    def root(self) -> str:
        return self.order[-1]

    @property
    def n_modes(self) -> int:
        return len(self.sites[self.root])

    @property
    def inner(self) -> tuple[str, ...]:
        """Inner nodes in post-order."""
        return tuple(x for x in self.order if x not in self.site)

    def levels(self) -> list[list[str]]:
        """Nodes grouped by height (leaves first); a group only depends on lower groups."""
        top = max(self.height.values())
        return [[x for x in self.order if self.height[x] == h] for h in range(top + 1)]


def normalize_tree(tree: Any, n_modes: int | None = None) -> Tree:
    """Validate a nested-tuple tree spec and return it as nested tuples of ints."""

    def conv(t: Any) -> Any:
        if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
            return int(t)
        if isinstance(t, (tuple, list)):
            if len(t) < 2:
                raise ValueError(f"tree: every inner node needs at least 2 children, got {t!r}")
            return tuple(conv(c) for c in t)
        raise TypeError(f"tree must be nested tuples of mode indices, got element {t!r}")

    if not isinstance(tree, (tuple, list)):
        raise TypeError(f"tree must be a nested tuple of mode indices, got {tree!r}")
    out = conv(tree)
    leaves = _leaves(out)
    n = len(leaves) if n_modes is None else n_modes
    if sorted(leaves) != list(range(n)):
        raise ValueError(
            f"tree {out!r} must contain every mode 0..{n - 1} exactly once, got leaves {leaves}"
        )
    return out


def _leaves(t: Any) -> list[int]:
    return [t] if isinstance(t, int) else [x for c in t for x in _leaves(c)]


@lru_cache(maxsize=256)
def tree_info(tree: Tree) -> TreeInfo:
    """:class:`TreeInfo` of a validated tree (cached)."""
    order: list[str] = []
    children: dict[str, tuple[str, ...]] = {}
    parent: dict[str, str | None] = {}
    sites: dict[str, tuple[int, ...]] = {}
    site: dict[str, int] = {}
    height: dict[str, int] = {}

    def walk(t: Any, name: str, up: str | None) -> None:
        parent[name] = up
        if isinstance(t, int):
            site[name], sites[name], children[name], height[name] = t, (t,), (), 0
        else:
            names = []
            for i, c in enumerate(t):
                cname = f"leaf{c}" if isinstance(c, int) else f"{name}{'.' if up else ''}{i}"
                names.append(cname)
                walk(c, cname, name)
            children[name] = tuple(names)
            sites[name] = tuple(s for c in names for s in sites[c])
            height[name] = 1 + max(height[c] for c in names)
        order.append(name)

    walk(tree, "node", None)
    return TreeInfo(tree, tuple(order), children, parent, sites, site, height)


def bond(name: str) -> str:
    """Label of the bond above node ``name``."""
    return f"b:{name}"


@io.register
class TTN(Format):
    """Tree tensor network on ``tree`` (see the module docstring).

    Parameters
    ----------
    tree : nested tuple of mode indices covering ``0..N-1`` exactly once.
    arrays : ``{node name: array}``: ``"leaf{k}"`` (n_k, r_k); inner nodes
        (r_children..., r_parent); the root (r_children...) or with a trailing axis of size 1.
    """

    def __init__(
        self,
        tree: Any,
        arrays: Mapping[str, Any],
        *,
        history: list[float] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.tree = normalize_tree(tree)
        info = tree_info(self.tree)
        if not isinstance(arrays, Mapping):
            raise TypeError(f"arrays must map node names to arrays, got {type(arrays).__name__}")
        missing = [x for x in info.order if x not in arrays]
        if missing or len(arrays) != len(info.order):
            raise ValueError(f"arrays must have exactly the nodes {list(info.order)}")
        check_arrays(list(arrays.values()), "TTN arrays")
        for k in range(info.n_modes):
            self._add(info, f"leaf{k}", arrays[f"leaf{k}"])
        for x in reversed(info.inner):
            self._add(info, x, arrays[x])
        self._init_extras(history, options)

    def _add(self, info: TreeInfo, name: str, a: Any) -> None:
        if name in info.site:
            legs = (f"i{info.site[name]}", bond(name))
        else:
            legs = tuple(bond(c) for c in info.children[name])
            if name != info.root:
                legs += (bond(name),)
            elif a.ndim == len(legs) + 1 and int(a.shape[-1]) == 1:
                a = a[..., 0]
        if a.ndim != len(legs):
            raise ValueError(f"node {name!r} must have {len(legs)} axes, got shape {a.shape}")
        self.add_node(name, a, legs)

    # ------------------------------------------------------------------ accessors
    @property
    def info(self) -> TreeInfo:
        """The tree structure (names, parents, children)."""
        return tree_info(self.tree)

    @property
    def ndim(self) -> int:
        return self.info.n_modes

    @property
    def leaves(self) -> list[Any]:
        """Leaf bases (n_k, r_k) in mode order."""
        return [self[f"leaf{k}"] for k in range(self.ndim)]

    @property
    def rank(self) -> dict[str, int]:
        """Dimension of the bond above every non-root node, by node name."""
        dims = self.leg_dims
        return {x: dims[bond(x)] for x in self.info.order[:-1]}

    @property
    def max_rank(self) -> int:
        """The largest bond dimension."""
        return max(self.rank.values())

    def node_arrays(self) -> dict[str, Any]:
        """``{node name: array}`` (a new dict; arrays shared)."""
        return {x: self[x] for x in self.info.order}

    def _saved_attrs(self) -> dict[str, Any]:
        return {**super()._saved_attrs(), "tree": _to_lists(self.tree)}

    def _restore_attrs(self, attrs: dict[str, Any]) -> None:
        super()._restore_attrs(attrs)
        self.tree = normalize_tree(attrs["tree"])

    # ------------------------------------------------------------------ algebra
    def orthonormalize(self) -> TTN:
        """Equivalent TTN with orthonormal leaves and isometric ``Mat_0(C_τ)ᵀ`` below the root.

        One QR sweep from the leaves to the root (``Mat_0(C)ᵀ = Q R``; ``R`` moves into the
        parent); bonds larger than their admissible rank shrink. The root then carries the norm.
        """
        return TTN(self.tree, orthonormalize(self.info, self.node_arrays()))

    def is_orthonormal(self, atol: float = 1e-10) -> bool:
        """True when every leaf and every non-root ``Mat_0(C_τ)ᵀ`` has orthonormal columns."""
        atol = checks.check_real(atol, "atol", low=0)
        for x in self.info.order[:-1]:
            m = _mat0(self[x])
            xp = backend.namespace(m)
            gram = backend.to_numpy(xp.conj(m.T) @ m)
            if not np.allclose(gram, np.eye(gram.shape[0]), atol=atol):
                return False
        return True

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_tensor(
        cls,
        x: Any,
        tree: Any,
        *,
        rank: int | Mapping[str, int] | None = None,
        tol: float | None = None,
    ) -> TTN:
        """Hierarchical SVD (Grasedyck 2010), leaves to root, of a dense tensor.

        Each node's bond is the leading left singular subspace of the remaining (already
        projected) tensor matricized at that node. ``tol`` is relative: each of the ``B`` bonds
        discards at most ``tol ||x||_F / sqrt(B)``, so ``||x - ttn||_F <= tol ||x||_F``.
        ``rank`` caps every bond (an int, or ``{node name: int}``).
        """
        x = backend.as_data_tensor(x, "x", min_ndim=2)
        info = tree_info(normalize_tree(tree, x.ndim))
        tol = checks.check_real(
            tol, "tol", low=0, high=1, open_low=True, open_high=True, optional=True
        )
        caps = _rank_caps(info, rank)
        xp = backend.namespace(x)
        n_bonds = len(info.order) - 1
        max_error = None
        if tol is not None:
            max_error = tol * float(xp.linalg.vector_norm(x)) / np.sqrt(n_bonds)
        z, labels, arrays = x, [f"leaf{k}" for k in range(x.ndim)], {}
        for name in info.order[:-1]:
            group = [name] if name in info.site else list(info.children[name])
            axes = [labels.index(g) for g in group]
            rest = [i for i in range(z.ndim) if i not in axes]
            zt = xp.permute_dims(z, tuple(axes + rest))
            rows = int(np.prod([zt.shape[i] for i in range(len(axes))]))
            mat = xp.reshape(zt, (rows, -1))
            method = "auto" if max_error is None else "lapack"  # randomized ignores max_error
            svd = linalg.truncated_svd(mat, rank=caps.get(name), max_error=max_error, method=method)
            u = svd.u
            arrays[name] = xp.reshape(u, tuple(zt.shape[: len(axes)]) + (u.shape[1],))
            z = xp.reshape(_ct(u) @ mat, (u.shape[1],) + tuple(zt.shape[len(axes) :]))
            labels = [name] + [labels[i] for i in rest]
        root = info.root
        arrays[root] = xp.permute_dims(z, tuple(labels.index(c) for c in info.children[root]))
        return cls(info.tree, arrays)

    @classmethod
    def random(
        cls,
        tree: Any,
        dims: Sequence[int],
        rank: int,
        *,
        seed: int | np.random.Generator | None = 0,
        dtype: str = "float64",
    ) -> TTN:
        """A random Gaussian TTN with every bond ``min(rank, admissible)`` (not orthonormal)."""
        info = tree_info(normalize_tree(tree, _n_modes(dims, "dims", tree)))
        if dtype not in backend.FLOAT_DTYPES:
            raise ValueError(f"dtype must be one of {backend.FLOAT_DTYPES}, got {dtype!r}")
        rank = checks.check_int(rank, "rank")
        for k, d in enumerate(dims):
            checks.check_int(d, f"dims[{k}]")
        rng = np.random.default_rng(checks.check_seed(seed, generator=True))
        like = np.zeros(0, dtype=dtype)
        bond: dict[str, int] = {}
        arrays: dict[str, Any] = {}
        for x in info.order:
            if x in info.site:
                shape: tuple[int, ...] = (int(dims[info.site[x]]),)
            else:
                shape = tuple(bond[c] for c in info.children[x])
            if x != info.root:
                outside = math.prod(int(d) for k, d in enumerate(dims) if k not in info.sites[x])
                bond[x] = min(int(rank), math.prod(shape), outside)
                shape += (bond[x],)
            arrays[x] = backend.random_normal(shape, like, rng)
        return cls(info.tree, arrays)

    @classmethod
    def product_state(cls, tree: Any, local_vectors: Sequence[Any], *, rank: int = 1) -> TTN:
        """The orthonormal TTN of ``⊗_k v_k``, every bond padded to ``rank`` with exact zeros.

        Leaf ``k`` is ``[v_k/|v_k|, completion]`` (min(rank, n_k) columns); every non-root
        connecting tensor is the isometry onto the first ``r_τ`` child-index combinations; the
        root holds ``prod |v_k|`` in entry ``(0, ..., 0)`` and zeros elsewhere.
        """
        vecs = [
            backend.as_data_tensor(v, f"local_vectors[{k}]") for k, v in enumerate(local_vectors)
        ]
        if any(v.ndim != 1 for v in vecs):
            raise ValueError("local_vectors must be 1-D arrays")
        info = tree_info(normalize_tree(tree, _n_modes(vecs, "local_vectors", tree)))
        rank = checks.check_int(rank, "rank")
        like = vecs[0]
        arrays: dict[str, Any] = {}
        dims: dict[str, int] = {}
        scale = 1.0
        for name in info.order:
            if name in info.site:
                v = vecs[info.site[name]]
                nv = float(np.linalg.norm(backend.to_numpy(v)))
                if nv == 0:
                    raise ValueError(f"local_vectors[{info.site[name]}] is zero")
                scale *= nv
                dims[name] = min(rank, v.shape[0], _outside(info, name, vecs))
                arrays[name] = _complete(v / nv, dims[name])
                continue
            shape = tuple(dims[c] for c in info.children[name])
            if name == info.root:
                c = np.zeros(shape)
                c[(0,) * len(shape)] = scale
            else:
                dims[name] = min(rank, math.prod(shape), _outside(info, name, vecs))
                c = np.eye(math.prod(shape), dims[name]).reshape(shape + (dims[name],))
            arrays[name] = backend.asarray_like(c, like)
        return cls(info.tree, arrays)

    @classmethod
    def from_lowrank(cls, u: Any, s: Any, v: Any) -> TTN:
        """The two-leaf TTN ``(0, 1)`` of the matrix ``u s vᴴ``."""
        xp = backend.namespace(u, s, v)
        return cls((0, 1), {"leaf0": u, "leaf1": xp.conj(v), "node": s})

    @classmethod
    def from_tucker(cls, core: Any, factors: Sequence[Any]) -> TTN:
        """The depth-one TTN ``(0, ..., N-1)`` of a Tucker tensor (core, factors)."""
        if not isinstance(factors, (list, tuple)) or len(factors) < 2:
            raise TypeError(f"factors must be a list of at least 2 matrices, got {factors!r}")
        if getattr(core, "shape", None) is None or len(core.shape) != len(factors):
            got = getattr(core, "shape", type(core).__name__)
            raise ValueError(f"core must have one axis per factor ({len(factors)}), got {got}")
        for k, f in enumerate(factors):
            if len(getattr(f, "shape", ())) != 2 or int(f.shape[1]) != int(core.shape[k]):
                raise ValueError(
                    f"factors[{k}] must have shape (n_{k}, {int(core.shape[k])}), "
                    f"got {getattr(f, 'shape', type(f).__name__)}"
                )
        arrays = {f"leaf{k}": f for k, f in enumerate(factors)}
        arrays["node"] = core
        return cls(tuple(range(len(factors))), arrays)


def _to_lists(t: Any) -> Any:
    return t if isinstance(t, int) else [_to_lists(c) for c in t]


def _ct(a: Any) -> Any:
    xp = backend.namespace(a)
    return xp.conj(a.T) if backend.is_complex(a) else a.T


def _mat0(a: Any) -> Any:
    """``Mat_0(C)ᵀ``: the array as (everything but the last axis) × (last axis)."""
    xp = backend.namespace(a)
    return xp.reshape(a, (-1, a.shape[-1]))


def _rank_caps(info: TreeInfo, rank: Any) -> dict[str, int]:
    if rank is None:
        return {}
    if isinstance(rank, Mapping):
        bad = [k for k in rank if k not in info.order[:-1]]
        if bad:
            raise ValueError(f"rank has unknown nodes {bad}; nodes are {list(info.order[:-1])}")
        items = dict(rank)
    else:
        items = {x: rank for x in info.order[:-1]}
    return {k: checks.check_int(r, f"rank of {k!r}") for k, r in items.items()}


def _n_modes(per_mode: Any, name: str, tree: Any) -> int:
    """The number of entries of ``per_mode`` (one per mode), checked against ``tree``'s
    leaves; ``ValueError`` naming ``name`` when they differ."""
    try:
        got = len(per_mode)
    except TypeError:
        raise TypeError(
            f"{name} must be a sequence, one entry per mode; got {per_mode!r}"
        ) from None
    n = len(_leaves(normalize_tree(tree)))
    if got != n:
        raise ValueError(f"{name} must have one entry per mode of tree ({n}), got {got}")
    return n


def _outside(info: TreeInfo, name: str, vecs: Sequence[Any]) -> int:
    """Product of the mode sizes outside the subtree of ``name`` (a bond's largest useful rank)."""
    inside = set(info.sites[name])
    return math.prod(int(v.shape[0]) for k, v in enumerate(vecs) if k not in inside)


def _complete(v: Any, r: int) -> Any:
    """An orthonormal (n, r) basis whose first column is the unit vector ``v``."""
    xp = backend.namespace(v)
    n = v.shape[0]
    eye = backend.asarray_like(np.eye(n), v)
    q, _ = linalg.qr(xp.concat([v[:, None], eye], axis=1))
    q = q[:, :r]
    # the QR may flip the sign/phase of the first column; restore v exactly
    return xp.concat([v[:, None], q[:, 1:]], axis=1)


def orthonormalize(
    info: TreeInfo, arrays: Mapping[str, Any], *, skip: Collection[str] = ()
) -> dict[str, Any]:
    """Leaves-to-root QR sweep on ``{name: array}``; see :meth:`TTN.orthonormalize`.

    ``skip``: nodes whose ``Mat_0(C)ᵀ`` (a leaf: its basis) the caller knows to be orthonormal.
    """
    out = dict(arrays)
    for name in info.order[:-1]:
        if name in skip:
            continue
        a = out[name]
        q, r = linalg.qr(_mat0(a))
        out[name] = q.reshape(*a.shape[:-1], q.shape[1])
        up = info.parent[name]
        axis = info.children[up].index(name)
        out[up] = mode_product(out[up], r, axis)
    return out


def mode_product(x: Any, m: Any, axis: int) -> Any:
    """``x ×_axis m``: contract ``m``'s second index with ``x``'s axis ``axis`` (kept in place).

    One batched matmul on a (pre, n, post) view — cheap for the many small tensors of a tree.
    """
    shape = tuple(x.shape)
    pre = math.prod(shape[:axis])
    post = math.prod(shape[axis + 1 :])
    out = shape[:axis] + (m.shape[0],) + shape[axis + 1 :]
    if post == 1:
        return (x.reshape(pre, shape[axis]) @ m.T).reshape(out)
    if pre == 1:
        return (m @ x.reshape(shape[axis], post)).reshape(out)
    return (m @ x.reshape(pre, shape[axis], post)).reshape(out)


def unfold_t(x: Any, axis: int) -> Any:
    """``Mat_axis(x)ᵀ``: a (rest, x.shape[axis]) matrix, rest in C order of the other axes."""
    shape = tuple(x.shape)
    pre, post = math.prod(shape[:axis]), math.prod(shape[axis + 1 :])
    if post == 1:
        return x.reshape(pre, shape[axis])
    return x.reshape(pre, shape[axis], post).swapaxes(1, 2).reshape(pre * post, shape[axis])


def fold_t(m: Any, shape: tuple[int, ...], axis: int) -> Any:
    """Inverse of :func:`unfold_t` for a (rest, k) matrix: a tensor of ``shape`` with
    ``shape[axis]`` replaced by ``k``."""
    shape = tuple(shape)
    pre, post, k = math.prod(shape[:axis]), math.prod(shape[axis + 1 :]), m.shape[1]
    out = shape[:axis] + (k,) + shape[axis + 1 :]
    if post == 1:
        return m.reshape(out)
    return m.reshape(pre, post, k).swapaxes(1, 2).reshape(out)
