"""Convert one trained ``Linear``/``ConvNd`` layer into a factorized ``nn.Sequential``.

The factors come from tnkit's own decompositions, fitted in float64 on the CPU:
:func:`tnkit.linalg.truncated_svd` (SVD), :func:`tnkit.tucker` (Tucker-2: the spatial modes are
kept at full rank and folded into the core), :func:`tnkit.cp` (CP-3 on the (T, S, K) reshaped
kernel or CP-(2+d) on the kernel itself; ``stable=True`` applies the error-preserving norm
correction of Phan et al., ECCV 2020, so that no component explodes) and :func:`tnkit.tt`
(TT of the kernel permuted to (S, k_1..k_d, T), or the TT-matrix of a Linear weight).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import checks, linalg
from . import layers
from ._checks import check_module
from .geometry import LayerInfo, full_ranks, layer_info, ttm_shapes
from .ranks import tt_tensor


def dense_weight(layer: nn.Module) -> np.ndarray:
    """The layer's weight as a float64 numpy array, shape (T, S, k_1, ..., k_d) or (O, I)."""
    return layer.weight.detach().cpu().to(torch.float64).numpy()


def effective_method(layer: nn.Module, method: str) -> str:
    """The method actually used: Linear layers and 1×1 convolutions are matrices, so they take
    SVD (or the TT-matrix for ``"tt"`` on a Linear); k×k convolutions take ``method``."""
    if isinstance(layer, nn.Linear):
        return "ttm" if method in ("tt", "ttm") else "svd"
    if math.prod(layer.kernel_size) == 1 or method == "ttm":
        return "svd"
    return method


def _split_svd(matrix: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """``matrix ≈ b @ a`` with the singular values split evenly between the two factors."""
    f = linalg.truncated_svd(matrix, rank=rank, method="lapack")
    root = np.sqrt(f.s)
    return root[:, None] * f.vh, f.u * root[None, :]


def _svd(layer: nn.Module, w: np.ndarray, ranks: tuple[int, ...], **_: Any) -> tuple:
    a, b = _split_svd(w.reshape(w.shape[0], -1), ranks[0])
    if isinstance(layer, nn.Linear):
        return [a, b], b @ a
    return [a.reshape(a.shape[0], *w.shape[1:]), b], (b @ a).reshape(w.shape)


def _tucker(layer: nn.Module, w: np.ndarray, ranks: tuple[int, ...], **_: Any) -> tuple:
    from ..decompose.tucker import tucker

    fit = tucker(w, rank=[ranks[0], ranks[1], *w.shape[2:]])
    u_out, u_in, *spatial = fit.factors
    core = fit.core
    for axis, f in enumerate(spatial):  # fold the (full-rank) spatial factors into the core
        core = np.moveaxis(np.tensordot(f, core, axes=(1, axis + 2)), 0, axis + 2)
    approx = np.einsum("ab...,ta,sb->ts...", core, u_out, u_in)
    return [u_in, core, u_out], approx


def _cp(
    layer: nn.Module,
    w: np.ndarray,
    ranks: tuple[int, ...],
    *,
    separable: bool,
    stable: bool,
    seed: int,
    max_iter: int | None,
) -> tuple:
    from ..decompose.cp import cp

    x = w if separable else w.reshape(w.shape[0], w.shape[1], -1)
    opts = {} if max_iter is None else {"max_iter": max_iter}
    fit = cp(x, ranks[0], stable=stable, seed=seed, **opts)
    weights, (f_out, f_in, *spatial) = np.asarray(fit.weights), list(fit.factors)
    approx = np.asarray(fit.to_tensor()).reshape(w.shape)
    return [weights, f_out, f_in, *spatial], approx


def _tt_cores(x: np.ndarray, ranks: tuple[int, ...]) -> list[np.ndarray]:
    from ..decompose.tt import tt

    return [np.asarray(c) for c in tt(x, rank=list(ranks)).cores]


def _tt(layer: nn.Module, w: np.ndarray, ranks: tuple[int, ...], info: LayerInfo, **_: Any):
    cores = _tt_cores(tt_tensor(w, info, "tt"), ranks)
    approx = _tt_full(cores)
    return cores, np.moveaxis(approx, -1, 0)


def _ttm(layer: nn.Module, w: np.ndarray, ranks: tuple[int, ...], info: LayerInfo, **_: Any):
    outs, ins = ttm_shapes(info)
    n = len(outs)
    cores = _tt_cores(tt_tensor(w, info, "ttm"), ranks)
    approx = _tt_full(cores).reshape([d for pair in zip(outs, ins) for d in pair])
    approx = np.transpose(approx, [*range(0, 2 * n, 2), *range(1, 2 * n, 2)]).reshape(w.shape)
    cores = [c.reshape(c.shape[0], o, i, c.shape[2]) for c, o, i in zip(cores, outs, ins)]
    return cores, approx


def _tt_full(cores: list[np.ndarray]) -> np.ndarray:
    out = cores[0]
    for c in cores[1:]:
        out = np.tensordot(out, c, axes=(-1, 0))
    return out[0, ..., 0]


_CONVERTERS = {"svd": _svd, "tucker": _tucker, "tt": _tt, "ttm": _ttm}
METHODS = (*_CONVERTERS, "cp", "cp4")
_BUILDERS = {  # method -> (layer, factor arrays) -> the factorized module
    "svd": lambda layer, a: (
        layers.linear_svd if isinstance(layer, nn.Linear) else layers.conv_svd
    )(layer, *a),
    "tucker": lambda layer, a: layers.conv_tucker2(layer, *a),
    "cp": lambda layer, a: layers.conv_cp(layer, a[0], a[1], a[2], list(a[3:])),
    "cp4": lambda layer, a: layers.conv_cp(layer, a[0], a[1], a[2], list(a[3:])),
    "tt": lambda layer, a: layers.conv_tt(layer, list(a)),
    "ttm": lambda layer, a: layers.linear_tt(layer, list(a)),
}
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def check_layer_ranks(ranks: Any, info: LayerInfo, method: str, what: str) -> tuple[int, ...]:
    """``ranks`` (an int or a tuple) as a tuple of the length ``method`` needs, each a positive
    integer and — except CP, whose rank is not bounded by the layer's shape — at most the
    full rank of that mode. Raises ``ValueError`` naming ``what``."""
    full = full_ranks(info, method)
    value = (ranks,) if not isinstance(ranks, (tuple, list)) else tuple(ranks)
    if len(value) != len(full):
        raise ValueError(
            f"{what} must give {len(full)} rank(s) for method {method!r}, got {ranks!r}"
        )
    value = tuple(checks.check_int(v, what, 1) for v in value)
    if method not in ("cp", "cp4") and any(v > f for v, f in zip(value, full)):
        raise ValueError(f"{what} {value} exceeds the full ranks {full} of this layer")
    return value


def factorize(
    layer: nn.Module,
    method: str,
    ranks: tuple[int, ...],
    *,
    stable: bool = True,
    seed: int = 0,
    max_iter: int | None = None,
) -> tuple[nn.Module, float]:
    """Factorized replacement of ``layer`` at ``ranks`` and its relative weight error.

    ``method`` must already be effective (see :func:`effective_method`): ``"svd"``,
    ``"tucker"``, ``"cp"`` (CP-3), ``"cp4"`` (CP-(2+d)), ``"tt"`` or ``"ttm"``. ``ranks``: one
    int or a tuple of the ranks ``method`` needs, each at most the layer's full rank.
    """
    arrays, error = decompose(layer, method, ranks, stable=stable, seed=seed, max_iter=max_iter)
    return build(layer, method, arrays), error


def decompose(
    layer: nn.Module,
    method: str,
    ranks: tuple[int, ...],
    *,
    stable: bool = True,
    seed: int = 0,
    max_iter: int | None = None,
) -> tuple[list[np.ndarray], float]:
    """The factor arrays of :func:`factorize` (in the order :func:`build` takes them) and the
    relative weight error, without building the module."""
    check_module(layer, "layer")
    if not isinstance(layer, LAYERS):
        raise TypeError(f"layer must be a Linear or Conv1d/2d/3d, got {type(layer).__name__}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    info = layer_info(layer)
    ranks = check_layer_ranks(ranks, info, method, "ranks")
    w = dense_weight(layer)
    if not np.isfinite(w).all():
        raise ValueError("layer has NaN or Inf weights")
    if method in ("cp", "cp4"):
        arrays, approx = _cp(
            layer,
            w,
            ranks,
            separable=method == "cp4",
            stable=stable,
            seed=seed,
            max_iter=max_iter,
        )
    else:
        arrays, approx = _CONVERTERS[method](layer, w, ranks, info=info)
    norm = float(np.linalg.norm(w)) or 1.0
    return arrays, float(np.linalg.norm(w - approx) / norm)


def build(layer: nn.Module, method: str, arrays: list[np.ndarray]) -> nn.Module:
    """The factorized module of ``layer`` from the factor arrays :func:`decompose` gave, in
    ``layer``'s dtype, device and train/eval mode."""
    module = _BUILDERS[method](layer, arrays)
    module.train(layer.training)
    return module
