"""Drawing networks and plotting convergence (matplotlib, an optional extra).

``draw(net)`` places nodes with a spring layout computed here (no networkx needed), draws
bonds labelled with their dimension, hyper-bonds as a small black dot joined to every node that
carries them, and open legs as short stubs ending in their label.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import checks
from .network import TensorNetwork


def _check_ax(ax: Any) -> None:
    if ax is not None and not (hasattr(ax, "figure") and hasattr(ax, "plot")):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg") if matplotlib.get_backend().lower() == "agg" else None
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plotting needs `pip install matplotlib` (tnkit[plot])") from err
    return plt


def _layout(n: int, edges: list[tuple[int, int]], seed: int = 0, steps: int = 300) -> np.ndarray:
    """Fruchterman–Reingold spring layout, deterministic from ``seed``; starts on a circle."""
    angle = 2 * np.pi * np.arange(n) / max(n, 1)
    pos = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    if n <= 2:
        return pos
    rng = np.random.default_rng(seed)
    pos += 0.01 * rng.standard_normal(pos.shape)
    k = 1.0 / np.sqrt(n)
    temp = 0.1
    for _ in range(steps):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.linalg.norm(delta, axis=-1) + 1e-9
        force = (k**2 / dist**2)[..., None] * delta
        disp = force.sum(axis=1)
        for i, j in edges:
            d = pos[i] - pos[j]
            f = np.linalg.norm(d) * d / k
            disp[i] -= f
            disp[j] += f
        length = np.linalg.norm(disp, axis=1, keepdims=True) + 1e-9
        pos += disp / length * np.minimum(length, temp)
        temp *= 0.99
    pos -= pos.mean(axis=0)
    return pos / (np.abs(pos).max() + 1e-9)


def draw(net: TensorNetwork, *, ax: Any = None, seed: int = 0, title: str | None = None) -> Any:
    """Draw ``net``: nodes, bonds labelled with their dimension, open legs. Returns the figure."""
    if not isinstance(net, TensorNetwork):
        raise TypeError(f"net must be a TensorNetwork, got {type(net).__name__}")
    if not len(net):
        raise ValueError("net is empty: there is nothing to draw")
    seed = checks.check_seed(seed)
    _check_ax(ax)
    plt = _pyplot()
    names = list(net.nodes)
    index = {n: i for i, n in enumerate(names)}
    dims = net.leg_dims
    carriers: dict[str, list[int]] = {}
    for n in names:
        for g in dict.fromkeys(net.legs(n)):
            carriers.setdefault(g, []).append(index[n])
    hyper = [g for g, c in carriers.items() if len(c) >= 3]
    n_total = len(names) + len(hyper)
    edges = [(c[0], c[1]) for c in carriers.values() if len(c) == 2]
    edges += [(len(names) + h, i) for h, g in enumerate(hyper) for i in carriers[g]]
    pos = _layout(n_total, edges, seed=seed)
    fig = ax.figure if ax is not None else plt.figure(figsize=(5, 5)).gca().figure
    ax = ax or fig.axes[0]
    for g, c in carriers.items():
        if len(c) == 2:
            (x0, y0), (x1, y1) = pos[c[0]], pos[c[1]]
            ax.plot([x0, x1], [y0, y1], color="0.3", zorder=1)
            ax.text(
                (x0 + x1) / 2,
                (y0 + y1) / 2,
                str(dims[g]),
                fontsize=8,
                color="C3",
                zorder=3,
                ha="center",
                va="center",
                bbox={"fc": "white", "ec": "none", "pad": 0.5},
            )
    for h, g in enumerate(hyper):
        hx, hy = pos[len(names) + h]
        for i in carriers[g]:
            ax.plot([hx, pos[i][0]], [hy, pos[i][1]], color="0.3", zorder=1)
        ax.scatter([hx], [hy], s=30, color="black", zorder=2)
        ax.text(hx, hy + 0.07, f"{g}={dims[g]}", fontsize=8, color="C3", ha="center")
    centre = pos[: len(names)].mean(axis=0)
    for g in net.open_legs:
        i = carriers[g][0]
        direction = pos[i] - centre
        direction = direction / (np.linalg.norm(direction) + 1e-9) * 0.25
        end = pos[i] + direction
        ax.plot([pos[i][0], end[0]], [pos[i][1], end[1]], color="C0", zorder=1)
        ax.text(end[0], end[1], f"{g}={dims[g]}", fontsize=8, color="C0", ha="center", va="center")
    ax.scatter(pos[: len(names), 0], pos[: len(names), 1], s=400, color="C1", zorder=2)
    for n in names:
        ax.text(*pos[index[n]], n, fontsize=8, ha="center", va="center", zorder=4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.margins(0.25)
    if title:
        ax.set_title(title)
    return fig


def plot_history(
    history: list[float],
    *,
    ax: Any = None,
    label: str | None = None,
    ylabel: str = "relative error",
) -> Any:
    """Plot a convergence history (one value per sweep) on a log scale; returns the figure."""
    if isinstance(history, (str, bytes)):
        raise TypeError("history must be a sequence of numbers, got a string")
    try:
        values = np.asarray(history, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"history must be a sequence of numbers, got {history!r}") from None
    if values.ndim != 1:
        raise ValueError(f"history must be one-dimensional, got shape {values.shape}")
    _check_ax(ax)
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(np.arange(1, values.size + 1), values, marker="o", ms=3, label=label)
    ax.set_xlabel("sweep")
    ax.set_ylabel(ylabel)
    if label:
        ax.legend()
    return ax.figure
