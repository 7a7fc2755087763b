"""Contraction-path search for large networks: random-greedy start + subtree reconfiguration.

A contraction path is a binary tree over the input tensors. Its cost is the sum over internal
nodes of ``prod(dims of legs(A) ∪ legs(B))`` — the flops of each pairwise contraction — where
``legs(S)`` are the labels of the tensors in ``S`` that also occur outside ``S`` or in the output.

The search (after Gray & Kourtis 2021, "Hyper-optimized tensor network contraction", §IV.C):

1. a sampled random-greedy tree (``opt_einsum.RandomGreedy``) for part of the time budget;
2. **subtree reconfiguration**: for every internal node, cut its subtree at up to ``k``
   sub-intermediates (expanding the largest first) and replace the part above the cut by the
   cheapest binary tree over those ``k`` items, found exactly by dynamic programming over subsets
   (O(3^k)); sweep the whole tree, bottom-up, until a sweep gains nothing or time runs out.

:class:`ReconfiguredPath` plugs into opt_einsum as a ``PathOptimizer``.
"""

from __future__ import annotations

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
    """Cheapest binary tree over ``items`` by dynamic programming over subsets."""
    n = len(items)
    best: dict[int, _Node] = {1 << i: x for i, x in enumerate(items)}
    for mask in range(1, 1 << n):
        if mask in best:
            continue
        low = mask & -mask
        rest = mask ^ low
        chosen = None
        sub = rest
        while True:  # submasks a of mask that contain the lowest bit
            a = sub | low
            b = mask ^ a
            if b:
                left, right = best[a], best[b]
                cost = left.cost + right.cost + costs.merge_cost(left, right)
                if chosen is None or cost < chosen[0]:
                    chosen = (cost, left, right)
            if sub == 0:
                break
            sub = (sub - 1) & rest
        best[mask] = costs.merge(chosen[1], chosen[2])
    return best[(1 << n) - 1]


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
    subtree reconfiguration with subtrees of ``k`` items for the rest (see module docstring)."""

    def __init__(self, max_time: float = 1.0, k: int = 7, greedy_share: float = 0.3) -> None:
        self.max_time, self.k, self.greedy_share = max_time, k, greedy_share

    def __call__(self, inputs, output, size_dict, memory_limit=None):
        start = time.perf_counter()
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * len(inputs) + 200))
        sampler = opt_einsum.RandomGreedy(
            max_repeats=10**6, max_time=self.max_time * self.greedy_share, minimize="flops"
        )
        path = sampler(inputs, output, size_dict, memory_limit)
        inputs = [frozenset(x) for x in inputs]
        costs = _Costs(inputs, frozenset(output), size_dict)
        leaves = [costs.leaf(i, x) for i, x in enumerate(inputs)]
        tree = _tree_from_path(costs, leaves, path)
        deadline = start + self.max_time
        while time.perf_counter() < deadline:
            better = reconfigure(costs, tree, self.k, deadline)
            if better.cost >= tree.cost * (1 - 1e-9):
                break
            tree = better
        return _path_from_tree(tree, len(inputs))
