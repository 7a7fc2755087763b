"""Checks of scalar arguments given to public functions.

Each check returns the value in its canonical Python type or raises ``ValueError`` naming the
argument and what was expected — the project's convention for bad numbers. Array arguments are
checked where their library is known, in :mod:`tnkit.backend` (``as_data_tensor``,
``as_node_array``).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np


def check_int(value: Any, name: str, low: int | None = 1, *, optional: bool = False) -> Any:
    """``value`` as an ``int`` (numpy integers accepted, bool refused) that is ``>= low``.

    ``ValueError`` naming ``name`` for a non-integer or a value below ``low`` (the project's
    convention for bad numbers, as in :mod:`tnkit.decompose._common`); ``None`` passes when
    ``optional``.
    """
    if value is None and optional:
        return None
    what = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
    if low is None:
        what = "an integer"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_positive_ints(values: Any, name: str, item: str) -> tuple[int, ...]:
    """``values`` (any iterable, not a lone number) as a non-empty tuple of positive ints;
    ``TypeError``/``ValueError`` naming ``name`` (entries as ``name[k]``; ``item`` names one
    entry in the message for an empty one)."""
    wanted = f"{name} must be an iterable of {item}s (positive integers), got {values!r}"
    if isinstance(values, (int, np.integer)):
        raise TypeError(wanted)
    try:
        values = tuple(values)
    except TypeError:
        raise TypeError(wanted) from None
    if not values:
        raise ValueError(f"{name} must give at least one {item}, got ()")
    return tuple(check_int(v, f"{name}[{k}]") for k, v in enumerate(values))


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
    optional: bool = False,
) -> Any:
    """``value`` as a finite ``float`` in the interval given by ``low``/``high``.

    ``ValueError`` naming ``name`` for a non-number (bool included), NaN, Inf or a value
    outside the interval; ``None`` passes when ``optional``.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    bad = not math.isfinite(v)
    bad = bad or (low is not None and (v <= low if open_low else v < low))
    bad = bad or (high is not None and (v >= high if open_high else v > high))
    if bad:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        left = "(" if open_low or low is None else "["
        right = ")" if open_high or high is None else "]"
        interval = f"{left}{lo}, {hi}{right}"
        raise ValueError(f"{name} must be in {interval} (a finite number), got {value!r}")
    return v


def check_seed(seed: Any, name: str = "seed", *, generator: bool = False) -> Any:
    """A reproducible seed: a non-negative integer (not bool); with ``generator=True`` a
    ``numpy.random.Generator`` or ``None`` (fresh entropy) are accepted too."""
    if generator and (seed is None or isinstance(seed, np.random.Generator)):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        what = "a non-negative integer" + (", a numpy Generator or None" if generator else "")
        raise ValueError(f"{name} must be {what}, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_checkpoint(checkpoint: Any, resume: Any) -> None:
    """``checkpoint`` a file path or None, ``resume`` a bool that needs a ``checkpoint``;
    ``TypeError``/``ValueError`` naming the argument."""
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path, got {type(checkpoint).__name__}")
    if not isinstance(resume, (bool, np.bool_)):
        raise TypeError(f"resume must be True or False, got {resume!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint= (the file to resume from)")


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a ``bool`` (numpy bools accepted); ``TypeError`` naming ``name`` for
    anything else (``1``, ``"yes"`` ...)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_progress(progress: Any) -> None:
    """``progress`` must be a bool, ``None`` or a callable; ``TypeError`` naming it."""
    if progress is not None and not callable(progress) and not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool or a callable, got {progress!r}")
