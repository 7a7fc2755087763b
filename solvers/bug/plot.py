"""Plot a BUG history: magnetisation (or the first observable), norm, energy and ranks."""

from __future__ import annotations

from typing import Any

import numpy as np


def plot_history(history: dict[str, Any], path: str | None = None) -> Any:
    """Four panels over time; saved to ``path`` when given. Returns the matplotlib figure."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(history["time"])
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True)
    obs = history.get("observables", {})
    ax = axes[0, 0]
    if obs:
        for name, values in obs.items():
            ax.plot(t, values, label=name)
        ax.legend()
    ax.set_ylabel("observable")
    norm = np.asarray(history["norm"])
    axes[0, 1].semilogy(t, np.abs(norm - norm[0]) + 1e-17)
    axes[0, 1].set_ylabel("|norm - norm(0)|")
    energy = history.get("energy", [])
    if energy and energy[0] is not None:
        e = np.asarray(energy, dtype=float)
        axes[1, 0].semilogy(t, np.abs(e - e[0]) + 1e-17)
    axes[1, 0].set_ylabel("|energy - energy(0)|")
    axes[1, 1].step(t, history["max_rank"], where="post")
    axes[1, 1].set_ylabel("max bond rank")
    for a in axes[1]:
        a.set_xlabel("time")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
