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
from collections.abc import Hashable, Iterable
from typing import Any

import opt_einsum

from . import backend, paths

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})
EXACT_MAX = 8
HQ_MAX = 16
OPTIMIZERS = ("auto", "cotengra", *sorted(set(opt_einsum.paths._PATH_OPTIONS) - {"auto"}))
ON_EXCEED = ("slice", "raise")


def parse_bytes(limit: int | float | str) -> int | float:
    """``"2GiB"`` / ``"500 MB"`` / ``1e9`` -> a number of bytes (``inf``: no limit)."""
    if isinstance(limit, bool):
        raise TypeError(f"memory_limit must be bytes or a size like '2GiB', got {limit!r}")
    if isinstance(limit, (int, float)):
        if not limit >= 1:  # also refuses NaN
            raise ValueError(f"memory_limit must be at least 1 byte, got {limit!r}")
        return limit if math.isinf(limit) else int(limit)
    if not isinstance(limit, str):
        raise TypeError(f"memory_limit must be bytes or a size like '2GiB', got {limit!r}")
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", limit)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"memory_limit must be bytes or a size like '2GiB', got {limit!r}")
    return parse_bytes(float(m.group(1)) * _UNITS[m.group(2).lower()])


def check_optimize(optimize: Any) -> None:
    """``optimize`` must name a preset (see the module docstring) or be an opt_einsum
    ``PathOptimizer``; raises ``ValueError``/``TypeError`` naming ``optimize``."""
    if isinstance(optimize, opt_einsum.paths.PathOptimizer):
        return
    if not isinstance(optimize, str):
        raise TypeError(f"optimize must be an optimizer name, got {optimize!r}")
    if optimize not in OPTIMIZERS:
        raise ValueError(f"optimize must be one of {OPTIMIZERS}, got {optimize!r}")


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
    key = _checked(eq, shapes, optimize)
    try:
        return _cached_expression(eq, key, optimize)
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise _bad_equation(eq, key, err) from None


def path_info(eq: str, *shapes: tuple[int, ...], optimize: str = "auto") -> Any:
    """opt_einsum ``PathInfo`` (flops, largest intermediate, the path) of the cached plan."""
    key = _checked(eq, shapes, optimize)
    try:
        return _plan(eq, key, optimize)[1]
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise _bad_equation(eq, key, err) from None


def _checked(eq: Any, shapes: tuple, optimize: Any) -> tuple[tuple[int, ...], ...]:
    """Validate the arguments shared by :func:`expression` and :func:`path_info`."""
    if not isinstance(eq, str):
        raise TypeError(f"eq must be an einsum equation string, got {eq!r}")
    check_optimize(optimize)
    try:
        return _key(shapes)
    except (TypeError, ValueError):
        raise TypeError(f"shapes must be tuples of integers, got {shapes!r}") from None


def _bad_equation(eq: str, shapes: tuple, err: Exception) -> ValueError:
    msg = str(err).strip("'\"") or type(err).__name__
    return ValueError(f"eq {eq!r} does not fit the operand shapes {list(shapes)}: {msg}")


def equation_of(terms: Iterable[Iterable[Hashable]], output: Iterable[Hashable] = ()) -> str:
    """The einsum equation of operands whose axes carry the labels ``terms`` (any hashable
    labels, one symbol each, in order of first appearance) and of the ``output`` labels."""
    symbols: dict[Hashable, str] = {}

    def word(labels: Iterable[Hashable]) -> str:
        return "".join(symbols.setdefault(g, opt_einsum.get_symbol(len(symbols))) for g in labels)

    inputs = ",".join(word(t) for t in terms)
    return inputs + "->" + word(output)


def einsum(
    eq: str,
    *operands: Any,
    optimize: str = "auto",
    memory_limit: int | float | str | None = None,
    on_exceed: str = "slice",
) -> Any:
    """Evaluate ``eq`` on ``operands`` with a cached plan; see the module docstring.

    Operands are numpy, torch or cupy arrays of one library (lists become numpy arrays).
    """
    if on_exceed not in ON_EXCEED:
        raise ValueError(f"on_exceed must be one of {ON_EXCEED}, got {on_exceed!r}")
    operands = _check_operands(operands)
    limit = None if memory_limit is None else parse_bytes(memory_limit)
    shapes = tuple(tuple(op.shape) for op in operands)
    expr = expression(eq, *shapes, optimize=optimize)
    if limit is None or math.isinf(limit):
        return expr(*operands)
    size = itemsize(operands[0])
    info = path_info(eq, *shapes, optimize=optimize)
    if info.largest_intermediate * size <= limit:
        return expr(*operands)
    if on_exceed == "raise":
        raise MemoryError(
            f"largest intermediate needs {_fmt_bytes(info.largest_intermediate * size)}, "
            f"above memory_limit={_fmt_bytes(limit)}"
        )
    return _sliced_einsum(eq, operands, optimize, limit, size)


def _check_operands(operands: tuple) -> tuple:
    ops = []
    for k, op in enumerate(operands):
        if isinstance(op, (list, tuple, int, float, complex)) and not isinstance(op, bool):
            op = backend.as_node_array(op, f"operands[{k}]")
        try:
            backend.backend_name(op)
        except TypeError:
            raise TypeError(
                f"operands[{k}] must be a numpy, torch or cupy array, got {type(op).__name__}"
            ) from None
        ops.append(op)
    if len({backend.backend_name(op) for op in ops}) > 1:
        libs = [backend.backend_name(op) for op in ops]
        raise TypeError(f"operands must be arrays of one library, got {libs}")
    return tuple(ops)


def itemsize(x: Any) -> int:
    """Bytes per entry of the array ``x``."""
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
