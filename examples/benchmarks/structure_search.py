"""Structure-search benchmark (issue 4): TnALE/TNLS, greedy, a natural image, Dask scaling.

Cases
-----
tnale   The TnALE demo: an exact order-6 tensor ring, mode size 3, bond ranks (3,4,2,2,3,2)
        around the vertex order [0,3,2,1,4,5] (126 parameters), normalised, lam = 200, ranks
        1..7. A hit is a fit with RSE <= 1e-4 and <= 126 parameters; each run stops at its
        first hit (or the budget). TNLS runs with the same budget for comparison.
greedy  Greedy-paper protocol: 7^5 targets with random normal cores, normalised — TT ranks
        [2,3,6,5] (427 parameters) and the "triangle" (378). Success: RSE <= 1e-5 with at most
        1.1x the true parameter count.
image   The bundled 256x256 grayscale `coffee` image (scikit-image's, in tnkit/data) reshaped
        to 4^8: the greedy network at RSE <= 0.10 against TT-SVD's fewest parameters at
        RSE <= 0.10 (scan of TT-SVD tolerances).
dask    The same TnALE search on a Dask LocalCluster with 1 and with 2 worker processes:
        identical result, and the ratio of evaluations per second.

Run ``python examples/benchmarks/structure_search.py [--quick] [--cases tnale,greedy,...]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tnkit as tk
from solvers import search
from solvers.search import Structure
from tnkit import datasets

TR_DEMO = Structure.topology("ring", (3, 4, 2, 2, 3, 2), (0, 3, 2, 1, 4, 5))
GREEDY_TARGETS = {
    "TT [2,3,6,5]": Structure.topology("chain", (2, 3, 6, 5)),
    "triangle": Structure.from_bonds(5, {(0, 1): 5, (1, 2): 2, (2, 3): 5, (1, 4): 2, (2, 4): 2}),
}


def exact(structure: Structure, shape: tuple[int, ...], seed: int) -> np.ndarray:
    x = structure.to_network(shape, seed).contract()
    return x / np.linalg.norm(x)


def stop_at_hit(max_rse: float, max_params: int):
    def progress(status: dict) -> bool:
        last = status["last"]
        return bool(last) and last["rse"] <= max_rse and last["n_params"] <= max_params

    return progress


def case_tnale(seeds: int, budget: int, workers: int) -> list[str]:
    x = exact(TR_DEMO, (3,) * 6, seed=2023)
    rows = [
        "| method | hits | median evals to hit | median wall s | evals/s |",
        "|---|---|---|---|---|",
    ]
    for name in ("tnale", "tnls"):
        hits, evals, walls, rates = 0, [], [], []
        for seed in range(seeds):
            started = time.perf_counter()
            res = getattr(search, name)(
                x,
                lam=200,
                budget=budget,
                seed=seed,
                workers=workers,
                max_rank=7,
                progress=stop_at_hit(1e-4, 126),
            )
            wall = time.perf_counter() - started
            hit = res.first_hit(1e-4, 126)
            hits += hit is not None
            evals.append(hit if hit is not None else float("inf"))
            walls.append(wall)
            rates.append(res.n_evaluations / wall)
            print(f"  {name} seed {seed}: hit at {hit}, {res.n_evaluations} evals, {wall:.1f} s")
        med = statistics.median(evals)
        rows.append(
            f"| {name} | {hits}/{seeds} | {med if med != float('inf') else '-'} | "
            f"{statistics.median(walls):.1f} | {statistics.median(rates):.1f} |"
        )
    return rows


def case_greedy(seeds: int, budget: int, workers: int) -> list[str]:
    rows = [
        "| target (true params) | successes | median params | median RSE | median s | max s |",
        "|---|---|---|---|---|---|",
    ]
    shape = (7,) * 5
    for label, truth in GREEDY_TARGETS.items():
        true_params = truth.n_params(shape)
        ok, params, rses, walls = 0, [], [], []
        for seed in range(seeds):
            x = exact(truth, shape, seed)
            started = time.perf_counter()
            res = search.greedy(x, target_rse=1e-5, budget=budget, seed=seed, workers=workers)
            wall = time.perf_counter() - started
            good = res.rse <= 1e-5 and res.n_params <= 1.1 * true_params
            ok += good
            params.append(res.n_params)
            rses.append(res.rse)
            walls.append(wall)
            print(f"  {label} seed {seed}: {res.n_params} params, RSE {res.rse:.1e}, {wall:.1f} s")
        rows.append(
            f"| {label} ({true_params}) | {ok}/{seeds} | {statistics.median(params):.0f} | "
            f"{statistics.median(rses):.1e} | {statistics.median(walls):.1f} | {max(walls):.1f} |"
        )
    return rows


def tt_svd_floor(x: np.ndarray, max_rse: float) -> tuple[int, float]:
    """TT-SVD's fewest parameters with RSE <= max_rse over a scan of tolerances."""
    best = None
    for tol in np.linspace(max_rse * 0.7, max_rse * 2.0, 27):
        t = tk.tt(x, tol=float(tol))
        rse = float(np.linalg.norm(t.to_tensor() - x) / np.linalg.norm(x))
        if rse <= max_rse and (best is None or t.n_params < best[0]):
            best = (t.n_params, rse)
    return best


def case_image(budget: int, workers: int) -> list[str]:
    x = datasets.image_tensor("coffee", order=8)
    tt_params, tt_rse = tt_svd_floor(x, 0.10)
    started = time.perf_counter()
    res = search.greedy(x, target_rse=0.10, budget=budget, seed=0, workers=workers)
    wall = time.perf_counter() - started
    print(f"  greedy: {res.summary()}")
    return [
        "| method | params | RSE | params / TT-SVD | evaluations | wall s |",
        "|---|---|---|---|---|---|",
        f"| TT-SVD (best tol) | {tt_params} | {tt_rse:.4f} | 1.00 | - | - |",
        f"| greedy | {res.n_params} | {res.rse:.4f} | {res.n_params / tt_params:.2f} | "
        f"{res.n_evaluations} | {wall:.1f} |",
    ]


def case_dask(budget: int) -> list[str]:
    from distributed import Client, LocalCluster

    x = exact(TR_DEMO, (3,) * 6, seed=2023)
    out, rates = {}, {}
    for n in (1, 2):
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            started = time.perf_counter()
            res = search.tnale(x, lam=200, budget=budget, seed=0, scheduler=client)
            rates[n] = res.n_evaluations / (time.perf_counter() - started)
            out[n] = res
            print(f"  dask {n} worker(s): {rates[n]:.2f} evals/s")
    same = out[1].history == out[2].history and out[1].structure == out[2].structure
    return [
        "| workers | evals/s | ratio | identical result |",
        "|---|---|---|---|",
        f"| 1 | {rates[1]:.2f} | 1.00 | - |",
        f"| 2 | {rates[2]:.2f} | {rates[2] / rates[1]:.2f} | {same} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds, smaller budgets")
    parser.add_argument("--cases", default="tnale,greedy,image,dask")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    quick = args.quick
    seeds = 2 if quick else 5
    for case in args.cases.split(","):
        print(f"== {case} ==")
        if case == "tnale":
            rows = case_tnale(seeds, 150 if quick else 500, args.workers)
        elif case == "greedy":
            rows = case_greedy(seeds, 1000, args.workers)
        elif case == "image":
            rows = case_image(600 if quick else 6000, args.workers)
        elif case == "dask":
            rows = case_dask(40 if quick else 120)
        else:
            raise SystemExit(f"unknown case {case!r}")
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
