"""tnkit: tensor networks and low-rank decompositions.

The core object is :class:`TensorNetwork` (named nodes, named legs, cached contraction);
every format (CP, Tucker, TT, TR, TTN) is one of them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import backend, contract, linalg
from .io import load, load_tensor, save
from .network import TensorNetwork

try:
    __version__ = version("tnkit")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.1.0"

__all__ = [
    "TensorNetwork",
    "backend",
    "contract",
    "linalg",
    "load",
    "load_tensor",
    "save",
    "__version__",
]
