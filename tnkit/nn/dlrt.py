"""Rank-adaptive low-rank training (DLRT; Schotthöfer, Zangrando, Kusch, Ceruti & Tudisco,
"Low-rank lottery tickets", NeurIPS 2022).

Every weight matrix (a convolution kernel as its (T) × (S·k) matricisation) is kept as
``W = U S Vᵀ`` with orthonormal U, V. Training integrates the gradient flow
``Ẇ = −∇L(W)`` with the rank-adaptive basis-update & Galerkin (BUG) integrator, one explicit
Euler step of size ``lr`` per batch, using tnkit's one implementation of that step
(:func:`tnkit.lowrank.bug_step`):

    K-step  K₁ = U S − lr·G V,     L-step  L₁ = V Sᵀ − lr·Gᵀ U,
    Û = orth[U, K₁],  V̂ = orth[V, L₁],  Galerkin  Ŝ₁ = ÛᵀU S VᵀV̂ − lr·Ûᵀ G V̂,
    truncation of Ŝ₁ at relative tolerance τ (‖σ_dropped‖ ≤ τ‖σ‖).

Because the augmented bases contain the old ones, ``Û Ŝ₀ V̂ᵀ = W``: the K-, L- and S-steps all
need the gradient ``G = ∇_W L`` at the same point, so one forward/backward pass per batch
suffices (DLRT's reference code does three). During training the layer builds ``W`` to get
``G``; in eval mode it runs the two thin factors (x → Vᵀx → U S ·).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .. import lowrank
from .layers import CONV_TYPES

_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class _LowRank(nn.Module):
    """Shared state of the low-rank layers: ``W = U S Vᵀ`` (out × in) and a bias."""

    def _init_factors(self, weight: torch.Tensor, rank: int, bias: torch.Tensor | None) -> None:
        mat = weight.detach().reshape(weight.shape[0], -1)
        u, s, vh = torch.linalg.svd(mat, full_matrices=False)
        r = max(1, min(int(rank), s.shape[0]))
        self.U = nn.Parameter(u[:, :r].contiguous())
        self.S = nn.Parameter(torch.diag(s[:r]))
        self.V = nn.Parameter(vh[:r].T.contiguous())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())
        self._w: torch.Tensor | None = None

    @property
    def rank(self) -> int:
        return int(self.S.shape[0])

    def matrix(self) -> torch.Tensor:
        """The dense (out × in) matrix ``U S Vᵀ``."""
        return self.U @ self.S @ self.V.T

    def _train_weight(self) -> torch.Tensor:
        w = self.matrix()
        if torch.is_grad_enabled():
            w.retain_grad()
            self._w = w
        return w

    def set_factors(self, y: lowrank.LowRank) -> None:
        """Replace U, S, V (the rank may change)."""
        self.U = nn.Parameter(y.u.detach().contiguous())
        self.S = nn.Parameter(y.s.detach().contiguous())
        self.V = nn.Parameter(y.v.detach().contiguous())
        self._w = None


class LowRankLinear(_LowRank):
    """``y = x (U S Vᵀ)ᵀ + b`` with adaptive rank; starts from a truncated SVD of ``weight``
    (or of PyTorch's default ``Linear`` initialisation)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int,
        bias: bool = True,
        weight: torch.Tensor | None = None,
        bias_value: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if weight is None:
            ref = nn.Linear(in_features, out_features, bias=bias)
            weight, bias_value = ref.weight, ref.bias
        self.in_features, self.out_features = in_features, out_features
        self._init_factors(weight, rank, bias_value if bias else None)

    @classmethod
    def from_dense(cls, linear: nn.Linear, rank: int) -> LowRankLinear:
        """Low-rank copy of a trained ``nn.Linear`` (its truncated SVD)."""
        return cls(
            linear.in_features,
            linear.out_features,
            rank,
            linear.bias is not None,
            linear.weight,
            linear.bias,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return F.linear(x, self._train_weight(), self.bias)
        return F.linear(F.linear(F.linear(x, self.V.T), self.S), self.U, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"


class LowRankConv(_LowRank):
    """ConvNd (groups = 1, zero padding) whose (T) × (S·k) kernel matrix is ``U S Vᵀ``."""

    def __init__(self, conv: nn.Module, rank: int) -> None:
        super().__init__()
        if not isinstance(conv, CONV_TYPES) or conv.groups != 1 or conv.padding_mode != "zeros":
            raise ValueError("LowRankConv needs a Conv1d/2d/3d with groups=1 and zero padding")
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size = tuple(conv.kernel_size)
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self._conv = _CONV_FN[len(self.kernel_size)]
        self._init_factors(conv.weight, rank, conv.bias)

    def _spatial(self) -> dict:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        if self.training:
            return self._conv(x, self._train_weight().reshape(shape), self.bias, **self._spatial())
        first = self.V.T.reshape(self.rank, self.in_channels, *self.kernel_size)
        ones = (1,) * len(self.kernel_size)
        last = (self.U @ self.S).reshape(self.out_channels, self.rank, *ones)
        return self._conv(self._conv(x, first, None, **self._spatial()), last, self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, rank={self.rank}"
        )


def to_low_rank(
    model: nn.Module, rank: int | float = 1.0, layers: Iterable[str] | None = None
) -> nn.Module:
    """A copy of ``model`` whose Linear/ConvNd layers (groups=1, zero padding; or the named
    ``layers``) are low-rank layers initialised from their truncated SVD.

    ``rank``: an int, or a float in (0, 1] = fraction of each layer's full rank.
    """
    if isinstance(rank, float) and not 0 < rank <= 1:
        raise ValueError(f"rank as a fraction must be in (0, 1], got {rank!r}")
    if isinstance(rank, int) and rank < 1:
        raise ValueError(f"rank must be a positive integer, got {rank!r}")
    work = copy.deepcopy(model)
    named = dict(work.named_modules())
    names = (
        list(layers)
        if layers is not None
        else [
            n
            for n, m in named.items()
            if isinstance(m, nn.Linear)
            or (isinstance(m, CONV_TYPES) and m.groups == 1 and m.padding_mode == "zeros")
        ]
    )
    for name in names:
        if name not in named:
            raise KeyError(f"layers: no module named {name!r}")
        m = named[name]
        full = min(m.weight.shape[0], math.prod(m.weight.shape[1:]))
        r = max(1, round(rank * full)) if isinstance(rank, float) else rank
        new = LowRankLinear.from_dense(m, r) if isinstance(m, nn.Linear) else LowRankConv(m, r)
        parent, _, child = name.rpartition(".")
        if not child:
            return new
        setattr(work.get_submodule(parent) if parent else work, child, new)
    return work


def low_rank_ranks(model: nn.Module) -> dict[str, int]:
    """Current rank of every low-rank layer of ``model``."""
    return {n: m.rank for n, m in model.named_modules() if isinstance(m, _LowRank)}


class DLRT:
    """Optimiser for models with low-rank layers: a rank-adaptive BUG step on every low-rank
    layer (see the module docstring) and plain SGD on every other parameter.

    Parameters
    ----------
    model : a model containing :class:`LowRankLinear` / :class:`LowRankConv` layers.
    lr : step size (of SGD and of the integrator).
    tau : relative truncation tolerance τ; ``None`` keeps the rank fixed (non-augmented BUG).
    rank_max : cap on each layer's rank (default ``min(out, in) // 2``, as in DLRT).

    Use like a torch optimiser: ``opt.zero_grad(); loss.backward(); opt.step()``.
    """

    def __init__(
        self,
        model: nn.Module,
        lr: float = 0.05,
        tau: float | None = 0.1,
        rank_max: int | None = None,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        if tau is not None and not 0 < tau < 1:
            raise ValueError(f"tau must be in (0, 1) or None, got {tau!r}")
        self.model, self.lr, self.tau, self.rank_max = model, lr, tau, rank_max
        self.layers = [m for m in model.modules() if isinstance(m, _LowRank)]
        if not self.layers:
            raise ValueError("model has no low-rank layers; convert it with to_low_rank()")

    def zero_grad(self) -> None:
        for p in self.model.parameters():
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        factors = {id(p) for m in self.layers for p in (m.U, m.S, m.V)}
        for p in self.model.parameters():
            if id(p) not in factors and p.grad is not None:
                p.add_(p.grad, alpha=-self.lr)
        for layer in self.layers:
            if layer._w is None or layer._w.grad is None:
                continue
            self._layer_step(layer, layer._w.grad.reshape(layer.U.shape[0], -1))

    def _layer_step(self, layer: _LowRank, g: torch.Tensor) -> None:
        lr = self.lr
        cap = self.rank_max or max(1, min(g.shape) // 2)
        y = lowrank.bug_step(
            layer.U.detach(),
            layer.S.detach(),
            layer.V.detach(),
            k_step=lambda k0, v0: k0 - lr * (g @ v0),
            l_step=lambda l0, u0: l0 - lr * (g.T @ u0),
            s_step=lambda s0, uh, vh: s0 - lr * (uh.T @ g @ vh),
            augment=self.tau is not None,
            tol=self.tau,
            rank_max=cap,
        )
        layer.set_factors(y)
