"""``python -m tnkit.demo``: the README's demo on bundled data — prints one summary table.

Each job is a function returning rows ``(job, what, error, params, seconds)``; plots go to the
folder given by ``--out``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

from . import datasets
from .network import TensorNetwork

Row = tuple[str, str, float, int, float]


def split_chain(x: np.ndarray, tol: float) -> TensorNetwork:
    """Split the one-node network of ``x`` into a chain, mode by mode, each split at ``tol``.

    Each SVD may discard ``tol * ||x|| / sqrt(N - 1)``, so the chain's error is at most ``tol``.
    """
    legs = [f"i{k}" for k in range(x.ndim)]
    net = TensorNetwork().add_node("rest", x, legs)
    budget = tol * float(np.linalg.norm(x)) / np.sqrt(x.ndim - 1)
    for k in range(x.ndim - 1):
        left = [legs[k]] + ([f"b{k}"] if k else [])
        net = net.split_node(
            "rest",
            left,
            absorb="right",
            names=(f"core{k}", "rest"),
            bond=f"b{k + 1}",
            tol=budget / max(float(np.linalg.norm(net["rest"])), 1e-300),
        )
    return net


def inspect_job(out: str) -> list[Row]:
    """Fold the bundled coffee photograph into a 4^8 tensor and split it into a chain."""
    x = datasets.image_tensor("coffee", order=8)
    rows = []
    for tol in (0.2, 0.1, 0.05):
        t0 = time.perf_counter()
        net = split_chain(x, tol)
        seconds = time.perf_counter() - t0
        err = float(np.linalg.norm(net.contract() - x) / np.linalg.norm(x))
        rows.append(("inspect", f"chain of splits, tol={tol}", err, net.n_params, seconds))
    fig = net.draw(title="coffee 4^8, chain at tol=0.05")
    fig.savefig(os.path.join(out, "chain.png"), dpi=100, bbox_inches="tight")
    print(net.summary())
    return rows


JOBS: dict[str, Callable[[str], list[Row]]] = {"inspect": inspect_job}


def format_table(rows: list[Row]) -> str:
    """The summary table the demo prints."""
    head = f"{'job':<10} {'what':<44} {'rel. error':>10} {'params':>9} {'seconds':>8}"
    lines = [head, "-" * len(head)]
    lines += [f"{j:<10} {w:<44} {e:10.4f} {p:9,d} {s:8.2f}" for j, w, e, p, s in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tnkit.demo", description=__doc__)
    parser.add_argument("--out", default="out/demo", help="folder for the plots")
    parser.add_argument("--jobs", nargs="*", default=list(JOBS), choices=list(JOBS))
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rows: list[Row] = []
    for name in args.jobs:
        rows += JOBS[name](args.out)
    print()
    print(format_table(rows))
    print(f"\nplots written to {os.path.abspath(args.out)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
