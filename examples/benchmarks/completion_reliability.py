"""How often sparse Tucker and TR completion recover an exact low-rank tensor.

For each regime, ``--seeds`` data draws (seed ``s`` draws the tensor and its observed entries
from ``numpy.random.default_rng(s)``) are completed from their listed entries
(``SparseTensor(..., unlisted="missing")``); a draw counts as recovered when the relative
error on the entries not observed is below ``1e-6``. Reported: the count, and the median
sweeps and seconds of the recovered draws (one BLAS thread).

* Tucker — a ``30 × 35 × 40`` rank-(3, 4, 3) Tucker tensor (standard normal core and
  factors), each entry observed with probability 2, 3, 5 or 10 %:
  ``tk.tucker(sp, rank=[3, 4, 3], max_iter=300, stop_tol=1e-12)``.
* TR — exact rings with standard normal cores, a uniform sample of that fraction of the
  entries: ``tk.tr(sp, rank, tol=1e-10, max_iter=300)`` (``docs/formats/tr.md``).

Run: ``python examples/benchmarks/completion_reliability.py [--quick] [--seeds 8]``
(``--quick``: the hard regimes only, 3 draws each, under a minute).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if __name__ == "__main__":  # BLAS threads must be fixed before numpy loads its BLAS
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import numpy as np  # noqa: E402

import tnkit as tk  # noqa: E402

RECOVERED = 1e-6  # held-out relative error of a recovered draw

TUCKER = [((30, 35, 40), (3, 4, 3), p) for p in (0.02, 0.03, 0.05, 0.10)]
TR = [
    ((8,) * 5, 2, 0.10),
    ((10, 11, 12, 9), 3, 0.15),
    ((10, 11, 12, 9), 3, 0.10),
    ((20,) * 5, 2, 0.01),
]
QUICK = {"tucker": [TUCKER[0]], "tr": [TR[2]]}


def tucker_draw(shape: tuple[int, ...], ranks: tuple[int, ...], p: float, seed: int) -> tuple:
    """One Tucker fit; returns (held-out error, sweeps, seconds)."""
    rng = np.random.default_rng(seed)
    core = rng.standard_normal(ranks)
    factors = [rng.standard_normal((n, r)) for n, r in zip(shape, ranks)]
    x = tk.Tucker(core, factors).to_tensor()
    seen = rng.random(shape) < p
    sp = tk.SparseTensor.from_dense(x, mask=seen)
    start = time.perf_counter()
    fit = tk.tucker(sp, rank=list(ranks), max_iter=300, stop_tol=1e-12)
    seconds = time.perf_counter() - start
    err = np.linalg.norm((fit.to_tensor() - x)[~seen]) / np.linalg.norm(x[~seen])
    return float(err), len(fit.history), seconds


def tr_draw(shape: tuple[int, ...], rank: int, p: float, seed: int) -> tuple:
    """One TR fit; returns (held-out error, sweeps, seconds)."""
    rng = np.random.default_rng(seed)
    n = len(shape)
    x = tk.TR([rng.standard_normal((rank, shape[k], rank)) for k in range(n)]).to_tensor()
    listed = rng.choice(x.size, size=int(p * x.size), replace=False)
    seen = np.zeros(x.size, dtype=bool)
    seen[listed] = True
    seen = seen.reshape(shape)
    sp = tk.SparseTensor.from_dense(x, mask=seen)
    start = time.perf_counter()
    fit = tk.tr(sp, rank, tol=1e-10, max_iter=300)
    seconds = time.perf_counter() - start
    err = np.linalg.norm((fit.to_tensor() - x)[~seen]) / np.linalg.norm(x[~seen])
    return float(err), len(fit.history), seconds


def row(label: str, draws: list[tuple]) -> str:
    ok = [d for d in draws if d[0] < RECOVERED]
    sweeps = statistics.median(d[1] for d in ok) if ok else float("nan")
    secs = statistics.median(d[2] for d in ok) if ok else float("nan")
    worst = max(d[0] for d in draws)
    return f"| {label} | {len(ok)}/{len(draws)} | {sweeps:.0f} | {secs:.2f} | {worst:.1e} |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="hard regimes, 3 draws each")
    parser.add_argument("--seeds", type=int, default=None, help="data draws per regime (8)")
    parser.add_argument("--only", choices=["tucker", "tr"], default=None)
    args = parser.parse_args(argv)
    seeds = args.seeds or (3 if args.quick else 8)
    tucker = QUICK["tucker"] if args.quick else TUCKER
    tr = QUICK["tr"] if args.quick else TR
    print("| regime | recovered | median sweeps | median s | worst held-out |")
    print("|---|---|---|---|---|")
    if args.only != "tr":
        for shape, ranks, p in tucker:
            draws = [tucker_draw(shape, ranks, p, s) for s in range(seeds)]
            label = f"Tucker {'x'.join(map(str, shape))} {ranks}, {p:.0%}"
            print(row(label, draws), flush=True)
    if args.only != "tucker":
        for shape, rank, p in tr:
            draws = [tr_draw(shape, rank, p, s) for s in range(seeds)]
            print(row(f"TR {'x'.join(map(str, shape))} r{rank}, {p:.0%}", draws), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
