"""A ring fitted to a ring: ``tk.tr(y, rank)`` for a TT or TR ``y``, never forming its tensor.

Two measurements, both printed as tables:

1. Reliability. For 12 small random rings ``a, b, c`` (4-6 cores, modes 4-6, ranks 3, 3, 2)
   five targets are fitted at the given ranks: ``a + a`` (rank 3: exact), ``a + b`` (rank 4),
   ``a + 0.3 c`` (rank 4, and rank 5: exact) and ``a``'s tensor train (rank 3: exact). Each is
   fitted by ``tk.tr(y, rank)`` (the default start: the best of three after a few sweeps), by
   ALS from the rounding alone and from random cores alone (same sweep budget), and rounded by
   ``y.round(rank=)``. A fit "succeeds" when its error is within 5 % (plus 1e-6) of the best
   of the three ALS fits.
2. Speed. The same fit from the ring and from its dense tensor (``tk.tr(y.to_tensor(), rank)``,
   TR-SVD start then ALS), and on a 30-site ring that has no dense tensor to form.

Run: ``python examples/benchmarks/tr_of_ring.py`` (``--quick``: 4 instances, 1 timing run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import tnkit as tk  # noqa: E402
from tnkit.decompose import _common as cm  # noqa: E402
from tnkit.decompose import tr_als, tr_of_ring  # noqa: E402

MAX_ITER = 60
TOL = 1e-6


def random_ring(rng: np.random.Generator, rank: int, n: int, n_cores: int) -> tk.TR:
    return tk.TR([rng.standard_normal((rank, n, rank)) for _ in range(n_cores)])


def als_from(y: tk.TR, start: list) -> float:
    """Relative error of ALS from ``start`` (the budget of ``tk.tr``: MAX_ITER sweeps)."""
    fit = cm.Sweeps(
        lambda cores: tr_als.ring_sweep(y.cores, cores, y.norm() ** 2),
        MAX_ITER,
        1e-8,
        TOL,
        False,
        "ALS",
    )
    return fit.run(start)[1][-1]


def error(fit: tk.TR, y: tk.TR) -> float:
    return float((fit - y).norm() / y.norm())


def reliability(instances: int) -> None:
    names = [
        "a + a, rank 3",
        "a + b, rank 4",
        "a + 0.3c, rank 4",
        "a + 0.3c, rank 5",
        "TT of a, rank 3",
    ]
    methods = ["tk.tr (default)", "ALS from rounding", "ALS from random", "round(rank=)"]
    errors = {name: {m: [] for m in methods} for name in names}
    for inst in range(instances):
        rng = np.random.default_rng(100 + inst)
        n_cores, n = (4, 5, 6)[inst % 3], (4, 5, 6)[(inst // 3) % 3]
        a, b = random_ring(rng, 3, n, n_cores), random_ring(rng, 3, n, n_cores)
        c = random_ring(rng, 2, n, n_cores)
        targets = [a + a, a + b, a + 0.3 * c, a + 0.3 * c, tk.TR(a.to_tt().cores)]
        for name, y, r in zip(names, targets, (3, 4, 4, 5, 3)):
            ranks = (r,) * n_cores
            got = errors[name]
            got["tk.tr (default)"].append(tk.tr(y, r, max_iter=MAX_ITER, tol=TOL).history[-1])
            got["ALS from rounding"].append(als_from(y, tr_of_ring.rounded_start(y, ranks, inst)))
            start = tr_als.random_cores(y.shape, ranks, y.cores[0], inst, y.norm())
            got["ALS from random"].append(als_from(y, start))
            got["round(rank=)"].append(error(y.round(rank=r), y))
    print(f"\nReliability ({instances} instances; success = within 5 % of the best ALS fit)\n")
    print("| target | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for name in names:
        best = np.min([errors[name][m] for m in methods[:3]], axis=0)
        cells = []
        for m in methods:
            e = np.array(errors[name][m])
            ok = int(np.sum(e <= best * 1.05 + 1e-6))
            cells.append(f"{ok}/{instances}, median {np.median(e):.2g}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def timed(fn, repeats: int, *args, **kwargs) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def speed(repeats: int) -> None:
    print(f"\nSpeed (median of {repeats} runs, OPENBLAS_NUM_THREADS=1)\n")
    print("| target | fit | seconds | relative error |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(7)
    for n_cores, n, r in ((8, 8, 4), (30, 4, 6)):
        a, b = random_ring(rng, r, n, n_cores), random_ring(rng, r, n, n_cores)
        for name, y in (("a + a", a + a), ("a + 0.5 b", a + (0.5 * a.norm() / b.norm()) * b)):
            label = f"{n_cores} cores, n = {n}: {name} (ranks {2 * r}) at rank {r}"
            sec, fit = timed(tk.tr, repeats, y, r, max_iter=20)
            print(f"| {label} | from the ring | {sec:.3f} | {fit.history[-1]:.2g} |")
            sec, rounded = timed(y.round, repeats, rank=r)
            print(f"| {label} | round(rank=) | {sec:.3f} | {error(rounded, y):.2g} |")
            if n**n_cores > 2**24:
                size = f"{float(n) ** n_cores:.1e}"
                print(f"| {label} | from the dense tensor | ({size} entries: not formed) | |")
                continue
            x = y.to_tensor()
            sec, fit = timed(tk.tr, repeats, x, r, max_iter=20)
            what = f"from the dense tensor ({x.size:.2g} entries)"
            print(f"| {label} | {what} | {sec:.3f} | {fit.history[-1]:.2g} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 instances, one timing run")
    args = parser.parse_args()
    reliability(4 if args.quick else 12)
    speed(1 if args.quick else 3)


if __name__ == "__main__":
    main()
