"""TT-cross benchmark: ``tk.tt_cross`` against tntorch 1.1.2 ``tntorch.cross`` in the same run.

Three black-box functions on grids far too large to form (the grid points x_k are the indices
mapped linearly onto an interval):

1. ``sum_k sin(i_k / 3)`` on 10^8 and 10^15 (exact TT rank 2; on 10^8 also at 1e-8);
2. ``1 / (1 + sum_k x_k)``, x_k in [0, 1], on 10^8 and 10^15 (smooth, ranks grow with the
   accuracy);
3. ``exp(-||x||_2)``, x_k in [-1, 1], on 16^6 and 16^10 (non-separable, Laplace-like).

Both sides get the same target accuracy (tnkit ``tol``, tntorch ``eps``) and the same rank cap.
Reported: the median time of ``--repeats`` interleaved runs (BLAS and torch on ``--threads``
threads), the number of function evaluations (tnkit: distinct entries, from its cache; tntorch:
every row passed to the function, its validation samples included), the largest bond rank and
the relative error ``||approx - f||_2 / ||f||_2`` at the same 10^4 random grid points for both;
evaluations and errors are medians over the runs (run r uses seed r on both sides), ranks the
range of the largest bond rank over the runs.
Run: ``python examples/benchmarks/tt_cross.py [--quick]`` (``--quick``: the three small grids).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

if __name__ == "__main__":  # BLAS threads must be fixed before numpy/torch load their BLAS
    _threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _threads

import numpy as np  # noqa: E402

import tnkit as tk  # noqa: E402


def sin_sum(x: np.ndarray) -> np.ndarray:
    return np.sum(np.sin(x / 3.0), axis=1)


def inverse_sum(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.sum(x / 9.0, axis=1))  # n = 10: x_k = i_k / 9 in [0, 1]


def laplace(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.sqrt(np.sum((2.0 * x / 15.0 - 1.0) ** 2, axis=1)))  # n = 16: [-1, 1]


def cases(quick: bool) -> list[tuple[str, int, int, float, Callable[[np.ndarray], np.ndarray]]]:
    """(name, n, N, tol, f of the index rows as floats, shape (m, N))."""
    small = [
        ("sum sin(i_k/3)", 10, 8, 1e-6, sin_sum),
        ("sum sin(i_k/3)", 10, 8, 1e-8, sin_sum),
        ("1/(1+sum x_k)", 10, 8, 1e-6, inverse_sum),
        ("exp(-||x||)", 16, 6, 1e-6, laplace),
    ]
    large = [
        ("sum sin(i_k/3)", 10, 15, 1e-6, sin_sum),
        ("1/(1+sum x_k)", 10, 15, 1e-6, inverse_sum),
        ("exp(-||x||)", 16, 10, 1e-6, laplace),
    ]
    return small if quick else small + large


def tt_values(cores: list[np.ndarray], idx: np.ndarray) -> np.ndarray:
    """Entries of the TT with these 3-D cores at the rows of ``idx``."""
    v = np.ones((idx.shape[0], 1))
    for k, c in enumerate(cores):
        v = np.einsum("mr,rms->ms", v, c[:, idx[:, k], :])
    return v[:, 0]


def run_tnkit(f: Callable, n: int, d: int, tol: float, rmax: int, seed: int) -> tuple[list, int]:
    g = lambda i: f(i.astype(np.float64))  # noqa: E731
    t = tk.tt_cross(g, (n,) * d, tol=tol, max_rank=rmax, seed=seed)
    return t.cores, t.options["n_evaluations"]


def run_tntorch(f: Callable, n: int, d: int, tol: float, rmax: int, seed: int) -> tuple[list, int]:
    import tntorch
    import torch

    torch.manual_seed(seed)  # tntorch draws its start and validation set from torch and numpy
    np.random.seed(seed)

    count = [0]

    def g(x: Any) -> Any:
        count[0] += int(x.shape[0])
        return torch.from_numpy(f(x.numpy()))

    domain = [torch.arange(n, dtype=torch.float64)] * d
    t = tntorch.cross(
        function=g,
        domain=domain,
        function_arg="matrix",
        eps=tol,
        rmax=rmax,
        verbose=False,
        suppress_warnings=True,
    )
    assert all(u is None for u in t.Us)
    return [c.numpy() for c in t.cores], count[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rmax", type=int, default=60)
    args = parser.parse_args()
    from importlib.metadata import version

    import torch

    torch.set_num_threads(args.threads)
    print(
        f"{platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}, torch {torch.__version__}, tntorch {version('tntorch')}, "
        f"{args.threads} thread(s), medians of {args.repeats} interleaved runs"
    )
    rows = []
    for name, n, d, tol, f in cases(args.quick):
        idx = np.random.default_rng(1).integers(0, n, size=(10_000, d))
        y = f(idx.astype(np.float64))
        runs: dict[str, list[tuple[float, int, int, float]]] = {"tnkit": [], "tntorch": []}
        for seed in range(args.repeats):  # interleaved; seed r on both sides in repeat r
            for side, fn in (("tnkit", run_tnkit), ("tntorch", run_tntorch)):
                start = time.perf_counter()
                cores, evals = fn(f, n, d, tol, args.rmax, seed)
                elapsed = time.perf_counter() - start
                err = np.linalg.norm(tt_values(cores, idx) - y) / np.linalg.norm(y)
                rank = max(int(c.shape[2]) for c in cores[:-1])
                runs[side].append((elapsed, evals, rank, float(err)))
        line = {}
        for side, rs in runs.items():  # medians over the runs; ranks as min-max
            ranks = sorted(r[2] for r in rs)
            line[side] = (
                statistics.median(r[0] for r in rs),
                int(statistics.median(r[1] for r in rs)),
                f"{ranks[0]}" if ranks[0] == ranks[-1] else f"{ranks[0]}-{ranks[-1]}",
                statistics.median(r[3] for r in rs),
            )
        rows.append((f"{name}, {n}^{d}", tol, line))
    print(
        "| function | tol/eps | tnkit s | tntorch s | speed-up | evals tnkit | evals tntorch "
        "| max rank tnkit | max rank tntorch | error tnkit | error tntorch |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, tol, line in rows:
        (ta, ea, ra, xa), (tb, eb, rb, xb) = line["tnkit"], line["tntorch"]
        print(
            f"| {name} | {tol:.0e} | {ta:.3f} | {tb:.3f} | {tb / ta:.1f}x | {ea} | {eb} "
            f"| {ra} | {rb} | {xa:.1e} | {xb:.1e} |"
        )


if __name__ == "__main__":
    main()
