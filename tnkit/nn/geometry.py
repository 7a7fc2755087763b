"""Layer geometry and the analytic parameter / MAC counts of every factorized layer.

For a kernel (T, S, k_1..k_d) with K = Π k_j, input pixels P_in and output pixels P_out
(per sample), the counts (weights; the bias adds T to both dense and factorized) are

* dense:  T S K parameters;  T S K P_out MACs
* svd:    r (S K + T);  r S K P_out + T r P_out
* tucker: S R_in + R_in R_out K + R_out T;  S R_in P_in + R_in R_out K P_out + R_out T P_out
* cp:     R (S + K + T);  R S P_in + R K P_out + R T P_out
* cp4:    R (S + Σ k_j + T);  R S P_in + Σ_j R k_j P_j + R T P_out
* tt:     S r_1 + Σ_j r_j k_j r_{j+1} + r_{d+1} T;
  S r_1 P_in + Σ_j r_j k_j r_{j+1} P_j + r_{d+1} T P_out

where P_j is the pixel count after the spatial convolutions along axes 0..j. A linear layer is
the case d = 0 with P = number of positions (1 for a (batch, features) input); its TT-matrix
form ``ttm`` costs Σ_k r_{k-1} o_k i_k r_k parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LayerInfo:
    """What rank selection needs to know about one Linear or ConvNd layer."""

    out_ch: int
    in_ch: int
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] | str = ()
    dilation: tuple[int, ...] = ()
    in_size: tuple[int, ...] | None = None  # spatial input size (conv) or (positions,) (linear)
    bias: bool = True

    @property
    def is_conv(self) -> bool:
        return bool(self.kernel)

    @property
    def k(self) -> int:
        return math.prod(self.kernel)

    def sizes(self) -> list[tuple[int, ...]]:
        """Spatial sizes: input, then after the spatial conv along axis 0, 1, ... (per-axis)."""
        size = list(self.in_size)
        out = [tuple(size)]
        for j in range(len(self.kernel)):
            size[j] = self._out_len(j, size[j])
            out.append(tuple(size))
        return out

    def _out_len(self, j: int, n: int) -> int:
        if self.padding == "same":
            return n
        pad = 0 if self.padding == "valid" else self.padding[j]
        span = self.dilation[j] * (self.kernel[j] - 1) + 1
        return (n + 2 * pad - span) // self.stride[j] + 1


def layer_info(module, in_shape: tuple[int, ...] | None = None) -> LayerInfo:
    """:class:`LayerInfo` of a ``nn.Linear`` or ``nn.ConvNd`` (``in_shape``: one input's shape)."""
    bias = module.bias is not None
    if hasattr(module, "kernel_size"):
        d = len(module.kernel_size)
        size = None if in_shape is None else tuple(int(n) for n in in_shape[-d:])
        return LayerInfo(
            module.out_channels,
            module.in_channels,
            tuple(module.kernel_size),
            tuple(module.stride),
            module.padding if isinstance(module.padding, str) else tuple(module.padding),
            tuple(module.dilation),
            size,
            bias,
        )
    size = None if in_shape is None else (math.prod(in_shape[1:-1]),)
    return LayerInfo(module.out_features, module.in_features, in_size=size, bias=bias)


def ttm_shapes(info: LayerInfo, n_modes: int = 3) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Factor the output and input sizes into ``n_modes`` integer factors each."""
    return factor_int(info.out_ch, n_modes), factor_int(info.in_ch, n_modes)


def factor_int(n: int, n_modes: int) -> tuple[int, ...]:
    """``n`` as a product of ``n_modes`` factors, as balanced as prime factors allow."""
    primes, p, m = [], 2, n
    while p * p <= m:
        while m % p == 0:
            primes.append(p)
            m //= p
        p += 1
    if m > 1:
        primes.append(m)
    factors = [1] * n_modes
    for q in sorted(primes, reverse=True):
        factors[factors.index(min(factors))] *= q
    return tuple(sorted(factors, reverse=True))


def tt_dims(info: LayerInfo, method: str) -> tuple[int, ...]:
    """Mode sizes of the tensor that the TT methods decompose."""
    if method == "ttm":
        outs, ins = ttm_shapes(info)
        return tuple(o * i for o, i in zip(outs, ins))
    return (info.in_ch, *info.kernel, info.out_ch)


def full_ranks(info: LayerInfo, method: str) -> tuple[int, ...]:
    """Ranks at which ``method`` represents every weight exactly (CP: the parameter cap)."""
    t, s, k = info.out_ch, info.in_ch, info.k if info.is_conv else 1
    if method == "svd":
        return (min(t, s * k),)
    if method == "tucker":
        return (min(t, s * k), min(s, t * k))
    if method in ("cp", "cp4"):
        per_rank = params(info, method, (1,)) - (t if info.bias else 0)
        return (max(1, (t * s * k) // per_rank),)
    dims = tt_dims(info, method)
    return tuple(min(math.prod(dims[:j]), math.prod(dims[j:])) for j in range(1, len(dims)))


def params(info: LayerInfo, method: str, ranks: tuple[int, ...]) -> int:
    """Parameter count (weights and bias) of ``method`` at ``ranks``; ``"dense"`` ignores ranks."""
    t, s, k = info.out_ch, info.in_ch, info.k if info.is_conv else 1
    bias = t if info.bias else 0
    if method == "dense":
        return t * s * k + bias
    if method == "svd":
        return ranks[0] * (s * k + t) + bias
    if method == "tucker":
        r_out, r_in = ranks
        return s * r_in + r_in * r_out * k + r_out * t + bias
    if method == "cp":
        return ranks[0] * (s + k + t) + bias
    if method == "cp4":
        return ranks[0] * (s + sum(info.kernel) + t) + bias
    dims = tt_dims(info, method)
    rr = (1, *ranks, 1)
    return sum(rr[j] * dims[j] * rr[j + 1] for j in range(len(dims))) + bias


def macs(info: LayerInfo, method: str, ranks: tuple[int, ...]) -> int:
    """Multiply-accumulates per sample (needs ``info.in_size``)."""
    if info.in_size is None:
        raise ValueError("MAC counts need the layer's input size (give an example input)")
    t, s = info.out_ch, info.in_ch
    if not info.is_conv:
        pos = info.in_size[0]
        if method == "ttm":
            return pos * _ttm_macs(info, ranks)
        return pos * (params(info, method, ranks) - (t if info.bias else 0))
    sizes = [math.prod(z) for z in info.sizes()]
    p_in, p_out, k = sizes[0], sizes[-1], info.k
    if method == "dense":
        return t * s * k * p_out
    if method == "svd":
        return ranks[0] * (s * k + t) * p_out
    if method == "tucker":
        r_out, r_in = ranks
        return s * r_in * p_in + (r_in * r_out * k + r_out * t) * p_out
    if method == "cp":
        return ranks[0] * (s * p_in + (k + t) * p_out)
    if method == "cp4":
        r = ranks[0]
        return (
            r * s * p_in
            + sum(r * kj * pj for kj, pj in zip(info.kernel, sizes[1:]))
            + r * t * p_out
        )
    rr = (*ranks,)
    mid = sum(rr[j] * info.kernel[j] * rr[j + 1] * sizes[j + 1] for j in range(len(info.kernel)))
    return s * rr[0] * p_in + mid + rr[-1] * t * p_out


def _ttm_macs(info: LayerInfo, ranks: tuple[int, ...]) -> int:
    outs, ins = ttm_shapes(info)
    rr = (1, *ranks, 1)
    total = 0
    for j in range(len(ins)):
        done, rest = math.prod(outs[:j]), math.prod(ins[j + 1 :])
        total += done * rest * rr[j] * ins[j] * outs[j] * rr[j + 1]
    return total
