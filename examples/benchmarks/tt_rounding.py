"""Rounding a sum of m tensor trains: deterministic against randomized, with tntorch 1.1.

The sum of m TTs of rank r is a TT of rank m r (block cores); rounding it back to rank r
costs ``O(N n (m r)³)`` deterministically (tnkit ``sum(terms).round(rank=r)``, tntorch
``sum(terms).round_tt(rmax=r)``) and ``O(N n m r ℓ (r + ℓ))`` with tnkit's randomized
rounding (``tk.tt_round_sum(terms, rank=r)``, sketch rank ``ℓ = r + 10``; Al Daas et al.,
SIAM J. Sci. Comput. 2023), which never forms the sum's cores.

Two kinds of sums, m = 2, 5, 10, 20 terms of 30 sites, mode size 4, rank r (default 10):

* ``independent``: m independent random TTs. Their sum has a flat spectrum, so no method can
  round it to rank r accurately (errors near 1); the row shows the cost and how far the
  randomized error is from the deterministic one.
* ``near-copies``: ``a + 0.1 b_j`` for one random TT ``a`` and independent random ``b_j``
  (cores perturbed, as in ``peers.py``): a sum close to rank r, where the error is small and
  its ratio to the deterministic one is the fair measure of accuracy.

Errors are ``||S - Y|| / ||S||`` against the exact sum ``S``, from TT inner products of the
difference (float64). Times are medians of ``--repeats`` interleaved runs after one untimed
warm-up call each, one BLAS/torch thread.
Run: ``python examples/benchmarks/tt_rounding.py [--quick] [--rank 16] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import warnings
from typing import Any

if __name__ == "__main__":  # BLAS threads must be fixed before numpy loads its BLAS
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import numpy as np  # noqa: E402
from decompositions import timed  # noqa: E402

import tnkit as tk  # noqa: E402


def random_cores(sites: int, n: int, r: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Cores of a random TT with bond ranks ``r`` and norm O(1)."""
    ranks = [1] + [r] * (sites - 1) + [1]
    return [
        rng.standard_normal((ranks[k], n, ranks[k + 1])) / np.sqrt(ranks[k] * n)
        for k in range(sites)
    ]


def terms_of(kind: str, m: int, sites: int, n: int, r: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(m)
    if kind == "independent":
        return [random_cores(sites, n, r, rng) for _ in range(m)]
    base = random_cores(sites, n, r, rng)
    return [[a + 0.1 * e for a, e in zip(base, random_cores(sites, n, r, rng))] for _ in range(m)]


def total(terms: list[Any]) -> Any:
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


def distance(exact: tk.TT, approx: tk.TT) -> float:
    """``||exact - approx|| / ||exact||`` from TT inner products."""
    d = exact - approx
    return float(np.sqrt(abs(float(d.dot(d))) / abs(float(exact.dot(exact)))))


def bench(kind: str, m: int, sites: int, n: int, r: int, repeats: int) -> dict:
    import tntorch
    import torch

    cores = terms_of(kind, m, sites, n, r)
    terms = [tk.TT(c) for c in cores]
    peers = [tntorch.Tensor([torch.from_numpy(c) for c in cs]) for cs in cores]

    def tntorch_round() -> Any:
        s = total(peers)
        s.round_tt(eps=1e-14, rmax=r)
        return s

    fns = {
        "deterministic": lambda: total(terms).round(rank=r),
        "randomized": lambda: tk.tt_round_sum(terms, rank=r, seed=0),
        "tntorch": tntorch_round,
    }
    for fn in fns.values():  # warm-up
        fn()
    res = timed(fns, repeats)
    exact = total(terms)
    results = {k: v[1] for k, v in res.items()}
    results["tntorch"] = tk.TT([c.numpy() for c in results["tntorch"].cores])
    row: dict[str, Any] = dict(kind=kind, m=m)
    for k, v in results.items():
        row[f"{k}_s"] = res[k][0]
        row[f"{k}_err"] = distance(exact, v)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10 sites, rank 6, m = 2, 5; 1 repeat")
    p.add_argument("--rank", type=int, default=10, help="rank of each term and target rank")
    p.add_argument("--sites", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    warnings.filterwarnings("ignore")  # tntorch warns about deprecated torch use
    from importlib.metadata import version

    import torch

    torch.set_num_threads(1)
    sites, r = (10, 6) if args.quick else (args.sites, args.rank)
    ms = (2, 5) if args.quick else (2, 5, 10, 20)
    repeats = 1 if args.quick else args.repeats
    n = 4
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, Python "
        f"{sys.version.split()[0]}, numpy {np.__version__}, torch {torch.__version__}, "
        f"tntorch {version('tntorch')}; one thread; {sites} sites, n = {n}, rank {r} -> {r}, "
        f"sketch rank {r + 10}; medians of {repeats}"
    )
    print(
        "\n| sum | m | det. s | rand. s | tntorch s | det./rand. | tntorch/rand. "
        "| err det. | err rand. | err tntorch | rand./det. err |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in ("independent", "near-copies"):
        for m in ms:
            w = bench(kind, m, sites, n, r, repeats)
            print(
                f"| {kind} | {m} | {w['deterministic_s']:.3f} | {w['randomized_s']:.3f} | "
                f"{w['tntorch_s']:.3f} | {w['deterministic_s'] / w['randomized_s']:.1f}x | "
                f"{w['tntorch_s'] / w['randomized_s']:.1f}x | {w['deterministic_err']:.3g} | "
                f"{w['randomized_err']:.3g} | {w['tntorch_err']:.3g} | "
                f"{w['randomized_err'] / w['deterministic_err']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
