"""Factorized layers built from standard torch layers.

Every builder takes the dense layer it replaces (for its geometry, dtype and device) and
numpy factors, and returns an ``nn.Sequential`` of ordinary ``Linear``/``ConvNd`` layers, so
FLOP counters, ``torch.export`` and ONNX see plain operations. Conventions, for a kernel
``W`` of shape (T, S, k_1, ..., k_d):

* bias goes on the last layer; stride, padding, dilation and padding mode on the spatial
  layer(s); the 1×1 layers have none of them (a pointwise map commutes with zero, reflect,
  replicate and circular padding because it has no bias, so this is exact);
* the only non-standard module is :class:`TTLinear`, the TT-matrix layer of Novikov et al.
  (NeurIPS 2015), which has no equivalent in ``torch.nn``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _tensor(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=like.dtype, device=like.device)


def _conv(conv: nn.Module, cin: int, cout: int, kernel: tuple[int, ...], **spatial: Any) -> Any:
    """A bias-free ConvNd of the same dimension, dtype and device as ``conv``."""
    cls = type(conv) if isinstance(conv, CONV_TYPES) else CONV_TYPES[len(kernel) - 1]
    w = conv.weight
    return cls(cin, cout, kernel, bias=False, device=w.device, dtype=w.dtype, **spatial)


def _set(layer: nn.Module, weight: np.ndarray, like: torch.Tensor) -> nn.Module:
    with torch.no_grad():
        layer.weight.copy_(_tensor(weight.reshape(layer.weight.shape), like))
    return layer


def _with_bias(layer: nn.Module, source: nn.Module) -> nn.Module:
    """Give ``layer`` a copy of ``source``'s bias (if it has one)."""
    if source.bias is not None:
        layer.bias = nn.Parameter(source.bias.detach().clone())
    return layer


def spatial_args(conv: nn.Module) -> dict[str, Any]:
    """Stride, padding, dilation and padding mode of a convolution."""
    return {
        "stride": conv.stride,
        "padding": conv.padding,
        "dilation": conv.dilation,
        "padding_mode": conv.padding_mode,
    }


def _axis_args(conv: nn.Module, axis: int) -> dict[str, Any]:
    """Spatial arguments of ``conv`` restricted to one spatial axis (identity on the others)."""
    d = len(conv.kernel_size)

    def one(values: tuple[int, ...], neutral: int) -> tuple[int, ...]:
        return tuple(values[j] if j == axis else neutral for j in range(d))

    padding = conv.padding if isinstance(conv.padding, str) else one(conv.padding, 0)
    return {
        "stride": one(conv.stride, 1),
        "padding": padding,
        "dilation": one(conv.dilation, 1),
        "padding_mode": conv.padding_mode,
    }


def _pointwise(conv: nn.Module, weight: np.ndarray) -> nn.Module:
    """1×1 convolution with weight (out, in)."""
    d = len(conv.kernel_size)
    layer = _conv(conv, weight.shape[1], weight.shape[0], (1,) * d)
    return _set(layer, weight, conv.weight)


def linear_svd(linear: nn.Linear, a: np.ndarray, b: np.ndarray) -> nn.Sequential:
    """``W ≈ b @ a``: ``Linear(I→r)`` with weight ``a`` (r, I), then ``Linear(r→O)`` with ``b``."""
    w = linear.weight
    first = nn.Linear(a.shape[1], a.shape[0], bias=False, device=w.device, dtype=w.dtype)
    last = nn.Linear(b.shape[1], b.shape[0], bias=False, device=w.device, dtype=w.dtype)
    return nn.Sequential(_set(first, a, w), _with_bias(_set(last, b, w), linear))


def conv_svd(conv: nn.Module, a: np.ndarray, b: np.ndarray) -> nn.Sequential:
    """SVD of the (T) × (S·k) matricisation, ``W ≈ b @ a``: a k-conv S→r (weight ``a`` of
    shape (r, S, k_1, ..., k_d), with the spatial arguments), then a 1×1 r→T (weight ``b``,
    bias)."""
    first = _conv(conv, a.shape[1], a.shape[0], conv.kernel_size, **spatial_args(conv))
    first = _set(first, a, conv.weight)
    return nn.Sequential(first, _with_bias(_pointwise(conv, b), conv))


def conv_tucker2(
    conv: nn.Module, u_in: np.ndarray, core: np.ndarray, u_out: np.ndarray
) -> nn.Sequential:
    """Tucker-2 (Kim et al., ICLR 2016): ``W = core ×₀ u_out ×₁ u_in``.

    1×1 S→R_in (``u_inᵀ``), k-conv R_in→R_out (``core``, spatial arguments), 1×1 R_out→T
    (``u_out``, bias).
    """
    mid = _conv(conv, core.shape[1], core.shape[0], conv.kernel_size, **spatial_args(conv))
    return nn.Sequential(
        _pointwise(conv, u_in.T),
        _set(mid, core, conv.weight),
        _with_bias(_pointwise(conv, u_out), conv),
    )


def conv_cp(
    conv: nn.Module,
    weights: np.ndarray,
    f_out: np.ndarray,
    f_in: np.ndarray,
    spatial: list[np.ndarray],
) -> nn.Sequential:
    """CP layers: ``W[t, s, κ] = Σ_r λ_r f_out[t, r] f_in[s, r] Π_j spatial_j[κ_j, r]``.

    One spatial factor of shape (k_1···k_d, R) gives CP-3 (MUSCO layout: 1×1, one depthwise
    k-conv, 1×1); one factor per spatial axis gives CP-(2+d) (Lebedev et al., ICLR 2015:
    1×1, a depthwise conv along each axis in turn, 1×1). ``λ`` is folded into the last layer.
    """
    rank = weights.shape[0]
    layers = [_pointwise(conv, f_in.T)]
    if len(spatial) == 1:
        dw = _conv(conv, rank, rank, conv.kernel_size, groups=rank, **spatial_args(conv))
        layers.append(_set(dw, spatial[0].T, conv.weight))
    else:
        d = len(conv.kernel_size)
        for axis, factor in enumerate(spatial):
            kernel = tuple(factor.shape[0] if j == axis else 1 for j in range(d))
            dw = _conv(conv, rank, rank, kernel, groups=rank, **_axis_args(conv, axis))
            layers.append(_set(dw, factor.T, conv.weight))
    layers.append(_with_bias(_pointwise(conv, f_out * weights[None, :]), conv))
    return nn.Sequential(*layers)


def conv_tt(conv: nn.Module, cores: list[np.ndarray]) -> nn.Sequential:
    """TT of the kernel permuted to (S, k_1, ..., k_d, T) with cores ``(r, n, r')``.

    1×1 S→r_1, one conv along each spatial axis r_j→r_{j+1} (with that axis' spatial
    arguments), 1×1 r_d→T (bias).
    """
    d = len(conv.kernel_size)
    layers = [_pointwise(conv, cores[0][0].T)]
    for axis in range(d):
        g = cores[axis + 1]  # (r, k, r')
        kernel = tuple(g.shape[1] if j == axis else 1 for j in range(d))
        layer = _conv(conv, g.shape[0], g.shape[2], kernel, **_axis_args(conv, axis))
        layers.append(_set(layer, np.transpose(g, (2, 0, 1)), conv.weight))
    layers.append(_with_bias(_pointwise(conv, cores[-1][:, :, 0].T), conv))
    return nn.Sequential(*layers)


class TTLinear(nn.Module):
    """TT-matrix linear layer (Novikov et al., NeurIPS 2015).

    ``W[(o_1..o_N), (i_1..i_N)] = G_1[:, o_1, i_1, :] ··· G_N[:, o_N, i_N, :]`` with cores
    ``G_k`` of shape (r_{k-1}, o_k, i_k, r_k), r_0 = r_N = 1. The input (batch, Π i_k) is
    contracted with one core at a time, never forming ``W``.
    """

    def __init__(self, cores: list[torch.Tensor], bias: torch.Tensor | None = None) -> None:
        super().__init__()
        _check_tt_cores(cores)
        self.cores = nn.ParameterList([nn.Parameter(c) for c in cores])
        self.bias = None if bias is None else nn.Parameter(bias)
        self.in_shape = tuple(int(c.shape[2]) for c in cores)
        self.out_shape = tuple(int(c.shape[1]) for c in cores)
        self.in_features = math.prod(self.in_shape)
        self.out_features = math.prod(self.out_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        t = x.reshape(-1, 1, 1, self.in_features)  # (batch, done outputs, rank, rest)
        for core, i in zip(self.cores, self.in_shape):
            b, p, r, rest = t.shape
            t = t.reshape(b, p, r, i, rest // i)
            t = torch.einsum("bpriq,rois->bposq", t, core)
            t = t.reshape(b, p * core.shape[1], core.shape[3], rest // i)
        y = t.reshape(*lead, self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        ranks = [int(c.shape[3]) for c in self.cores[:-1]]
        return f"in_shape={self.in_shape}, out_shape={self.out_shape}, ranks={ranks}"


def _check_tt_cores(cores: Any) -> None:
    """TT-matrix cores: a non-empty list of 4-D tensors (r_{k-1}, o_k, i_k, r_k) whose ranks
    chain, with boundary ranks 1."""
    if not isinstance(cores, (list, tuple)) or not cores:
        raise TypeError(f"cores must be a non-empty list of 4-D tensors, got {cores!r}")
    for k, c in enumerate(cores):
        if not isinstance(c, torch.Tensor) or c.ndim != 4:
            raise ValueError(f"cores[{k}] must be a 4-D tensor (r_prev, out, in, r_next)")
    ranks = [int(cores[0].shape[0])] + [int(c.shape[3]) for c in cores]
    chained = all(int(c.shape[0]) == r for c, r in zip(cores, ranks))
    if not chained or ranks[0] != 1 or ranks[-1] != 1:
        shapes = [tuple(c.shape) for c in cores]
        raise ValueError(f"cores must chain with boundary ranks 1, got shapes {shapes}")


def linear_tt(linear: nn.Linear, cores: list[np.ndarray]) -> TTLinear:
    """TT-matrix layer from cores (r_{k-1}, o_k, i_k, r_k); keeps ``linear``'s bias."""
    w = linear.weight
    bias = None if linear.bias is None else linear.bias.detach().clone()
    return TTLinear([_tensor(c, w) for c in cores], bias)
