"""``tnkit demo``: the README's demo — the four jobs of tnkit on bundled real data.

1. decompose: the bundled astronaut photograph (128 x 128 x 3) by CP, Tucker, TT and TR;
2. search: a structure search for the gray coffee photograph folded into a 4^6 tensor;
3. evolve: the transverse-field Ising chain (8 spins on a binary tree) by rank-adaptive BUG;
4. compress: a small CNN trained on scikit-learn's digits, compressed with Tucker-2 and
   fine-tuned for one epoch.

It prints one summary table and writes the plots to ``--out``. Each job is a function
returning table rows ``(job, what, error, params, seconds)``. This lives in the CLI package
because only the CLI may import ``solvers``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

Row = tuple[str, str, str, int, float]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run the four jobs of tnkit on bundled data")
    p.add_argument("--out", default="out/demo", help="folder for the plots (default out/demo)")
    p.add_argument(
        "--jobs",
        nargs="*",
        default=list(JOBS),
        choices=list(JOBS),
        help="which jobs to run (default: all)",
    )
    return p


def _rel(x: np.ndarray, approx: np.ndarray) -> float:
    return float(np.linalg.norm(approx - x) / np.linalg.norm(x))


def decompose_job(out: str) -> list[Row]:
    """CP, Tucker, TT and TR of a real colour image; error against parameters."""
    import tnkit as tk
    from tnkit import datasets, plot

    x = datasets.image("astronaut")
    runs = {
        "CP rank 40": lambda: tk.cp(x, 40, max_iter=50, seed=0),
        "Tucker tol 0.1": lambda: tk.tucker(x, tol=0.1),
        "TT tol 0.1": lambda: tk.tt(x, tol=0.1),
        "TR rank (2, 12, 12)": lambda: tk.tr(x, rank=(2, 12, 12), max_iter=20, seed=0),
    }
    rows = []
    for what, fit in runs.items():
        t0 = time.perf_counter()
        fmt = fit()
        seconds = time.perf_counter() - t0
        err = _rel(x, np.asarray(fmt.to_tensor()))
        rows.append(
            ("decompose", f"astronaut 128x128x3, {what}", f"{err:.4f}", fmt.n_params, seconds)
        )
    fig = plot._pyplot().figure(figsize=(5, 3.5))
    ax = fig.gca()
    for _, what, err, params, _ in rows:
        ax.scatter(params, float(err), label=what.split(", ")[1])
    ax.set_xlabel("parameters")
    ax.set_ylabel("relative error")
    ax.legend(fontsize=8)
    fig.savefig(os.path.join(out, "decompose.png"), dpi=100, bbox_inches="tight")
    return rows


def search_job(out: str) -> list[Row]:
    """Greedy structure search on a real image tensor, compared with TT-SVD at its error."""
    import tnkit as tk
    from solvers import search
    from tnkit import datasets

    img = datasets.image("coffee")[::4, ::4]  # 64 x 64
    x = img.reshape((4,) * 6)
    t0 = time.perf_counter()
    res = search.greedy(x, target_rse=0.15, budget=300, seed=0)
    seconds = time.perf_counter() - t0
    tt = tk.tt(x, tol=max(res.rse, 1e-6))
    fig = res.plot()
    fig.savefig(os.path.join(out, "search.png"), dpi=100, bbox_inches="tight")
    res.network.draw(title="found network").savefig(
        os.path.join(out, "search_network.png"), dpi=100, bbox_inches="tight"
    )
    return [
        (
            "search",
            f"coffee 4^6, greedy ({res.n_evaluations} evaluations)",
            f"{res.rse:.4f}",
            res.n_params,
            seconds,
        ),
        (
            "search",
            "coffee 4^6, TT-SVD with tol = that error",
            f"{_rel(x, tt.to_tensor()):.4f}",
            tt.n_params,
            0.0,
        ),
    ]


def evolve_job(out: str) -> list[Row]:
    """Rank-adaptive BUG for the transverse-field Ising model; error against the exact state."""
    from solvers import bug
    from solvers.bug import plot as bug_plot
    from solvers.bug import problems

    n = 8
    op = problems.transverse_field_ising(n, J=1.0, g=1.0)
    tree = problems.binary_tree(n)
    y0 = problems.all_up(tree, rank=2)
    obs = {"magnetization": problems.magnetization(n, "z")}
    t0 = time.perf_counter()
    run = bug.integrate(op, y0, 1.0, dt=1 / 32, method="adaptive", tol=1e-8, observables=obs)
    seconds = time.perf_counter() - t0
    exact = problems.reference(op, y0.to_tensor(), 1.0)
    err = _rel(exact, np.asarray(run.state.to_tensor()))
    bug_plot.plot_history(run.history, os.path.join(out, "evolve.png"))
    return [
        (
            "evolve",
            f"Ising {n} spins, adaptive BUG, T=1, h=1/32, max rank {max(run.history['max_rank'])}",
            f"{err:.2e}",
            run.state.n_params,
            seconds,
        )
    ]


def compress_job(out: str) -> list[Row]:
    """Train a small CNN on the bundled digits, compress it with Tucker-2, fine-tune once."""
    import torch
    from sklearn.datasets import load_digits
    from torch import nn

    import tnkit.nn as tnn

    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(digits.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, test = order[:1300], order[1300:]
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 16, 10),
    )
    loader = [(x[train][i : i + 64], y[train][i : i + 64]) for i in range(0, len(train), 64)]
    t0 = time.perf_counter()
    tnn.fine_tune(model, loader, epochs=3, lr=3e-3)
    acc = tnn.evaluate(model, [(x[test], y[test])])
    rows = [
        (
            "compress",
            "digits CNN, dense",
            f"acc {acc:.3f}",
            tnn.count_params(model),
            time.perf_counter() - t0,
        )
    ]
    conv = lambda name, m: isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)  # noqa: E731
    t0 = time.perf_counter()
    small, report = tnn.compress(
        model, "tucker", ratio=0.25, layers=conv, calibration=x[test][:256]
    )
    before = tnn.evaluate(small, [(x[test], y[test])])
    tnn.fine_tune(small, loader, epochs=1, lr=1e-3)
    after = tnn.evaluate(small, [(x[test], y[test])])
    with open(os.path.join(out, "compress_report.txt"), "w") as f:
        f.write(str(report) + "\n")
    rows.append(
        (
            "compress",
            f"Tucker-2 convs at 1/4 (acc before fine-tune {before:.3f})",
            f"acc {after:.3f}",
            tnn.count_params(small),
            time.perf_counter() - t0,
        )
    )
    return rows


JOBS: dict[str, Callable[[str], list[Row]]] = {
    "decompose": decompose_job,
    "search": search_job,
    "evolve": evolve_job,
    "compress": compress_job,
}


def format_table(rows: list[Row]) -> str:
    """The summary table the demo prints."""
    head = f"{'job':<10} {'what':<58} {'error':>10} {'params':>9} {'seconds':>8}"
    lines = [head, "-" * len(head)]
    lines += [f"{j:<10} {w:<58} {e:>10} {p:9,d} {s:8.2f}" for j, w, e, p, s in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    os.makedirs(args.out, exist_ok=True)
    rows: list[Row] = []
    for name in args.jobs:
        print(f"running {name} ...", flush=True)
        rows += JOBS[name](args.out)
    print()
    print(format_table(rows))
    print(f"\nplots written to {os.path.abspath(args.out)}/")
    return 0
