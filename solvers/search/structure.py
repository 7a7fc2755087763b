"""The search space: one vertex per tensor mode, bond ranks between vertices, a mode placement.

A :class:`Structure` holds a symmetric integer matrix ``ranks`` over its vertices (rank 1
means "no edge") and a permutation ``perm`` with ``perm[v]`` = the tensor mode carried by
vertex ``v``. Two structures that give every *pair of modes* the same rank describe the same
family of networks, so equality and hashing use that mode-level matrix (:attr:`key`), and
:meth:`Structure.to_network` names nodes and legs by modes: equivalent structures build
identical networks. The parameter count is analytic (as in Li & Sun, TNGA, ICML 2020):

    n_params = sum_m  n_m * prod_{m' != m} R[m, m']  +  sum_h  prod_{m' != h} R[h, m']

The second sum runs over the ``internal`` vertices: the last K of the N+K vertices carry no
tensor mode (Hashemizadeh et al.'s "internal nodes", e.g. the core of a Tucker network or the
inner nodes of a tree). ``perm`` places modes on the first N vertices only; internal vertex
``N + j`` is node ``h{j}`` and keeps its index in :attr:`key` (internal vertices are not
matched up to relabelling). With K = 0 everything is as without internal vertices.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import tnkit as tk
from tnkit import checks

TOPOLOGIES = ("ring", "chain", "full")


class Structure:
    """Bond ranks between vertices and the mode placed on each vertex (see module docstring)."""

    __slots__ = ("ranks", "perm", "key", "internal")

    def __init__(
        self,
        ranks: Sequence[Sequence[int]],
        perm: Sequence[int] | None = None,
        internal: int = 0,
    ) -> None:
        try:
            r = np.asarray(ranks)
        except ValueError:  # ragged rows
            raise ValueError("ranks must be a square N x N matrix of integers") from None
        if r.dtype.kind not in "iuf":
            raise TypeError(f"ranks must be integers, got {r.dtype} entries")
        if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] < 1:
            raise ValueError(f"ranks must be a square N x N matrix, got shape {r.shape}")
        if r.dtype.kind not in "iu" and not np.all(r == np.round(r)):
            raise TypeError("ranks must be integers")
        r = r.astype(int)
        total = r.shape[0]
        internal = checks.check_int(internal, "internal", 0)
        if internal >= total:
            raise ValueError(
                f"internal must leave at least one mode vertex: got {internal} internal "
                f"vertices of {total}"
            )
        n = total - internal
        off = r[~np.eye(total, dtype=bool)]
        if np.any(off < 1):
            raise ValueError(f"bond ranks must be >= 1 (1 = no edge), got {off.min()}")
        if not np.array_equal(r, r.T):
            raise ValueError("ranks must be a symmetric matrix")
        if perm is None:
            perm = tuple(range(n))
        elif isinstance(perm, (str, bytes)) or not hasattr(perm, "__iter__"):
            raise TypeError(f"perm must be a sequence of vertex indices, got {perm!r}")
        else:
            perm = tuple(checks.check_int(p, f"perm[{k}]", 0) for k, p in enumerate(perm))
        if sorted(perm) != list(range(n)):
            raise ValueError(f"perm must be a permutation of 0..{n - 1}, got {perm}")
        np.fill_diagonal(r, 1)
        self.ranks = tuple(tuple(int(v) for v in row) for row in r)
        self.perm = perm
        self.internal = internal
        full = (*perm, *range(n, total))
        m = np.ones((total, total), dtype=int)
        m[np.ix_(full, full)] = r
        self.key = tuple(int(m[a, b]) for a in range(total) for b in range(a + 1, total))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_bonds(
        cls,
        n: int,
        bonds: dict[tuple[int, int], int],
        perm: Sequence[int] | None = None,
        internal: int = 0,
    ) -> Structure:
        """``n`` mode vertices and ``internal`` internal vertices (``n..n+internal-1``) with
        the given ``{(u, v): rank}`` bonds (all others rank 1)."""
        n = checks.check_int(n, "n", 1)
        total = n + checks.check_int(internal, "internal", 0)
        if not isinstance(bonds, dict):
            raise TypeError(f"bonds must be a dict {{(u, v): rank}}, got {type(bonds).__name__}")
        r = np.ones((total, total), dtype=int)
        for pair, rank in bonds.items():
            u, v = _check_pair(pair, total, "bonds")
            r[u, v] = r[v, u] = checks.check_int(rank, f"bonds[{pair!r}]", 1)
        return cls(r, perm, internal)

    @classmethod
    def topology(cls, kind: str, values: Sequence[int], perm: Sequence[int] | None = None):
        """A ``"ring"`` (bond v joins v and v+1 mod N), ``"chain"`` or ``"full"`` structure.

        ``values`` are the N ring ranks, the N-1 chain ranks, or the N(N-1)/2 upper-triangular
        ranks of a fully connected network (row by row).
        """
        values = list(values)
        n = _order_from(kind, len(values))
        pairs = topology_pairs(kind, n)
        if n < 1 or len(pairs) != len(values):
            raise ValueError(
                f"values must hold the bond ranks of a {kind} ({len(pairs)} for {n} vertices), "
                f"got {len(values)}"
            )
        return cls.from_bonds(n, dict(zip(pairs, values)), perm)

    # ------------------------------------------------------------------ properties
    @property
    def order(self) -> int:
        """Number of tensor modes N (= mode vertices)."""
        return len(self.perm)

    @property
    def n_vertices(self) -> int:
        """Number of vertices N + K (modes and internal vertices)."""
        return len(self.ranks)

    def mode_ranks(self) -> np.ndarray:
        """The rank between every pair of modes (N x N, diagonal 1); with internal vertices,
        (N + K) x (N + K): the modes first, then internal vertices ``N..N+K-1`` in order."""
        n = self.n_vertices
        m = np.ones((n, n), dtype=int)
        it = iter(self.key)
        for a in range(n):
            for b in range(a + 1, n):
                m[a, b] = m[b, a] = next(it)
        return m

    def values(self, kind: str) -> tuple[int, ...]:
        """The bond ranks along ``topology_pairs(kind, N)`` (vertex level)."""
        return tuple(self.ranks[u][v] for u, v in topology_pairs(kind, self.order))

    def n_params(self, shape: Sequence[int]) -> int:
        """Parameter count of the network on a tensor of this ``shape``."""
        shape = _check_shape(shape, self.order)
        m = self.mode_ranks()
        count = sum(int(shape[a]) * math.prod(int(v) for v in m[a]) for a in range(self.order))
        count += sum(math.prod(int(v) for v in m[h]) for h in range(self.order, self.n_vertices))
        return int(count)

    def degree(self, mode: int) -> int:
        """Number of bonds of rank > 1 at the vertex carrying ``mode`` (``N + j``: internal
        vertex ``j``)."""
        return int(np.sum(self.mode_ranks()[mode] > 1))

    def with_rank(self, u: int, v: int, rank: int) -> Structure:
        """A copy with the vertex bond (u, v) set to ``rank``."""
        u, v = _check_pair((u, v), self.n_vertices, "(u, v)")
        r = np.array(self.ranks)
        r[u, v] = r[v, u] = checks.check_int(rank, "rank", 1)
        return Structure(r, self.perm, self.internal)

    def with_perm(self, perm: Sequence[int]) -> Structure:
        """A copy with another mode placement."""
        return Structure(self.ranks, perm, self.internal)

    def split_vertex(self, v: int, moved: Sequence[int], rank: int) -> Structure:
        """A copy with a new internal vertex (the last one) that takes over the bonds of
        vertex ``v`` to the vertices ``moved`` and is joined to ``v`` by a bond of ``rank``."""
        total = self.n_vertices
        v = checks.check_int(v, "v", 0)
        moved = [checks.check_int(w, "moved", 0) for w in moved]
        if v >= total or any(w >= total or w == v for w in moved):
            raise ValueError(f"v and moved must be different vertices in 0..{total - 1}")
        r = np.ones((total + 1, total + 1), dtype=int)
        r[:total, :total] = self.ranks
        for w in moved:
            r[total, w] = r[w, total] = r[v, w]
            r[v, w] = r[w, v] = 1
        r[v, total] = r[total, v] = checks.check_int(rank, "rank", 1)
        return Structure(r, self.perm, self.internal + 1)

    def merge_vertex(self, h: int, u: int) -> Structure:
        """A copy where internal vertex ``h`` is contracted into its neighbour ``u``: ``u``
        takes ``h``'s other bonds (a vertex bonded to both gets one bond, the product of the
        two ranks) and ``h`` is removed (later internal vertices move down by one)."""
        total = self.n_vertices
        h, u = _check_pair((h, u), total, "(h, u)")
        if h < self.order:
            raise ValueError(f"h must be an internal vertex ({self.order}..{total - 1}), got {h}")
        r = np.array(self.ranks)
        for w in range(total):
            if w not in (h, u):
                r[u, w] = r[w, u] = r[u, w] * r[h, w]
        keep = [w for w in range(total) if w != h]
        return Structure(r[np.ix_(keep, keep)], self.perm, self.internal - 1)

    # ------------------------------------------------------------------ networks
    def node_name(self, index: int) -> str:
        """Node name of mode ``index`` (``n{index}``) or of internal vertex ``index - N``
        (``h{index - N}``); ``index`` counts modes first (as :meth:`mode_ranks`)."""
        return f"n{index}" if index < self.order else f"h{index - self.order}"

    def bond_label(self, a: int, b: int) -> str:
        """Label of the bond between modes/internal vertices ``a`` and ``b`` (``b{a}_{b}``
        between modes, ``b{a}_h{j}`` or ``bh{i}_h{j}`` with internal vertices)."""
        a, b = min(a, b), max(a, b)
        if b < self.order:
            return _bond(a, b)
        return f"b{self._tag(a)}_{self._tag(b)}"

    def _tag(self, index: int) -> str:
        return str(index) if index < self.order else f"h{index - self.order}"

    def legs(self, mode: int) -> tuple[str, ...]:
        """Leg labels of the node of ``mode``: its open leg, then one per bond of rank > 1
        (internal vertex ``mode - N``: only its bonds)."""
        m = self.mode_ranks()
        bonds = [
            self.bond_label(mode, b) for b in range(self.n_vertices) if b != mode and m[mode, b] > 1
        ]
        return (f"i{mode}", *bonds) if mode < self.order else tuple(bonds)

    def to_network(
        self, shape: Sequence[int], seed: int | np.random.Generator = 0, like: Any = None
    ) -> tk.TensorNetwork:
        """A network with random normal nodes ``n{mode}`` (open legs ``i0..i{N-1}`` in order),
        then the internal nodes ``h0..h{K-1}``.

        Entries have variance 1/(product of the bond ranks) so the network's norm is O(1).
        """
        shape = _check_shape(shape, self.order)
        rng = np.random.default_rng(seed)
        dims = self._dims(shape)
        net = tk.TensorNetwork()
        for index in range(self.n_vertices):
            legs = self.legs(index)
            sizes = tuple(dims[g] for g in legs)
            bonds = sizes[1:] if index < self.order else sizes
            a = rng.standard_normal(sizes) / math.sqrt(math.prod(bonds))
            a = a if like is None else tk.backend.asarray_like(a, like)
            net.add_node(self.node_name(index), a, legs)
        return net

    def _dims(self, shape: Sequence[int]) -> dict[str, int]:
        m = self.mode_ranks()
        dims = {f"i{a}": int(shape[a]) for a in range(self.order)}
        for a in range(self.n_vertices):
            for b in range(a + 1, self.n_vertices):
                dims[self.bond_label(a, b)] = int(m[a, b])
        return dims

    def embed(
        self, parent: tk.TensorNetwork, shape: Sequence[int], seed: int, noise: float = 1e-2
    ) -> tk.TensorNetwork:
        """This structure's network warm-started from ``parent`` (a network of another rank).

        Each node keeps the parent's entries in the overlapping index range; new slices are
        ``noise`` times normal entries scaled to the node's RMS (Hashemizadeh et al.'s padding).
        The network is built on the parent's backend and device, without a host sync.
        """
        net = self.to_network(shape, seed, like=parent.arrays[0])
        out = {}
        for name in net.nodes:
            child_legs = net.legs(name)
            old = parent[name]
            xp = tk.backend.namespace(old)
            old_legs = parent.legs(name)
            # drop legs the child lacks (take index 0), add the child's new legs as size 1
            index = tuple(0 if g not in child_legs else slice(None) for g in old_legs)
            old = old[index]
            kept = [g for g in old_legs if g in child_legs]
            old = xp.reshape(old, (*old.shape, *[1] * (len(child_legs) - len(kept))))
            order = kept + [g for g in child_legs if g not in kept]
            old = xp.permute_dims(old, tuple(order.index(g) for g in child_legs))
            bonds = net[name].shape[1:] if name.startswith("n") else net[name].shape
            new = net[name] * noise * rms(old) * math.sqrt(math.prod(bonds))
            overlap = tuple(slice(0, min(a, b)) for a, b in zip(old.shape, new.shape))
            new[overlap] = old[overlap]
            out[name] = new
        return net.with_arrays(out)

    # ------------------------------------------------------------------ identity and io
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Structure) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def to_json(self) -> dict:
        """A JSON-able record (``from_json`` rebuilds it); ``"internal"`` only when K > 0."""
        record = {"ranks": [list(r) for r in self.ranks], "perm": list(self.perm)}
        if self.internal:
            record["internal"] = self.internal
        return record

    @classmethod
    def from_json(cls, record: dict) -> Structure:
        """Rebuild from :meth:`to_json` (records without ``"internal"`` have K = 0)."""
        if not isinstance(record, dict) or not {"ranks", "perm"} <= set(record):
            raise ValueError(f"record must be a dict with 'ranks' and 'perm', got {record!r}")
        return cls(record["ranks"], record["perm"], record.get("internal", 0))

    def key_string(self) -> str:
        """A stable text form of :attr:`key` (for seeds and logs)."""
        if self.internal:
            return json.dumps([self.order, list(self.key), self.internal])
        return json.dumps([self.order, list(self.key)])

    def __repr__(self) -> str:
        n = self.n_vertices
        bonds = {
            (u, v): self.ranks[u][v]
            for u in range(n)
            for v in range(u + 1, n)
            if self.ranks[u][v] > 1
        }
        extra = f", internal={self.internal}" if self.internal else ""
        return f"Structure(bonds={bonds}, perm={list(self.perm)}{extra})"


def rms(a: Any) -> Any:
    """The root mean square of ``a``'s entries (1 where they are all zero), as a 0-d array on
    ``a``'s device."""
    xp = tk.backend.namespace(a)
    value = xp.sqrt(xp.mean(a**2))
    return xp.where(value > 0, value, xp.ones_like(value))


def topology_pairs(kind: str, n: int) -> list[tuple[int, int]]:
    """Vertex pairs carrying the rank variables of a ``"ring"``, ``"chain"`` or ``"full"``."""
    if kind == "ring":
        return [(v, (v + 1) % n) for v in range(n)] if n > 2 else [(0, 1)][: n - 1]
    if kind == "chain":
        return [(v, v + 1) for v in range(n - 1)]
    if kind == "full":
        return [(u, v) for u in range(n) for v in range(u + 1, n)]
    raise ValueError(f"topology must be one of {TOPOLOGIES}, got {kind!r}")


def _order_from(kind: str, count: int) -> int:
    if kind == "ring":
        return count
    if kind == "chain":
        return count + 1
    if kind == "full":
        return int(round((1 + math.sqrt(1 + 8 * count)) / 2))
    raise ValueError(f"topology must be one of {TOPOLOGIES}, got {kind!r}")


def _bond(a: int, b: int) -> str:
    a, b = min(a, b), max(a, b)
    return f"b{a}_{b}"


def _check_pair(pair: Any, n: int, what: str) -> tuple[int, int]:
    """A vertex pair ``(u, v)`` with ``u != v`` in ``0..n-1``; raises naming ``what``."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"{what}: a bond is a pair of vertices (u, v), got {pair!r}")
    u, v = (checks.check_int(p, what, 0) for p in pair)
    if u == v or u >= n or v >= n:
        raise ValueError(f"{what}: ({u}, {v}) is not a pair of different vertices in 0..{n - 1}")
    return u, v


def _check_shape(shape: Sequence[int], n: int) -> tuple[int, ...]:
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"shape must be a sequence of {n} positive integers, got {shape!r}")
    shape = tuple(checks.check_int(d, "shape", 1) for d in shape)
    if len(shape) != n or any(d < 1 for d in shape):
        raise ValueError(f"shape must have {n} positive dimensions, got {shape}")
    return shape
