"""``SearchResult``: the best network found, its structure and the trajectory of the search."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import tnkit as tk
from tnkit import io

from .structure import Structure


@io.register
class SearchNetwork(tk.TensorNetwork):
    """A found network saved together with its search record (``.search``, JSON-able)."""

    search: dict

    def _saved_attrs(self) -> dict:
        return {"search": getattr(self, "search", {})}

    def _restore_attrs(self, attrs: dict) -> None:
        self.search = attrs.get("search", {})


@dataclass
class SearchResult:
    """Outcome of :func:`greedy`, :func:`tnale` or :func:`tnls`.

    Attributes
    ----------
    network
        The fitted best network (nodes ``n{mode}``, open legs ``i0..i{N-1}``; internal nodes
        ``h0, h1, ...`` when greedy ran with ``internal_nodes=True``).
    structure
        Its :class:`Structure`.
    rse, n_params, f
        Relative error (on the observed entries), parameter count, objective value.
    n_evaluations
        Evaluations spent; ``best_evaluation`` is the one that first found the best.
    history
        One dict per fitted candidate: ``evaluation``, ``f``, ``rse``, ``n_params``.
    wall_time
        Seconds of the whole search; ``interrupted`` is true after Ctrl-C.
    """

    network: tk.TensorNetwork
    structure: Structure
    rse: float
    n_params: int
    f: float
    n_evaluations: int
    best_evaluation: int
    history: list[dict]
    wall_time: float
    method: str
    options: dict = field(default_factory=dict)
    interrupted: bool = False

    @property
    def compression(self) -> float:
        """Dense size over the parameter count."""
        return self.network.size / max(self.n_params, 1)

    def first_hit(self, max_rse: float, max_params: int | None = None) -> int | None:
        """The first evaluation whose fit has ``rse <= max_rse`` (and at most ``max_params``)."""
        for h in self.history:
            if h["rse"] <= max_rse and (max_params is None or h["n_params"] <= max_params):
                return h["evaluation"]
        return None

    def summary(self) -> str:
        """A few lines describing the result."""
        return (
            f"{self.method}: {self.structure!r}\n"
            f"rse {self.rse:.3e}  params {self.n_params:,}  compression {self.compression:.3g}x  "
            f"f {self.f:.5g}\n"
            f"{self.n_evaluations} evaluations (best at #{self.best_evaluation}) in "
            f"{self.wall_time:.1f} s" + ("  [interrupted]" if self.interrupted else "")
        )

    def plot(self, ax: Any = None) -> Any:
        """The trajectory: objective of each evaluation and the best so far; returns the figure."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ev = [h["evaluation"] for h in self.history]
        f = [h["f"] for h in self.history]
        best = [min(f[: i + 1]) for i in range(len(f))]
        ax.semilogy(ev, f, ".", ms=3, alpha=0.5, label="evaluated")
        ax.semilogy(ev, best, "-", label="best so far")
        ax.set_xlabel("evaluation")
        ax.set_ylabel("objective f")
        ax.set_title(f"{self.method}: {self.n_params} params, RSE {self.rse:.2e}")
        ax.legend()
        return ax.figure

    def save(self, path: str | os.PathLike) -> None:
        """Save the network and the search record to one ``.npz`` (read back by :meth:`load`)."""
        net = SearchNetwork()
        for name in self.network.nodes:
            net.add_node(name, self.network[name], self.network.legs(name))
        net.search = {
            "structure": self.structure.to_json(),
            "rse": self.rse,
            "n_params": self.n_params,
            "f": self.f,
            "n_evaluations": self.n_evaluations,
            "best_evaluation": self.best_evaluation,
            "history": self.history,
            "wall_time": self.wall_time,
            "method": self.method,
            "options": self.options,
            "interrupted": self.interrupted,
        }
        io.save(net, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SearchResult:
        """Read a result written by :meth:`save`."""
        net = io.load(path)
        record = getattr(net, "search", None)
        if not record:
            raise ValueError(f"{path} holds a network but no search record")
        plain = tk.TensorNetwork()
        for name in net.nodes:
            plain.add_node(name, net[name], net.legs(name))
        record = dict(record, structure=Structure.from_json(record["structure"]))
        return cls(network=plain, **record)
