"""Nonnegative CP and Tucker: tnkit against TensorLy 0.10's HALS solvers in the same run.

Data:

* ``digits`` — scikit-learn's bundled handwritten digits, 1797 images of 8×8 gray levels 0–16
  (a real nonnegative 1797×8×8 tensor);
* ``synthetic`` — an exact nonnegative CP (or Tucker) tensor with uniform [0, 1) factors plus
  Gaussian noise of 1 % of its norm, clipped at 0.

Protocol (time to the peer's accuracy): TensorLy runs ``--iters`` iterations with ``tol=0``
(``non_negative_parafac_hals(init="svd")``, ``non_negative_tucker_hals(init="svd")``; their
own default solvers; ``tol=1e-30`` because TensorLy records no errors with ``tol=0``), and its
final relative error, times 1.001, is the **target**. Its time is that of a run of exactly the
iterations it needed to first reach the target (from its ``return_errors`` list, whose last
entry is checked against the error computed here). tnkit's time is that until its own history
first reaches the target (a progress callback records the clock after each sweep), in a run of
``--max-sweeps`` sweeps. Both start from SVDs (TensorLy: NNDSVD; tnkit: the larger-norm sign
part of the sketched or ST-HOSVD singular vectors). Nonnegative fits are non-convex: from
other starts the two may settle in other local minima, so the table also gives tnkit's error
at TensorLy's time and after all its sweeps. Times are medians of ``--repeats`` interleaved
runs with one BLAS thread; "never" means tnkit did not reach the target.
Run: ``python examples/benchmarks/nonnegative.py [--quick]``.
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

if __name__ == "__main__":  # BLAS threads must be fixed before numpy loads its BLAS
    _threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _threads

import numpy as np  # noqa: E402

import tnkit as tk  # noqa: E402


# ---------------------------------------------------------------------- inputs
def digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().images.astype(np.float64)


def noisy(x0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    e = rng.standard_normal(x0.shape)
    return np.maximum(x0 + 0.01 * np.linalg.norm(x0) * e / np.linalg.norm(e), 0.0)


def synthetic_cp(n: int, rank: int, rng: np.random.Generator) -> np.ndarray:
    return noisy(tk.CP(None, [rng.random((n, rank)) for _ in range(3)]).to_tensor(), rng)


def synthetic_tucker(n: int, rank: int, rng: np.random.Generator) -> np.ndarray:
    factors = [rng.random((n, rank)) for _ in range(3)]
    return noisy(tk.Tucker(rng.random((rank,) * 3), factors).to_tensor(), rng)


# ---------------------------------------------------------------------- the two sides
def rel_error(approx: np.ndarray, x: np.ndarray) -> float:
    return float(np.linalg.norm(approx - x) / np.linalg.norm(x))


def tensorly_run(kind: str, x: np.ndarray, rank: Any, iters: int) -> tuple[float, list[float]]:
    """(seconds, per-iteration errors) of TensorLy's HALS solver for ``iters`` iterations."""
    import tensorly as tl
    from tensorly.decomposition import non_negative_parafac_hals, non_negative_tucker_hals

    start = time.perf_counter()
    if kind == "cp":
        model, errors = non_negative_parafac_hals(
            x, rank, n_iter_max=iters, init="svd", tol=1e-30, random_state=0, return_errors=True
        )
        approx = tl.cp_to_tensor(model)
    else:
        model, errors = non_negative_tucker_hals(
            x, rank, n_iter_max=iters, init="svd", tol=1e-30, random_state=0, return_errors=True
        )
        approx = tl.tucker_to_tensor(model)
    elapsed = time.perf_counter() - start
    errors = [float(e) for e in errors]
    if abs(errors[-1] - rel_error(approx, x)) > 1e-6:
        raise RuntimeError(f"TensorLy's error list ends at {errors[-1]}, not at its error")
    return elapsed, errors


def tnkit_run(kind: str, x: np.ndarray, rank: Any, sweeps: int) -> list[tuple[float, float]]:
    """(seconds since the call, relative error) after each sweep."""
    trace: list[tuple[float, float]] = []
    start = time.perf_counter()

    def clock(_sweep: int, err: float) -> None:
        trace.append((time.perf_counter() - start, err))

    fit: Callable[..., Any] = tk.cp if kind == "cp" else tk.tucker
    model = fit(x, rank, nonnegative=True, max_iter=sweeps, stop_tol=None, progress=clock)
    if abs(trace[-1][1] - rel_error(model.to_tensor(), x)) > 1e-6:
        raise RuntimeError("tnkit's history does not end at its error")
    return trace


def time_to(trace: list[tuple[float, float]], target: float) -> float:
    """Seconds until the error is first <= target (inf if never)."""
    return next((t for t, e in trace if e <= target), float("inf"))


def error_at(trace: list[tuple[float, float]], seconds: float) -> float:
    """The error reached within ``seconds`` (the first sweep's if none finished by then)."""
    return min((e for t, e in trace if t <= seconds), default=trace[0][1])


# ---------------------------------------------------------------------- driver
def cases(quick: bool) -> list[tuple[str, str, np.ndarray, Any]]:
    rng = np.random.default_rng(0)
    d = digits()
    out = [("cp", "digits 1797x8x8, rank 10", d, 10)]
    out.append(("tucker", "digits 1797x8x8, rank (20,6,6)", d, [20, 6, 6]))
    n = 40 if quick else 100
    out.append(("cp", f"synthetic {n}^3, rank 10", synthetic_cp(n, 10, rng), 10))
    m = 30 if quick else 60
    out.append(("tucker", f"synthetic {m}^3, rank (5,5,5)", synthetic_tucker(m, 5, rng), [5] * 3))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iters", type=int, default=100, help="TensorLy's iterations")
    parser.add_argument("--max-sweeps", type=int, default=1000, help="tnkit's sweep cap")
    args = parser.parse_args()
    import tensorly

    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, TensorLy {tensorly.__version__}, {args.threads} BLAS thread(s)"
    )
    rows = []
    for kind, name, x, rank in cases(args.quick):
        _, errors = tensorly_run(kind, x, rank, args.iters)
        target = errors[-1] * 1.001
        needed = next(i + 1 for i, e in enumerate(errors) if e <= target)
        traces, peer = [], []
        for _ in range(args.repeats):  # interleaved
            traces.append(tnkit_run(kind, x, rank, args.max_sweeps))
            peer.append(tensorly_run(kind, x, rank, needed)[0])
        b = statistics.median(peer)
        a = statistics.median(time_to(tr, target) for tr in traces)
        at_b = statistics.median(error_at(tr, b) for tr in traces)
        final = statistics.median(tr[-1][1] for tr in traces)
        rows.append((kind, name, target, needed, a, b, at_b, final))
        print(f"# {kind} {name}: tnkit {a:.3f} s, TensorLy {b:.3f} s", flush=True)
    print(
        "| format | data | target error | TensorLy iterations | tnkit s | TensorLy s | speed-up "
        f"| tnkit error at TensorLy's time | tnkit error after {args.max_sweeps} sweeps |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, name, target, needed, a, b, at_b, final in rows:
        never = a == float("inf")
        print(
            f"| {kind} | {name} | {target:.5f} | {needed} | {'never' if never else f'{a:.3f}'} "
            f"| {b:.3f} | {'never' if never else f'{b / a:.1f}x'} | {at_b:.5f} | {final:.5f} |"
        )


if __name__ == "__main__":
    main()
