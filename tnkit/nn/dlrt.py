"""Rank-adaptive low-rank training: DLRT (Schotthöfer, Zangrando, Kusch, Ceruti & Tudisco,
"Low-rank lottery tickets", NeurIPS 2022) and its Tucker form for convolutions, TDLRT
(Zangrando, Schotthöfer, Ceruti, Kusch & Tudisco, "Rank-adaptive spectral pruning of
convolutional layers during training", arXiv 2305.19059 / NeurIPS 2024).

A weight matrix is kept as ``W = U S Vᵀ`` with orthonormal U, V; a convolution kernel
``W (T, S, k…)`` either as the matrix of its (T) × (S·k) matricisation (``conv_format="matrix"``)
or in Tucker form ``W = C ×₀ U_T ×₁ U_S`` with a core ``C (r_T, r_S, k…)`` and orthonormal
channel factors, the spatial modes kept full (``conv_format="tucker"``, the default). A matrix
is the 2-mode Tucker tensor ``S ×₀ U ×₁ V``, so both are trained by one step, tnkit's
rank-adaptive basis-update & Galerkin (BUG) step :func:`tnkit.lowrank.tucker_bug_step` (the
step of the BUG integrators too), one explicit Euler step of size ``lr`` per batch of the flow
``Ẇ = −D`` with ``D`` the gradient ``G = ∇_W L`` (or its heavy-ball average, below):

    K-step (each factored mode i)  Kᵢ₁ = Kᵢ₀ − lr·Matᵢ(D) Vᵢ₀,   Ûᵢ = orth[Uᵢ, Kᵢ₁],
    Galerkin  Ĉ₁ = C ×ᵢ ÛᵢᵀUᵢ − lr·D ×ᵢ Ûᵢᵀ,
    truncation of Ĉ₁ by its HOSVD at relative tolerance τ (per unfolding ‖σ_dropped‖ ≤ τ‖Ĉ₁‖),

where ``Matᵢ(W) = Kᵢ₀ Vᵢ₀ᵀ`` (for a matrix: K = U S, L = V Sᵀ). Because the augmented bases
contain the old ones, ``Ĉ₀ ×ᵢ Ûᵢ = W``: every sub-step needs ``G`` at the same point, so one
forward/backward pass per batch suffices (DLRT's reference code does three). ``momentum=μ``
is heavy-ball on that flow, ``D ← μD + G`` (the buffer lives in the dense weight space, so it
needs no rotation when the bases change; the same rule as ``torch.optim.SGD(momentum=μ)``, which
the optimiser applies to all other parameters). During training a layer builds ``W`` to get
``G``; in eval mode it runs the thin factors (a matrix: ``x → Vᵀx → U S ·``; Tucker: 1×1 conv
S→r_S, k-conv r_S→r_T with the core, 1×1 conv r_T→T, as Tucker-2 compression does).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks, lowrank
from ._checks import check_module
from .layers import CONV_TYPES

_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_FORMATS = ("matrix", "tucker")


class _LowRankBase(nn.Module):
    """A weight held as a Tucker tensor (:meth:`tucker`) that builds it densely in training.

    Ranks change during training, so loading a state dict first resizes the factor
    parameters to the saved shapes: a checkpoint of a trained model loads into a freshly
    converted one (``to_low_rank(model).load_state_dict(torch.load(f, weights_only=True))``).
    """

    _w: torch.Tensor | None = None
    FACTORS: tuple[str, ...] = ()  # names of the factor parameters, whose shapes follow the ranks

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        for name in self.FACTORS:
            saved, own = state_dict.get(prefix + name), getattr(self, name)
            if isinstance(saved, torch.Tensor) and saved.shape != own.shape:
                setattr(self, name, nn.Parameter(own.new_empty(saved.shape)))
        self._w = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _train_weight(self) -> torch.Tensor:
        w = self.weight()
        if torch.is_grad_enabled():
            w.retain_grad()
            self._w = w
        return w

    def _full_ranks(self) -> tuple[int, ...]:
        """The largest useful rank of each factored mode (rank of that unfolding)."""
        shape = self._shape()
        n = math.prod(shape)
        return tuple(min(shape[i], n // shape[i]) for i in range(2))

    def factor_params(self) -> list[nn.Parameter]:
        raise NotImplementedError


class _LowRank(_LowRankBase):
    """Shared state of the matrix layers: ``W = U S Vᵀ`` (out × in) and a bias."""

    FACTORS = ("U", "S", "V")

    def _init_factors(self, weight: torch.Tensor, rank: int, bias: torch.Tensor | None) -> None:
        mat = weight.detach().reshape(weight.shape[0], -1)
        u, s, vh = torch.linalg.svd(mat, full_matrices=False)
        r = max(1, min(int(rank), s.shape[0]))
        self.U = nn.Parameter(u[:, :r].contiguous())
        self.S = nn.Parameter(torch.diag(s[:r]))
        self.V = nn.Parameter(vh[:r].T.contiguous())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())
        self._w = None

    def _shape(self) -> tuple[int, int]:
        return (self.U.shape[0], self.V.shape[0])

    @property
    def rank(self) -> int:
        return int(self.S.shape[0])

    @property
    def n_params(self) -> int:
        """Weights of the eval-mode factors (``U S`` merged, ``V``), bias excluded."""
        return self.rank * (self.U.shape[0] + self.V.shape[0])

    def matrix(self) -> torch.Tensor:
        """The dense (out × in) matrix ``U S Vᵀ``."""
        return self.U @ self.S @ self.V.T

    def weight(self) -> torch.Tensor:
        return self.matrix()

    def factor_params(self) -> list[nn.Parameter]:
        return [self.U, self.S, self.V]

    def tucker(self) -> lowrank.TuckerLowRank:
        """The weight as the 2-mode Tucker tensor ``S ×₀ U ×₁ V`` (detached)."""
        return lowrank.TuckerLowRank(self.S.detach(), (self.U.detach(), self.V.detach()))

    def set_tucker(self, y: lowrank.TuckerLowRank) -> None:
        self.set_factors(lowrank.LowRank(y.factors[0], y.core, y.factors[1]))

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
        checks.check_int(in_features, "in_features", 1)
        checks.check_int(out_features, "out_features", 1)
        _check_rank(rank)
        if weight is None:
            ref = nn.Linear(in_features, out_features, bias=bias)
            weight, bias_value = ref.weight, ref.bias
        self.in_features, self.out_features = in_features, out_features
        self._init_factors(weight, rank, bias_value if bias else None)

    @classmethod
    def from_dense(cls, linear: nn.Linear, rank: int) -> LowRankLinear:
        """Low-rank copy of a trained ``nn.Linear`` (its truncated SVD)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be a torch.nn.Linear, got {type(linear).__name__}")
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


class _ConvMixin:
    """Geometry of a ConvNd (groups = 1, zero padding) copied from ``conv``."""

    def _init_conv(self, conv: nn.Module) -> None:
        if not isinstance(conv, CONV_TYPES) or conv.groups != 1 or conv.padding_mode != "zeros":
            raise ValueError("conv must be a Conv1d/2d/3d with groups=1 and zero padding")
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size = tuple(conv.kernel_size)
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self._conv = _CONV_FN[len(self.kernel_size)]

    def _spatial(self) -> dict:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}

    def _kernel_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.in_channels, *self.kernel_size)

    def _pointwise(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.reshape(*weight.shape, *(1,) * len(self.kernel_size))


class LowRankConv(_ConvMixin, _LowRank):
    """ConvNd (groups = 1, zero padding) whose (T) × (S·k) kernel matrix is ``U S Vᵀ``."""

    def __init__(self, conv: nn.Module, rank: int) -> None:
        super().__init__()
        _check_rank(rank)
        self._init_conv(conv)
        self._init_factors(conv.weight, rank, conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            w = self._train_weight().reshape(self._kernel_shape())
            return self._conv(x, w, self.bias, **self._spatial())
        first = self.V.T.reshape(self.rank, self.in_channels, *self.kernel_size)
        last = self._pointwise(self.U @ self.S)
        return self._conv(self._conv(x, first, None, **self._spatial()), last, self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, rank={self.rank}"
        )


class LowRankTuckerConv(_ConvMixin, _LowRankBase):
    """ConvNd (groups = 1, zero padding) whose kernel is ``C ×₀ U_T ×₁ U_S`` (Tucker-2 form).

    ``core`` (r_T, r_S, k…), orthonormal ``U_T`` (T × r_T) and ``U_S`` (S × r_S); the spatial
    modes are full. Starts from the HOSVD of ``conv.weight`` cut to ``rank`` (an int for both
    channel modes or a pair ``(r_T, r_S)``). Eval mode runs 1×1 S→r_S, the core as a k-conv
    r_S→r_T (stride, padding, dilation), 1×1 r_T→T with the bias.
    """

    FACTORS = ("core", "U_T", "U_S")

    def __init__(self, conv: nn.Module, rank: int | tuple[int, int]) -> None:
        super().__init__()
        ranks = tuple(rank) if isinstance(rank, (tuple, list)) else (rank, rank)
        if len(ranks) != 2:
            raise ValueError(f"rank must be an int or a pair (r_T, r_S), got {rank!r}")
        for r in ranks:
            _check_rank(r)
        self._init_conv(conv)
        w = conv.weight.detach()
        eye = [torch.eye(n, dtype=w.dtype, device=w.device) for n in w.shape[:2]]
        cut = tuple(min(r, f) for r, f in zip(ranks, self._full_ranks()))
        y = lowrank.tucker_truncate(
            lowrank.TuckerLowRank(w, (*eye, *(None,) * len(self.kernel_size))), rank_max=cut
        )
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone())
        self.set_tucker(y)

    def _shape(self) -> tuple[int, ...]:
        return self._kernel_shape()

    @property
    def rank(self) -> tuple[int, int]:
        """``(r_T, r_S)``."""
        return (int(self.core.shape[0]), int(self.core.shape[1]))

    @property
    def n_params(self) -> int:
        """Weights of the three eval-mode convolutions, bias excluded."""
        r_t, r_s = self.rank
        k = math.prod(self.kernel_size)
        return self.out_channels * r_t + self.in_channels * r_s + r_t * r_s * k

    def weight(self) -> torch.Tensor:
        """The dense kernel ``C ×₀ U_T ×₁ U_S``."""
        return torch.einsum("ab...,ta,sb->ts...", self.core, self.U_T, self.U_S)

    def factor_params(self) -> list[nn.Parameter]:
        return [self.core, self.U_T, self.U_S]

    def tucker(self) -> lowrank.TuckerLowRank:
        """The kernel as a Tucker tensor (detached; spatial factors ``None``)."""
        spatial = (None,) * len(self.kernel_size)
        return lowrank.TuckerLowRank(
            self.core.detach(), (self.U_T.detach(), self.U_S.detach(), *spatial)
        )

    def set_tucker(self, y: lowrank.TuckerLowRank) -> None:
        """Replace core and factors (the ranks may change)."""
        self.core = nn.Parameter(y.core.detach().contiguous())
        self.U_T = nn.Parameter(y.factors[0].detach().contiguous())
        self.U_S = nn.Parameter(y.factors[1].detach().contiguous())
        self._w = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self._conv(x, self._train_weight(), self.bias, **self._spatial())
        x = self._conv(x, self._pointwise(self.U_S.T))
        x = self._conv(x, self.core, None, **self._spatial())
        return self._conv(x, self._pointwise(self.U_T), self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, rank={self.rank}"
        )


def _check_rank(rank: object) -> None:
    checks.check_int(rank, "rank", 1)


def to_low_rank(
    model: nn.Module,
    rank: int | float = 1.0,
    layers: Iterable[str] | None = None,
    *,
    conv_format: str = "tucker",
) -> nn.Module:
    """A copy of ``model`` whose Linear/ConvNd layers (groups=1, zero padding; or the named
    ``layers``) are low-rank layers initialised from their truncated SVD / HOSVD.

    ``rank``: an int, or a float in (0, 1] = fraction of each layer's full rank (of each
    channel mode's full rank for Tucker convolutions). ``conv_format``: ``"tucker"``
    (:class:`LowRankTuckerConv`, TDLRT) or ``"matrix"`` (:class:`LowRankConv`, DLRT).
    """
    check_module(model)
    if isinstance(rank, float):
        checks.check_real(rank, "rank as a fraction", low=0, high=1, open_low=True)
    else:
        _check_rank(rank)
    if conv_format not in CONV_FORMATS:
        raise ValueError(f"conv_format must be one of {CONV_FORMATS}, got {conv_format!r}")
    if isinstance(layers, (str, bytes)):
        raise TypeError(f"layers must be a list of module names, got the string {layers!r}")
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
        if not isinstance(named[name], (nn.Linear, *CONV_TYPES)):
            raise ValueError(
                f"layers: {name!r} is a {type(named[name]).__name__}, not a Linear or ConvNd"
            )
        new = _convert(named[name], rank, conv_format)
        parent, _, child = name.rpartition(".")
        if not child:
            return new
        setattr(work.get_submodule(parent) if parent else work, child, new)
    return work


def _fraction(f: float, full: int) -> int:
    """The rank ``max(1, round(f·full))`` (shared by the initial rank and the default cap)."""
    return max(1, round(f * full))


def _convert(m: nn.Module, rank: int | float, conv_format: str) -> nn.Module:
    def cut(full: int) -> int:
        return _fraction(rank, full) if isinstance(rank, float) else rank

    w = m.weight
    if conv_format == "tucker" and isinstance(m, CONV_TYPES):
        n = w.numel()
        return LowRankTuckerConv(m, tuple(cut(min(w.shape[i], n // w.shape[i])) for i in range(2)))
    r = cut(min(w.shape[0], math.prod(w.shape[1:])))
    return LowRankLinear.from_dense(m, r) if isinstance(m, nn.Linear) else LowRankConv(m, r)


def low_rank_ranks(model: nn.Module) -> dict[str, int | tuple[int, int]]:
    """Current rank of every low-rank layer of ``model`` (``(r_T, r_S)`` for Tucker convs)."""
    check_module(model)
    return {n: m.rank for n, m in model.named_modules() if isinstance(m, _LowRankBase)}


class DLRT:
    """Optimiser for models with low-rank layers: a rank-adaptive BUG step on every low-rank
    layer (see the module docstring) and SGD (with the same momentum) on every other parameter.

    Parameters
    ----------
    model : a model containing :class:`LowRankLinear` / :class:`LowRankConv` /
        :class:`LowRankTuckerConv` layers.
    lr : step size (of SGD and of the integrator); may be changed between steps (schedules).
    tau : relative truncation tolerance τ in [0, 1); ``0`` drops only numerically zero
        singular values; ``None`` keeps the ranks fixed (non-augmented BUG, as in DLRT's
        fine-tuning phase). May be changed between steps.
    rank_max : cap on each factored mode's rank: an int, or a float in (0, 1] = fraction of that
        mode's full rank (default 0.5, as in DLRT).
    momentum : heavy-ball coefficient μ in [0, 1) (``D ← μD + G``, used by all sub-steps).

    Use like a torch optimiser: ``opt.zero_grad(); loss.backward(); opt.step()``; checkpoint
    with ``opt.state_dict()`` next to the model's and resume with :meth:`load_state_dict`.
    """

    def __init__(
        self,
        model: nn.Module,
        lr: float = 0.05,
        tau: float | None = 0.1,
        rank_max: int | float | None = None,
        momentum: float = 0.0,
    ) -> None:
        check_module(model)
        checks.check_real(lr, "lr", low=0)
        checks.check_real(tau, "tau", low=0, high=1, open_high=True, optional=True)
        if rank_max is not None and not (
            (isinstance(rank_max, float) and 0 < rank_max <= 1)
            or (isinstance(rank_max, int) and not isinstance(rank_max, bool) and rank_max >= 1)
        ):
            raise ValueError(
                f"rank_max must be a positive int or a fraction in (0, 1], got {rank_max!r}"
            )
        checks.check_real(momentum, "momentum", low=0, high=1, open_high=True)
        self.model, self.lr, self.tau = model, lr, tau
        self.rank_max = 0.5 if rank_max is None else rank_max
        self.momentum = momentum
        self.layers = [m for m in model.modules() if isinstance(m, _LowRankBase)]
        if not self.layers:
            raise ValueError("model has no low-rank layers; convert it with to_low_rank()")
        self._buffers: dict[int, torch.Tensor] = {}

    def zero_grad(self) -> None:
        for p in self.model.parameters():
            p.grad = None

    def _named_keys(self) -> dict[str, object]:
        """Names of the objects that carry momentum: plain parameters and low-rank layers."""
        factors = {id(p) for m in self.layers for p in m.factor_params()}
        named: dict[str, object] = {
            f"param:{n}": p for n, p in self.model.named_parameters() if id(p) not in factors
        }
        layers = {id(m) for m in self.layers}
        named.update({f"layer:{n}": m for n, m in self.model.named_modules() if id(m) in layers})
        return named

    def state_dict(self) -> dict:
        """``lr``, ``tau``, ``rank_max``, ``momentum`` and the momentum buffers by name (plain
        tensors and numbers: loadable with ``torch.load(..., weights_only=True)``)."""
        buffers = {
            name: self._buffers[id(obj)]
            for name, obj in self._named_keys().items()
            if id(obj) in self._buffers
        }
        return {
            "lr": self.lr,
            "tau": self.tau,
            "rank_max": self.rank_max,
            "momentum": self.momentum,
            "buffers": buffers,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved (load the model's state dict first)."""
        missing = {"lr", "tau", "rank_max", "momentum", "buffers"} - set(state)
        if missing:
            raise ValueError(f"state is not a DLRT state dict: missing {sorted(missing)}")
        named = self._named_keys()
        unknown = set(state["buffers"]) - set(named)
        if unknown:
            raise ValueError(f"state has momentum buffers for unknown names {sorted(unknown)}")
        self.lr, self.tau = state["lr"], state["tau"]
        self.rank_max, self.momentum = state["rank_max"], state["momentum"]
        self._buffers = {id(named[n]): b.clone() for n, b in state["buffers"].items()}

    def _direction(self, key: object, g: torch.Tensor) -> torch.Tensor:
        """Heavy-ball direction ``D ← μD + G`` (``G`` itself without momentum)."""
        if not self.momentum:
            return g
        buf = self._buffers.get(id(key))
        buf = g.clone() if buf is None else buf.mul_(self.momentum).add_(g)
        self._buffers[id(key)] = buf
        return buf

    @torch.no_grad()
    def step(self) -> None:
        factors = {id(p) for m in self.layers for p in m.factor_params()}
        for p in self.model.parameters():
            if id(p) not in factors and p.grad is not None:
                p.add_(self._direction(p, p.grad), alpha=-self.lr)
        for layer in self.layers:
            if layer._w is None or layer._w.grad is None:
                continue
            self._layer_step(layer, self._direction(layer, layer._w.grad))

    def _caps(self, layer: _LowRankBase) -> tuple[int, ...]:
        full = layer._full_ranks()
        if isinstance(self.rank_max, float):
            return tuple(_fraction(self.rank_max, f) for f in full)
        return tuple(min(self.rank_max, f) for f in full)

    def _layer_step(self, layer: _LowRankBase, d: torch.Tensor) -> None:
        lr, y = self.lr, layer.tucker()

        def k_step(i: int, k0: torch.Tensor, v0: torch.Tensor) -> torch.Tensor:
            return k0 - lr * (lowrank.unfold(d, i) @ v0)

        def s_step(c0: torch.Tensor, bases: tuple) -> torch.Tensor:
            proj = tuple(None if b is None else b.T for b in bases)
            return c0 - lr * lowrank.tucker_to_dense(lowrank.TuckerLowRank(d, proj))

        new = lowrank.tucker_bug_step(
            y.core,
            y.factors,
            k_step=k_step,
            s_step=s_step,
            augment=self.tau is not None,
            tol=self.tau or None,
            rank_max=self._caps(layer),
            executor=None,
        )
        layer.set_tucker(new)
