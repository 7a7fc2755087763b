"""Pairwise contraction in a fixed order with fixed axis orders: bit-reproducible everywhere.

opt_einsum chooses tensordot axis orders (and breaks path ties) by iterating over Python sets,
whose order follows the interpreter's string-hash seed; two processes can then round the same
contraction differently. Structure search needs the *same bits* on every worker, so ALS
contracts its environments with :class:`Pairwise`: the path is a greedy choice of the pair
with the smallest result (ties broken by position), each step is one ``tensordot`` whose
axes follow the operands' label order, and plans are cached per (terms, output, dims).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from .. import backend


class Pairwise:
    """Contract operands labelled by ``terms`` (one character per axis) into ``output``."""

    def __init__(self, terms: tuple[str, ...], output: str, dims: tuple[tuple[str, int], ...]):
        size = dict(dims)
        live = list(terms)
        self.steps: list[tuple] = []
        while len(live) > 1:
            best = None
            for i in range(len(live)):
                for j in range(i + 1, len(live)):
                    keep = _kept(live, i, j, output)
                    cost = math.prod(size[c] for c in keep)
                    if best is None or cost < best[0]:
                        best = (cost, i, j, keep)
            _, i, j, keep = best
            a, b = live[i], live[j]
            summed = [c for c in a if c in b and c not in keep]
            hadamard = any(c in b for c in a if c in keep)
            self.steps.append((i, j, a, b, summed, keep, hadamard))
            live = [t for k, t in enumerate(live) if k not in (i, j)] + [keep]
        last = live[0]
        self.final_sum = tuple(k for k, c in enumerate(last) if c not in output)
        left = [c for c in last if c in output]
        self.final_perm = tuple(left.index(c) for c in output)

    def __call__(self, *ops: Any) -> Any:
        xp = backend.namespace(*ops)
        ops = list(ops)
        for i, j, a, b, summed, keep, hadamard in self.steps:
            x, y = ops[i], ops[j]
            if hadamard:
                out = _broadcast_product(xp, x, y, a, b, keep)
            else:
                axes = ([a.index(c) for c in summed], [b.index(c) for c in summed])
                out = xp.tensordot(x, y, axes=axes)
                order = [c for c in a if c not in summed] + [c for c in b if c not in summed]
                out = xp.permute_dims(out, tuple(order.index(c) for c in keep))
            ops = [t for k, t in enumerate(ops) if k not in (i, j)] + [out]
        res = ops[0]
        if self.final_sum:
            res = xp.sum(res, axis=self.final_sum)
        return xp.permute_dims(res, self.final_perm) if res.ndim > 1 else res


def _kept(live: list[str], i: int, j: int, output: str) -> str:
    """Labels of the pair's result: those still needed by the output or another operand."""
    others = "".join(t for k, t in enumerate(live) if k not in (i, j))
    merged = dict.fromkeys(live[i] + live[j])
    return "".join(c for c in merged if c in output or c in others)


def _broadcast_product(xp: Any, x: Any, y: Any, a: str, b: str, keep: str) -> Any:
    """``x * y`` over the union of labels, summed to ``keep`` (labels shared and kept)."""
    union = "".join(dict.fromkeys(a + b))
    xe = _expand(xp, x, a, union)
    ye = _expand(xp, y, b, union)
    prod = xe * ye
    drop = tuple(k for k, c in enumerate(union) if c not in keep)
    if drop:
        prod = xp.sum(prod, axis=drop)
    left = [c for c in union if c in keep]
    return xp.permute_dims(prod, tuple(left.index(c) for c in keep))


def _expand(xp: Any, x: Any, labels: str, union: str) -> Any:
    order = sorted(range(len(labels)), key=lambda k: union.index(labels[k]))
    x = xp.permute_dims(x, tuple(order))
    shape = [1] * len(union)
    for k in order:
        shape[union.index(labels[k])] = x.shape[order.index(k)]
    return xp.reshape(x, tuple(shape))


@functools.lru_cache(maxsize=4096)
def plan(terms: tuple[str, ...], output: str, dims: tuple[tuple[str, int], ...]) -> Pairwise:
    """The cached :class:`Pairwise` plan."""
    return Pairwise(terms, output, dims)
