"""tnkit: tensor networks and low-rank decompositions.

The core object is :class:`TensorNetwork` (named nodes, named legs, cached contraction);
every format (CP, Tucker, TT, TR, TTN) is one of them. Formats and decomposition functions are
imported on first use, so ``import tnkit`` stays fast.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from . import backend, contract, linalg
from .io import load, load_tensor, save
from .network import TensorNetwork

try:
    __version__ = version("tnkit")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.1.0"

# public name -> module that defines it (imported lazily by __getattr__)
_LAZY = {
    "CP": "tnkit.formats.cp",
    "Tucker": "tnkit.formats.tucker",
    "TT": "tnkit.formats.tt",
    "TR": "tnkit.formats.tr",
    "TTN": "tnkit.formats.ttn",
    "cp": "tnkit.decompose.cp",
    "cp_rank_scan": "tnkit.decompose.cp_rank",
    "core_consistency": "tnkit.decompose.cp_rank",
    "tucker": "tnkit.decompose.tucker",
    "tt": "tnkit.decompose.tt",
    "tt_cross": "tnkit.decompose.tt_cross",
    "tt_round_sum": "tnkit.formats.tt",
    "tr": "tnkit.decompose.tr",
    "fit_network": "tnkit.decompose.network",
    "SparseTensor": "tnkit.sparse",
    "relative_error": "tnkit.metrics",
    "rmse": "tnkit.metrics",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tnkit' has no attribute {name!r}")


__all__ = [
    "TensorNetwork",
    "backend",
    "contract",
    "linalg",
    "load",
    "load_tensor",
    "save",
    "__version__",
    *_LAZY,
]
