"""Low-rank compression and rank-adaptive low-rank training of PyTorch models.

``import tnkit`` never imports torch; ``import tnkit.nn`` does (``pip install tnkit[torch]``).

* :func:`compress` — replace Linear/ConvNd layers by factorized ``nn.Sequential`` blocks
  (SVD, Tucker-2, CP-3, CP-4, TT, TT-matrix) with ranks from a parameter/MAC fraction, a
  tolerance, EVBMF or a global budget; returns the new model and a report.
* :func:`fine_tune` — a short supervised training loop for the compressed model.
* :class:`LowRankLinear`, :class:`LowRankConv`, :class:`LowRankTuckerConv`, :class:`DLRT` —
  rank-adaptive low-rank training (DLRT, Schotthöfer et al., NeurIPS 2022; Tucker convolutions
  as in TDLRT, Zangrando et al.) driven by :func:`tnkit.lowrank.tucker_bug_step`.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("tnkit.nn needs PyTorch: pip install tnkit[torch]") from err

from .compress import compress
from .convert import factorize
from .dlrt import (
    DLRT,
    LowRankConv,
    LowRankLinear,
    LowRankTuckerConv,
    low_rank_ranks,
    to_low_rank,
)
from .layers import TTLinear
from .report import CompressionReport, LayerReport, count_macs, count_params
from .train import evaluate, fine_tune

__all__ = [
    "DLRT",
    "CompressionReport",
    "LayerReport",
    "LowRankConv",
    "LowRankLinear",
    "LowRankTuckerConv",
    "TTLinear",
    "compress",
    "count_macs",
    "count_params",
    "evaluate",
    "factorize",
    "fine_tune",
    "low_rank_ranks",
    "to_low_rank",
]
