"""Rank variables of a fixed topology plus the mode placement: the space TnALE and TNLS search.

A point is ``(values, perm)``: one bond rank per vertex pair of the topology
(:func:`~solvers.search.structure.topology_pairs`) in ``1..max_rank`` and a permutation
(``perm[v]`` = mode on vertex ``v``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from tnkit.checks import check_int

from .structure import TOPOLOGIES, Structure, topology_pairs


@dataclass(frozen=True)
class RankSpace:
    """``kind`` topology on ``order`` vertices with ranks in ``1..max_rank``."""

    kind: str
    order: int
    max_rank: int
    search_perm: bool

    def __post_init__(self) -> None:
        if self.kind not in TOPOLOGIES:
            raise ValueError(f"topology must be one of {TOPOLOGIES}, got {self.kind!r}")
        if self.kind == "ring" and self.order < 3:
            raise ValueError("a ring needs at least 3 modes")
        check_int(self.max_rank, "max_rank", 1)
        if not isinstance(self.search_perm, (bool, np.bool_)):
            raise TypeError(f"search_perm must be True, False or None, got {self.search_perm!r}")

    @property
    def n_vars(self) -> int:
        return len(topology_pairs(self.kind, self.order))

    def structure(self, values: tuple[int, ...], perm: tuple[int, ...]) -> Structure:
        return Structure.topology(self.kind, values, perm)

    def random_point(self, rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
        values = tuple(int(v) for v in rng.integers(1, self.max_rank + 1, self.n_vars))
        perm = tuple(range(self.order))
        if self.search_perm:
            perm = tuple(int(p) for p in rng.permutation(self.order))
        return values, perm

    def window(self, value: int, radius: int) -> list[int]:
        """``2*radius+1`` consecutive ranks around ``value``, shifted (not cut) at the bounds."""
        width = 2 * radius + 1
        if width >= self.max_rank:
            return list(range(1, self.max_rank + 1))
        low = min(max(value - radius, 1), self.max_rank - width + 1)
        return list(range(low, low + width))

    def transpositions(self, perm: tuple[int, ...]) -> list[tuple[int, ...]]:
        """``perm`` with two vertices' modes swapped, for every vertex pair."""
        out = []
        for u, v in itertools.combinations(range(self.order), 2):
            p = list(perm)
            p[u], p[v] = p[v], p[u]
            out.append(tuple(p))
        return out
