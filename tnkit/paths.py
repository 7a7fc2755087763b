"""Contraction-path search for large networks: random-greedy start + subtree reconfiguration.

A contraction path is a binary tree over the input tensors. Its cost is the sum over internal
nodes of ``prod(dims of legs(A) ∪ legs(B))`` — the flops of each pairwise contraction — where
``legs(S)`` are the labels of the tensors in ``S`` that also occur outside ``S`` or in the output.

The search (after Gray & Kourtis 2021, "Hyper-optimized tensor network contraction", §IV.C):

1. a sampled random-greedy tree (``opt_einsum.RandomGreedy``) for part of the time budget;
2. **subtree reconfiguration**: for every internal node, cut its subtree at up to ``k``
   sub-intermediates (expanding the largest first) and replace the part above the cut by the
   cheapest binary tree over those ``k`` items, found exactly by dynamic programming over subsets
   (O(3^k)); sweep the whole tree, bottom-up, until a sweep gains nothing or time runs out;
3. time left over: more rounds of 1-2 from new random-greedy starts; the cheapest tree wins.

:class:`ReconfiguredPath` plugs into opt_einsum as a ``PathOptimizer``.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from dataclasses import dataclass

import opt_einsum
from opt_einsum.paths import PathOptimizer


@dataclass(frozen=True)
class _Node:
    """A subtree: its children (None for a leaf), leaf index, open legs and their leaf counts."""

    left: _Node | None
    right: _Node | None
    leaf: int
    legs: frozenset
    counts: tuple  # (label, occurrences inside this subtree) for each label in legs
    cost: float  # total cost of the contractions inside this subtree


class _Costs:
    """Label sizes, total occurrences and the output, to merge subtrees and price merges."""

    def __init__(self, inputs: list[frozenset], output: frozenset, size: dict) -> None:
        self.size = size
        self.output = output
        self.total: dict = {}
        for legs in inputs:
            for g in legs:
                self.total[g] = self.total.get(g, 0) + 1

    def leaf(self, i: int, legs: frozenset) -> _Node:
        counts = tuple((g, 1) for g in legs)
        return self.combine_counts(None, None, i, dict(counts), 0.0)

    def combine_counts(self, left, right, leaf, counts: dict, cost: float) -> _Node:
        kept = {g: c for g, c in counts.items() if c < self.total[g] or g in self.output}
        return _Node(left, right, leaf, frozenset(kept), tuple(kept.items()), cost)

    def merge_cost(self, a: _Node, b: _Node) -> float:
        return float(math.prod(self.size[g] for g in a.legs | b.legs))

    def merge(self, a: _Node, b: _Node) -> _Node:
        counts = dict(a.counts)
        for g, c in b.counts:
            counts[g] = counts.get(g, 0) + c
        return self.combine_counts(a, b, -1, counts, a.cost + b.cost + self.merge_cost(a, b))


def _tree_from_path(costs: _Costs, leaves: list[_Node], path: list[tuple[int, ...]]) -> _Node:
    current = list(leaves)
    for step in path:
        picked = [current[i] for i in step]
        for i in sorted(step, reverse=True):
            current.pop(i)
        node = picked[0]
        for other in picked[1:]:
            node = costs.merge(node, other)
        current.append(node)
    while len(current) > 1:  # disconnected pieces left by the path: outer products
        b, a = current.pop(), current.pop()
        current.append(costs.merge(a, b))
    return current[0]


def _path_from_tree(root: _Node, n_inputs: int) -> list[tuple[int, int]]:
    current: list[object] = list(range(n_inputs))
    path: list[tuple[int, int]] = []

    def visit(node: _Node) -> object:
        if node.left is None:
            return node.leaf
        a, b = visit(node.left), visit(node.right)
        i, j = sorted((current.index(a), current.index(b)))
        path.append((i, j))
        current.pop(j)
        current.pop(i)
        current.append(node)
        return node

    visit(root)
    return path


def _frontier(node: _Node, k: int) -> list[_Node]:
    items = [node]
    while len(items) < k:
        inner = [x for x in items if x.left is not None]
        if not inner:
            break
        biggest = max(inner, key=lambda x: x.cost)
        items.remove(biggest)
        items += [biggest.left, biggest.right]
    return items


def _best_tree(costs: _Costs, items: list[_Node]) -> _Node:
    """Cheapest binary tree over ``items`` by dynamic programming over subsets.

    The inner loop runs on integers: the open legs of every subset are a bitset over the
    labels the items carry, and the price of a merge (the product of the sizes of the union
    of both sides' legs) is read from per-chunk product tables.
    """
    n = len(items)
    labels = sorted({g for x in items for g in x.legs}, key=str)
    bit = {g: 1 << i for i, g in enumerate(labels)}
    outside = [costs.total[g] for g in labels]  # occurrences in the whole network
    keep_always = sum(bit[g] for g in labels if g in costs.output)
    sizes = [costs.size[g] for g in labels]
    counts = [dict(x.counts) for x in items]
    legs, cost, split = [0] * (1 << n), [0.0] * (1 << n), [0] * (1 << n)
    inside: list[list[int]] = [[0] * len(labels) for _ in range(1 << n)]
    for i, x in enumerate(items):
        m = 1 << i
        legs[m], cost[m] = sum(bit[g] for g in x.legs), x.cost
        inside[m] = [counts[i].get(g, 0) for g in labels]
    # product of the sizes of a bitset's labels, from tables of 6-bit chunks:
    # table[m] = table[m without its lowest bit] * size of that bit's label
    chunks = []
    for c in range(0, len(sizes), 6):
        table = [1.0] * 64
        for m in range(1, 64):
            j = (m & -m).bit_length() - 1
            table[m] = table[m & (m - 1)] * (sizes[c + j] if c + j < len(sizes) else 1.0)
        chunks.append(table)

    def merge_price(bits: int) -> float:
        p = 1.0
        for table in chunks:
            p *= table[bits & 63]
            bits >>= 6
        return p

    for mask in range(1, 1 << n):
        low = mask & -mask
        if mask == low:
            continue
        rest = mask ^ low
        inside[mask] = [u + v for u, v in zip(inside[low], inside[rest])]
        legs[mask] = keep_always & (legs[low] | legs[rest])
        for j, (c, t) in enumerate(zip(inside[mask], outside)):
            if 0 < c < t:
                legs[mask] |= 1 << j
        best, best_a = math.inf, 0
        sub = rest
        while True:  # submasks a of mask that contain the lowest bit
            a_ = sub | low
            b_ = mask ^ a_
            if b_:
                c_ = cost[a_] + cost[b_] + merge_price(legs[a_] | legs[b_])
                if c_ < best:
                    best, best_a = c_, a_
            if sub == 0:
                break
            sub = (sub - 1) & rest
        cost[mask], split[mask] = best, best_a

    def build(mask: int) -> _Node:
        if mask & (mask - 1) == 0:
            return items[mask.bit_length() - 1]
        a_ = split[mask]
        return costs.merge(build(a_), build(mask ^ a_))

    return build((1 << n) - 1)


def reconfigure(costs: _Costs, root: _Node, k: int, deadline: float) -> _Node:
    """One bottom-up sweep of subtree reconfiguration; returns the (possibly) cheaper tree."""

    def visit(node: _Node) -> _Node:
        if node.left is None:
            return node
        if time.perf_counter() < deadline:
            node = costs.merge(visit(node.left), visit(node.right))
        items = _frontier(node, k)
        if len(items) < 3:
            return node
        candidate = _best_tree(costs, items)
        return candidate if candidate.cost < node.cost * (1 - 1e-12) else node

    return visit(root)


class ReconfiguredPath(PathOptimizer):
    """opt_einsum path optimizer: random-greedy for ``greedy_share`` of ``max_time``, then
    subtree reconfiguration with subtrees of ``k`` items until no sweep gains (see module
    docstring); time left over goes to further rounds from new random-greedy starts (sampled
    at other temperatures, a third of the first round's sampling time each), keeping the
    cheapest tree."""

    TEMPERATURES = (1.0, 0.3, 3.0, 0.1)

    def __init__(self, max_time: float = 1.0, k: int = 7, greedy_share: float = 0.3) -> None:
        self.max_time, self.k, self.greedy_share = max_time, k, greedy_share

    def __call__(self, inputs, output, size_dict, memory_limit=None):
        start = time.perf_counter()
        deadline = start + self.max_time
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * len(inputs) + 200))
        sets = [frozenset(x) for x in inputs]
        costs = _Costs(sets, frozenset(output), size_dict)
        leaves = [costs.leaf(i, x) for i, x in enumerate(sets)]
        best = None
        for round_ in itertools.count():
            share = self.greedy_share if round_ == 0 else self.greedy_share / 3
            sampler = opt_einsum.RandomGreedy(
                max_repeats=10**6,
                max_time=self.max_time * share,
                minimize="flops",
                temperature=self.TEMPERATURES[round_ % len(self.TEMPERATURES)],
            )
            tree = _tree_from_path(costs, leaves, sampler(inputs, output, size_dict, memory_limit))
            while time.perf_counter() < deadline:
                better = reconfigure(costs, tree, self.k, deadline)
                if better.cost >= tree.cost * (1 - 1e-9):
                    break
                tree = better
            if best is None or tree.cost < best.cost:
                best = tree
            if time.perf_counter() >= deadline:
                return _path_from_tree(best, len(inputs))
