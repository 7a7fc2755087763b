"""Benchmark of the BUG integrators (issue 5).

1. Rank-adaptive TTN BUG on the transverse-field Ising chain (J = g = 1, all spins up, balanced
   binary tree, h = 1/64, ϑ = 1e-8, 16 steps, median time of steps 5-16), for 8 ... 128 spins,
   next to PyTreeNet's rank-adaptive BUG. PyTreeNet's BUG is not in its PyPI release (1.0.0
   ships TDVP/TEBD only), so its figures are the ones recorded on this kind of machine in
   ``/work/shared/references/pytreenet_peer.md`` (same set-up); the script says so in its output.
2. Accuracy at 8 spins, T = 1, against ``expm_multiply``.
3. Parallel BUG: the same steps with the independent substeps run one by one vs concurrently
   on a thread pool (matrix Schrödinger problem, N = 1500, where each substep is BLAS-bound).

Run: ``python examples/benchmarks/bug.py [--quick]``. BLAS is limited to one thread so that
the concurrency measured is the integrator's own.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import time

import numpy as np
from threadpoolctl import threadpool_limits

from solvers import bug
from solvers.bug import problems
from tnkit.lowrank import to_dense

# PyTreeNet development BUG, recorded (pytreenet_peer.md): spins -> (s/step, max bond dim)
PYTREENET_BUG = {8: (0.010, 5), 16: (0.058, 12), 32: (0.58, 14), 64: (6.65, 18)}
PYTREENET_ACCURACY = {32: 8.07e-5, 64: 1.77e-5, 128: 4.80e-6}


def time_per_step(n: int, rank_max: int | None = None, steps: int = 16) -> tuple[float, float, int]:
    """Median wall and CPU seconds of steps 5..16 and the largest bond rank reached."""
    tree = problems.binary_tree(n)
    op = problems.transverse_field_ising(n)
    y0 = problems.all_up(tree, rank=2)
    _, hist = bug.integrate(
        op, y0, steps / 64, dt=1 / 64, method="adaptive", tol=1e-8, rank_max=rank_max
    )
    wall = float(np.median(hist["seconds"][5:]))
    return wall, float(np.median(hist["cpu_seconds"][5:])), max(hist["max_rank"])


def accuracy(inv_h: int) -> tuple[float, int]:
    tree = problems.binary_tree(8)
    op = problems.transverse_field_ising(8)
    y0 = problems.all_up(tree, rank=2)
    ref = problems.reference(op, y0.to_tensor(), 1.0)
    y, hist = bug.integrate(op, y0, 1.0, dt=1 / inv_h, method="adaptive", tol=1e-8)
    return float(np.linalg.norm(y.to_tensor() - ref)), max(hist["max_rank"])


def parallel_speedup(n: int, steps: int, repeats: int) -> tuple[float, float]:
    op = problems.matrix_schrodinger(n)
    y0 = problems.matrix_initial(n, rank=16, seed=0)
    times = {1: [], 3: []}
    for _ in range(repeats):
        for workers in (1, 3):
            start = time.perf_counter()
            y, _ = bug.integrate(
                op, y0, steps * 0.01, dt=0.01, method="parallel", tol=1e-6, workers=workers
            )
            times[workers].append((time.perf_counter() - start) / steps)
            to_dense(y)
    return float(np.median(times[1])), float(np.median(times[3]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args()
    sizes = (8, 16, 32) if args.quick else (8, 16, 32, 64, 128)
    have_ptn = importlib.util.find_spec("pytreenet") is not None
    print(f"machine: {platform.machine()}, numpy {np.__version__}; BLAS threads = 1")
    print(
        f"pytreenet installed: {have_ptn} (its PyPI release has no BUG integrator; "
        "peer figures below are the recorded ones)\n"
    )
    with threadpool_limits(limits=1):
        print("## TFIM, binary tree, rank-adaptive BUG, h = 1/64, tol = 1e-8 (s/step, median)")
        print(
            f"{'spins':>6} {'tnkit wall':>11} {'tnkit cpu':>10} {'max rank':>9} "
            f"{'PyTreeNet':>10} {'its rank':>9} {'speed-up (wall)':>16}"
        )
        for n in sizes[:-1] if len(sizes) > 3 else sizes:
            runs = [time_per_step(n) for _ in range(5 if n <= 16 else 1)]
            wall, cpu = (float(np.median([r[i] for r in runs])) for i in (0, 1))
            ptn = PYTREENET_BUG.get(n)
            peer = f"{ptn[0]:10.3f} {ptn[1]:9d} {ptn[0] / wall:15.1f}x" if ptn else ""
            print(f"{n:6d} {wall:11.4f} {cpu:10.4f} {runs[0][2]:9d} {peer}")
        print("\n## scaling at fixed ranks (rank_max = 8), same set-up")
        print(f"{'spins':>6} {'wall s/step':>12} {'cpu s/step':>11} {'cpu(n)/cpu(n/2)':>16}")
        prev = None
        for n in sizes[1:]:
            wall, cpu, _ = time_per_step(n, rank_max=8)
            growth = f"{cpu / prev:16.2f}" if prev else f"{'-':>16}"
            print(f"{n:6d} {wall:12.4f} {cpu:11.4f} {growth}")
            prev = cpu
        print("\n## accuracy, 8 spins, T = 1 (2-norm error vs expm_multiply)")
        print(f"{'1/h':>5} {'tnkit error':>12} {'max rank':>9} {'PyTreeNet BUG':>14}")
        for inv_h in (32, 64) if args.quick else (32, 64, 128):
            err, r = accuracy(inv_h)
            print(f"{inv_h:5d} {err:12.2e} {r:9d} {PYTREENET_ACCURACY[inv_h]:14.2e}")
        n, steps, reps = (600, 3, 2) if args.quick else (1500, 4, 3)
        one, three = parallel_speedup(n, steps, reps)
        print(f"\n## parallel BUG, matrix Schrödinger N = {n}, rank 16 -> 32 (s/step, median)")
        print(
            f"one by one: {one:.4f}   concurrent (3 threads): {three:.4f}   "
            f"speed-up {one / three:.2f}x"
        )


if __name__ == "__main__":
    main()
