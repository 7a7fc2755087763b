"""Solvers built on tnkit: structure search (``solvers.search``) and BUG integrators
(``solvers.bug``)."""
