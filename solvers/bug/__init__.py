"""Basis-update & Galerkin (BUG) integrators for dynamical low-rank approximation.

``bug.integrate(operator, y0, t_final, dt=..., method="fixed" | "adaptive" | "parallel")``
evolves a low-rank matrix (:class:`tnkit.lowrank.LowRank`), a Tucker tensor or a tree tensor
network (:class:`tnkit.TTN`) under ``Ẏ = F(t, Y)``; see :mod:`solvers.bug.integrate`.
"""

from . import problems
from .integrate import METHODS, Evolution, integrate
from .operators import DenseOperator, FactorOperator, SumOfProducts

__all__ = [
    "METHODS",
    "DenseOperator",
    "Evolution",
    "FactorOperator",
    "SumOfProducts",
    "integrate",
    "problems",
]
