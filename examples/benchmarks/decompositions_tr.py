"""Tensor-ring benchmark: tnkit's TR-ALS and TR-SVD against TensorLy in the same run.

Input: an exact tensor ring (i.i.d. normal cores) of shape n^4, all bond ranks r, plus Gaussian
noise of 1 % of its norm (the noise floor of the relative error is ~0.01).

1. TR-ALS, 30 sweeps: ``tk.tr(x, r, max_iter=30)`` (Kronecker-split TR-SVD start, normal
   equations) and the same from random cores, against TensorLy 0.10 ``tensor_ring_als``
   (30 sweeps, ``tol=0``, least squares by ``lstsq``). Goal: >= 5x faster at an error within 5 %.
2. TR-SVD: ``tk.tr(x, r, method="svd")`` against TensorLy ``tensor_ring``. Goal: error <= 0.011.

Times are medians of ``--repeats`` runs (interleaved, so machine load hits both sides), BLAS
limited to ``--threads`` threads (environment variables set before numpy and scipy load).
Run: ``python examples/benchmarks/decompositions_tr.py [--quick]`` (``--quick``: 20^4,
rank 4, 3 repeats, 10 sweeps).
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

if __name__ == "__main__":  # BLAS threads must be fixed before numpy/scipy load their BLAS
    _threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _threads

import numpy as np  # noqa: E402

import tnkit as tk  # noqa: E402


def make_input(n: int, r: int, noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x0 = tk.TR([rng.standard_normal((r, n, r)) for _ in range(4)]).to_tensor()
    e = rng.standard_normal(x0.shape)
    return x0 + noise * np.linalg.norm(x0) * e / np.linalg.norm(e)


def rel_error(x: np.ndarray, approx: np.ndarray) -> float:
    return float(np.linalg.norm(approx - x) / np.linalg.norm(x))


def timed(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, Any]]:
    """Median time and last result of each function, runs interleaved."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    results: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {k: (statistics.median(v), results[k]) for k, v in times.items()}


def run(n: int, r: int, sweeps: int, repeats: int) -> list[tuple[str, float, float]]:
    import tensorly as tl
    from tensorly.decomposition import tensor_ring, tensor_ring_als

    tl.set_backend("numpy")
    x = make_input(n, r, 0.01)
    rank5 = [r] * 5  # TensorLy: (r_0, ..., r_3, r_0)
    fns = {
        "tnkit tr ALS (svd init)": lambda: tk.tr(x, r, max_iter=sweeps, improvement_tol=0),
        "tnkit tr ALS (random init)": lambda: tk.tr(
            x, r, max_iter=sweeps, improvement_tol=0, init="random"
        ),
        "TensorLy tensor_ring_als": lambda: tensor_ring_als(
            x, rank5, n_iter_max=sweeps, tol=0, random_state=0
        ),
        "tnkit tr SVD (Kronecker split)": lambda: tk.tr(x, r, method="svd"),
        "TensorLy tensor_ring": lambda: tensor_ring(x, rank5),
    }
    out = []
    for name, (t, res) in timed(fns, repeats).items():
        approx = res.to_tensor()
        out.append((name, t, rel_error(x, tl.to_numpy(approx))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small case, few repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args()
    n, r, sweeps, repeats = (20, 4, 10, 3) if args.quick else (30, 5, 30, 5)
    repeats = args.repeats or repeats
    rows = run(n, r, sweeps, repeats)
    print(
        f"# TR benchmark: {n}^4, rank {r}, 1% noise, {sweeps} ALS sweeps, median of "
        f"{repeats}; numpy {np.__version__}, {platform.machine()}, BLAS threads {args.threads}"
    )
    print(f"{'method':34s} {'time [s]':>10s} {'rel. error':>11s}")
    for name, t, err in rows:
        print(f"{name:34s} {t:10.4f} {err:11.5f}")
    by = {name: (t, err) for name, t, err in rows}
    peer = by["TensorLy tensor_ring_als"]
    for name in ("tnkit tr ALS (svd init)", "tnkit tr ALS (random init)"):
        t, err = by[name]
        print(
            f"speed-up {name} vs TensorLy ALS: {peer[0] / t:.1f}x "
            f"(error ratio {err / peer[1]:.4f}; goal >= 5x, within 5 %)"
        )
    t, err = by["tnkit tr SVD (Kronecker split)"]
    print(
        f"TR-SVD error {err:.5f} (goal <= 0.011); TensorLy tensor_ring "
        f"{by['TensorLy tensor_ring'][1]:.5f}; time ratio "
        f"{by['TensorLy tensor_ring'][0] / t:.2f}x"
    )


if __name__ == "__main__":
    main()
