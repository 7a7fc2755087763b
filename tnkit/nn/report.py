"""Measured costs of layers and the report that :func:`tnkit.nn.compress` returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ._checks import check_module, check_tensor, user_data


def count_params(module: nn.Module) -> int:
    """Number of parameters (weights and biases) of ``module``."""
    check_module(module, "module")
    return sum(p.numel() for p in module.parameters())


def count_macs(module: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates per sample of ``module(x)``, measured by ``FlopCounterMode``
    (which sees every matmul/convolution, including the ones inside ``nn.Sequential``)."""
    check_module(module, "module")
    check_tensor(x, "x")
    with torch.no_grad(), FlopCounterMode(display=False) as counter, user_data("x"):
        module(x)
    return counter.get_total_flops() // 2 // max(int(x.shape[0]), 1)


@dataclass
class LayerReport:
    """One compressed layer: what it became and what that cost and saved."""

    name: str
    layer: str
    method: str
    ranks: tuple[int, ...]
    params_before: int
    params_after: int
    macs_before: int | None = None
    macs_after: int | None = None
    weight_error: float = 0.0
    output_error: float | None = None


@dataclass
class CompressionReport:
    """Per-layer rows, notes on skipped layers, and the whole model's output error."""

    layers: list[LayerReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output_error: float | None = None

    @property
    def params_before(self) -> int:
        return sum(r.params_before for r in self.layers)

    @property
    def params_after(self) -> int:
        return sum(r.params_after for r in self.layers)

    @property
    def macs_before(self) -> int | None:
        return _total(r.macs_before for r in self.layers)

    @property
    def macs_after(self) -> int | None:
        return _total(r.macs_after for r in self.layers)

    def to_dict(self) -> dict:
        """JSON-able form (per-layer rows, notes, totals)."""
        return {
            "layers": [asdict(r) for r in self.layers],
            "notes": list(self.notes),
            "output_error": self.output_error,
            "params_before": self.params_before,
            "params_after": self.params_after,
            "macs_before": self.macs_before,
            "macs_after": self.macs_after,
        }

    def __str__(self) -> str:
        head = ("layer", "type", "method", "ranks", "params", "MACs", "weight err", "output err")
        rows = [head]
        for r in self.layers:
            rows.append(
                (
                    r.name,
                    r.layer,
                    r.method,
                    "x".join(str(k) for k in r.ranks),
                    f"{r.params_before:,} -> {r.params_after:,}",
                    _pair(r.macs_before, r.macs_after),
                    f"{r.weight_error:.3g}",
                    "-" if r.output_error is None else f"{r.output_error:.3g}",
                )
            )
        rows.append(
            (
                "total",
                "",
                "",
                "",
                f"{self.params_before:,} -> {self.params_after:,}",
                _pair(self.macs_before, self.macs_after),
                "",
                "-" if self.output_error is None else f"{self.output_error:.3g}",
            )
        )
        widths = [max(len(row[j]) for row in rows) for j in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _pair(before: int | None, after: int | None) -> str:
    return "-" if before is None else f"{before:,} -> {after:,}"


def _total(values) -> int | None:
    values = list(values)
    return None if not values or any(v is None for v in values) else sum(values)
