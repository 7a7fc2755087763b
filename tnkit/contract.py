"""Contraction planning: opt_einsum expressions, cached, with a memory limit and slicing.

An einsum equation over single-character labels (``"ab,bc->ac"``) and the operand shapes
determine a contraction path. :func:`expression` builds an ``opt_einsum`` ``ContractExpression``
once per (equation, shapes, optimizer) and caches it; calling it works on numpy, torch and
cupy arrays alike (opt_einsum dispatches on the array type), so one cache serves every backend.

Optimizer presets
-----------------
``"auto"``
    exact search (``"optimal"``, then dynamic programming with outer products) for up to 8
    tensors, opt_einsum's ``"auto-hq"`` up to 16, and for larger networks
    :class:`tnkit.paths.ReconfiguredPath` (random-greedy, then subtree reconfiguration) with a
    time budget of :func:`planning_budget` seconds, which finds paths orders of magnitude
    cheaper than plain greedy on large networks.
``"greedy"``, ``"optimal"``, ``"dp"``, ``"random-greedy"``, ...
    any opt_einsum optimizer name.
``"cotengra"``
    cotengra's ``HyperOptimizer`` when cotengra is installed.

Memory limit
------------
``memory_limit`` (bytes, or a string such as ``"2GiB"``) bounds the largest intermediate. Above
it, ``on_exceed="slice"`` (default) fixes the values of summed labels one at a time — each slice
is an independent, smaller contraction and the slices are summed — and ``"raise"`` refuses with
a ``MemoryError`` naming the size.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from typing import Any

import opt_einsum

from . import backend, paths

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})
EXACT_MAX = 8
HQ_MAX = 16


def parse_bytes(limit: int | float | str) -> int:
    """``"2GiB"`` / ``"500 MB"`` / ``1e9`` -> a number of bytes."""
    if isinstance(limit, (int, float)):
        if limit <= 0:
            raise ValueError(f"memory_limit must be positive, got {limit!r}")
        return int(limit)
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", str(limit))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"memory_limit must be bytes or a size like '2GiB', got {limit!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def planning_budget(n_tensors: int) -> float:
    """Seconds the sampled optimizers may spend planning a network of ``n_tensors``."""
    return min(0.05 + 0.01 * n_tensors, 3.0)


def _optimizer(name: str, n_tensors: int) -> Any:
    """Resolve a preset name to something ``opt_einsum.contract_path`` accepts."""
    if name == "auto":
        if n_tensors <= EXACT_MAX:
            if n_tensors <= 6:
                return "optimal"
            return opt_einsum.DynamicProgramming(minimize="flops", search_outer=True)
        if n_tensors <= HQ_MAX:
            return "auto-hq"
        return paths.ReconfiguredPath(max_time=planning_budget(n_tensors))
    if name == "cotengra":
        try:
            import cotengra
        except ImportError as err:
            raise ImportError("optimize='cotengra' needs `pip install cotengra`") from err
        return cotengra.HyperOptimizer(
            max_time=planning_budget(n_tensors), max_repeats=512, minimize="flops", progbar=False
        )
    return name


@functools.lru_cache(maxsize=4096)
def _plan(eq: str, shapes: tuple[tuple[int, ...], ...], optimize: str) -> tuple[Any, Any]:
    """The planned path and its ``PathInfo``, searched once per (equation, shapes, optimizer)."""
    return opt_einsum.contract_path(
        eq, *shapes, shapes=True, optimize=_optimizer(optimize, len(shapes))
    )


@functools.lru_cache(maxsize=4096)
def _cached_expression(eq: str, shapes: tuple[tuple[int, ...], ...], optimize: str) -> Any:
    path, _ = _plan(eq, shapes, optimize)
    return opt_einsum.contract_expression(eq, *shapes, optimize=path)


def _key(shapes: tuple) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(d) for d in s) for s in shapes)


def expression(eq: str, *shapes: tuple[int, ...], optimize: str = "auto") -> Any:
    """Cached ``opt_einsum.ContractExpression`` for ``eq`` at these operand shapes."""
    return _cached_expression(eq, _key(shapes), optimize)


def path_info(eq: str, *shapes: tuple[int, ...], optimize: str = "auto") -> Any:
    """opt_einsum ``PathInfo`` (flops, largest intermediate, the path) of the cached plan."""
    return _plan(eq, _key(shapes), optimize)[1]


def einsum(
    eq: str,
    *operands: Any,
    optimize: str = "auto",
    memory_limit: int | float | str | None = None,
    on_exceed: str = "slice",
) -> Any:
    """Evaluate ``eq`` on ``operands`` with a cached plan; see the module docstring."""
    shapes = tuple(tuple(op.shape) for op in operands)
    expr = expression(eq, *shapes, optimize=optimize)
    if memory_limit is None:
        return expr(*operands)
    limit = parse_bytes(memory_limit)
    itemsize = _itemsize(operands[0])
    info = path_info(eq, *shapes, optimize=optimize)
    if info.largest_intermediate * itemsize <= limit:
        return expr(*operands)
    if on_exceed not in ("slice", "raise"):
        raise ValueError(f"on_exceed must be 'slice' or 'raise', got {on_exceed!r}")
    if on_exceed == "raise":
        raise MemoryError(
            f"largest intermediate needs {_fmt_bytes(info.largest_intermediate * itemsize)}, "
            f"above memory_limit={_fmt_bytes(limit)}"
        )
    return _sliced_einsum(eq, operands, optimize, limit, itemsize)


def _itemsize(x: Any) -> int:
    name = backend.dtype_name(x)
    return {"float32": 4, "float64": 8, "complex64": 8, "complex128": 16}.get(name, 8)


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def choose_slices(eq: str, shapes: tuple, optimize: str, limit: int, itemsize: int) -> list[str]:
    """Summed labels to slice over so the largest intermediate fits in ``limit`` bytes.

    Greedy: repeatedly fix the summed label of largest dimension among those of the biggest
    intermediate, until the plan fits. Raises ``MemoryError`` when even slicing every summed
    label does not.
    """
    inputs, output = eq.split("->")
    terms = inputs.split(",")
    dims = {c: d for t, s in zip(terms, shapes) for c, d in zip(t, s)}
    summed = sorted(set(dims) - set(output), key=lambda c: -dims[c])
    sliced: list[str] = []
    while True:
        sub_eq, sub_shapes = _sliced_equation(terms, output, shapes, sliced)
        info = path_info(sub_eq, *sub_shapes, optimize=optimize)
        if info.largest_intermediate * itemsize <= limit:
            return sliced
        free = [c for c in summed if c not in sliced]
        if not free:
            raise MemoryError(
                f"even after slicing every summed label the largest intermediate needs "
                f"{_fmt_bytes(info.largest_intermediate * itemsize)} > {_fmt_bytes(limit)}"
            )
        sliced.append(free[0])


def _sliced_equation(terms, output, shapes, sliced):
    sub_terms = ["".join(c for c in t if c not in sliced) for t in terms]
    sub_shapes = tuple(
        tuple(d for c, d in zip(t, s) if c not in sliced) for t, s in zip(terms, shapes)
    )
    return ",".join(sub_terms) + "->" + output, sub_shapes


def _sliced_einsum(eq: str, operands: tuple, optimize: str, limit: int, itemsize: int) -> Any:
    inputs, output = eq.split("->")
    terms = inputs.split(",")
    shapes = tuple(tuple(op.shape) for op in operands)
    sliced = choose_slices(eq, shapes, optimize, limit, itemsize)
    dims = {c: d for t, s in zip(terms, shapes) for c, d in zip(t, s)}
    sub_eq, sub_shapes = _sliced_equation(terms, output, shapes, sliced)
    expr = expression(sub_eq, *sub_shapes, optimize=optimize)
    total = None
    for values in itertools.product(*(range(dims[c]) for c in sliced)):
        fixed = dict(zip(sliced, values))
        ops = [_take(op, t, fixed) for op, t in zip(operands, terms)]
        part = expr(*ops)
        total = part if total is None else total + part
    return total


def _take(op: Any, term: str, fixed: dict[str, int]) -> Any:
    index = tuple(fixed.get(c, slice(None)) for c in term)
    return op[index] if any(c in fixed for c in term) else op


def flops(eq: str, *shapes: tuple[int, ...], optimize: str = "auto") -> float:
    """Floating-point operation count of the planned contraction."""
    return float(path_info(eq, *shapes, optimize=optimize).opt_cost)


def log10_flops(eq: str, *shapes: tuple[int, ...], optimize: str = "auto") -> float:
    """``log10`` of :func:`flops` (convenient for large networks)."""
    return math.log10(max(flops(eq, *shapes, optimize=optimize), 1.0))
