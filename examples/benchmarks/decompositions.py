"""CP / Tucker / TT benchmark: tnkit against TensorLy 0.10 in the same run (issue 3).

Inputs are exact low-rank tensors in the named format plus Gaussian noise of 1 % of their
norm (so the best relative error is ~0.01).

1. Tucker HOOI, 200³, rank 20, 10 sweeps: ``tk.tucker(x, rank=20, max_iter=10)`` against
   ``tensorly.decomposition.tucker(x, rank, n_iter_max=10, tol=0)``. Goal: >= 10x.
2. TT-SVD, 8⁸, rank 10: ``tk.tt(x, rank=10)`` against ``tensor_train(x, rank)``. Goal: >= 10x.
3. CP-ALS, 150³, rank 10: time until the relative error is <= 0.0105. tnkit
   ``tk.cp(x, 10, tol=0.0105)`` against ``parafac(x, 10)`` with its defaults and with
   ``linesearch=True``, stopped by a callback at the same error. Goal: >= 3x.
4. Memory: peak RSS of a subprocess decomposing a 10⁸-entry float64 tensor (TT-SVD, Tucker
   HOOI, CP-ALS), relative to the input size. Goal: < 3x.

Times are medians of ``--repeats`` interleaved runs; errors must agree within 5 %. BLAS runs
with ``--threads`` threads (default 1: shared machines make multi-threaded timings erratic).
Run: ``python examples/benchmarks/decompositions.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
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

CP_TARGET = 0.0105


# ---------------------------------------------------------------------- inputs
def add_noise(x0: np.ndarray, rng: np.random.Generator, level: float = 0.01) -> np.ndarray:
    e = rng.standard_normal(x0.shape)
    return x0 + level * np.linalg.norm(x0) * e / np.linalg.norm(e)


def tucker_input(n: int, r: int, rng: np.random.Generator) -> np.ndarray:
    core = rng.standard_normal((r, r, r))
    us = [rng.standard_normal((n, r)) for _ in range(3)]
    return add_noise(tk.Tucker(core, us).to_tensor(), rng)


def tt_input(n: int, d: int, r: int, rng: np.random.Generator) -> np.ndarray:
    ranks = [1] + [min(r, n**k, n ** (d - k)) for k in range(1, d)] + [1]
    cores = [rng.standard_normal((ranks[k], n, ranks[k + 1])) for k in range(d)]
    return add_noise(tk.TT(cores).to_tensor(), rng)


def cp_input(n: int, r: int, rng: np.random.Generator) -> np.ndarray:
    return add_noise(tk.CP(None, [rng.standard_normal((n, r)) for _ in range(3)]).to_tensor(), rng)


def rel(x: np.ndarray, approx: Any) -> float:
    return float(np.linalg.norm(np.asarray(approx) - x) / np.linalg.norm(x))


def timed(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, Any]]:
    """Median wall time and last result of each function; runs interleaved."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    out: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            out[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {k: (statistics.median(v), out[k]) for k, v in times.items()}


# ---------------------------------------------------------------------- cases
def bench_tucker(n: int, r: int, sweeps: int, repeats: int) -> list[dict]:
    from tensorly import tucker_to_tensor
    from tensorly.decomposition import tucker as tl_tucker

    x = tucker_input(n, r, np.random.default_rng(0))
    res = timed(
        {
            "tnkit": lambda: tk.tucker(x, rank=r, max_iter=sweeps, stop_tol=None),
            "tensorly": lambda: tl_tucker(x, rank=[r] * 3, n_iter_max=sweeps, tol=0),
        },
        repeats,
    )
    ours, theirs = rel(x, res["tnkit"][1].to_tensor()), rel(x, tucker_to_tensor(res["tensorly"][1]))
    name = f"Tucker HOOI {n}^3 r{r} {sweeps} sweeps"
    return [row(name, res["tnkit"][0], res["tensorly"][0], ours, theirs, 10.0)]


def bench_tt(n: int, d: int, r: int, repeats: int) -> list[dict]:
    from tensorly import tt_to_tensor
    from tensorly.decomposition import tensor_train

    x = tt_input(n, d, r, np.random.default_rng(1))
    res = timed(
        {
            "tnkit": lambda: tk.tt(x, rank=r),
            "tensorly": lambda: tensor_train(x, rank=[1] + [r] * (d - 1) + [1]),
        },
        repeats,
    )
    ours, theirs = rel(x, res["tnkit"][1].to_tensor()), rel(x, tt_to_tensor(res["tensorly"][1]))
    return [row(f"TT-SVD {n}^{d} r{r}", res["tnkit"][0], res["tensorly"][0], ours, theirs, 10.0)]


def _tl_time_to_error(x: np.ndarray, r: int, linesearch: bool) -> tuple[float, float]:
    """Seconds until TensorLy's parafac reports error <= CP_TARGET (inf if never)."""
    from tensorly.decomposition import parafac

    state = {"t": float("inf"), "err": float("nan")}
    start = time.perf_counter()

    def callback(_cp: Any, err: float) -> bool:
        state["err"] = float(err)
        if err <= CP_TARGET and state["t"] == float("inf"):
            state["t"] = time.perf_counter() - start
            return True
        return False

    parafac(x, r, linesearch=linesearch, callback=callback)
    return state["t"], state["err"]


def bench_cp(n: int, r: int, repeats: int) -> list[dict]:
    """tnkit with its default start and, for reference, from a random start (plain ALS +
    extrapolation, no compression) against parafac with its defaults and with line search."""
    x = cp_input(n, r, np.random.default_rng(2))
    times: dict[str, list[float]] = {k: [] for k in ("svd", "random", "tl", "tl_ls")}
    errs: dict[str, float] = {}
    for _ in range(repeats):
        for init in ("svd", "random"):
            start = time.perf_counter()
            c = tk.cp(x, r, tol=CP_TARGET, init=init)
            times[init].append(time.perf_counter() - start)
            errs[init] = rel(x, c.to_tensor())
        for key, ls in (("tl", False), ("tl_ls", True)):
            t, errs[key] = _tl_time_to_error(x, r, ls)
            times[key].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    name = f"CP-ALS {n}^3 r{r} to err<={CP_TARGET}"
    rows = []
    for init, label in (("svd", ""), ("random", ", tnkit init=random")):
        for key, peer in (("tl", "parafac defaults"), ("tl_ls", "parafac linesearch")):
            rows.append(
                row(f"{name} ({peer}{label})", med[init], med[key], errs[init], errs[key], 3.0)
            )
    return rows


def row(name: str, ours: float, peer: float, e_ours: float, e_peer: float, goal: float) -> dict:
    ratio = peer / ours
    same = abs(e_ours - e_peer) <= 0.05 * max(e_ours, e_peer)
    return dict(
        case=name,
        tnkit_s=ours,
        tensorly_s=peer,
        speedup=ratio,
        goal=f">= {goal:g}x",
        met=bool(ratio >= goal and same),
        err_tnkit=e_ours,
        err_tensorly=e_peer,
        same_error=same,
    )


# ---------------------------------------------------------------------- memory
def memory_child(method: str, shape: tuple[int, ...]) -> None:
    """Build an exact TT-rank-5 tensor + noise slab by slab, decompose it, print peak RSS."""
    import resource

    rng = np.random.default_rng(3)
    r = 5
    head = rng.standard_normal((shape[0], r))
    rest = rng.standard_normal((r, shape[-1]))  # rest[a, (j, k, ...)]: the TT minus its head
    for n in reversed(shape[1:-1]):
        rest = (rng.standard_normal((r * n, r)) @ rest).reshape(r, -1)
    x = np.empty(shape)
    for i in range(shape[0]):
        x[i] = (head[i] @ rest).reshape(shape[1:]) + 0.01 * rng.standard_normal(shape[1:])
    del rest
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    if method == "tt":
        out = tk.tt(x, rank=10)
    elif method == "tucker":
        out = tk.tucker(x, rank=10, max_iter=2, stop_tol=None)
    else:
        out = tk.cp(x, 5, max_iter=2, line_search=False)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            dict(
                method=method,
                input=x.nbytes,
                before=before,
                peak=peak,
                seconds=elapsed,
                rank=str(out.rank),
            )
        )
    )


def bench_memory(shape: tuple[int, ...]) -> list[dict]:
    rows = []
    for method in ("tt", "tucker", "cp"):
        cmd = [
            sys.executable,
            __file__,
            "--memory-child",
            method,
            "--shape",
            ",".join(map(str, shape)),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ)
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        rec["peak_over_input"] = rec["peak"] / rec["input"]
        rec["met"] = rec["peak_over_input"] < 3.0
        rows.append(rec)
    return rows


# ---------------------------------------------------------------------- main
def met(ok: bool, quick: bool) -> str:
    """The goals are stated for the full sizes; --quick only checks that everything runs."""
    return "n/a (--quick)" if quick else ("yes" if ok else "NO")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", default="1", help="BLAS threads (set before numpy loads)")
    p.add_argument("--only", choices=("tucker", "tt", "cp", "memory"), action="append")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    p.add_argument("--shape", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, tuple(int(s) for s in args.shape.split(",")))
        return
    only = set(args.only or ("tucker", "tt", "cp", "memory"))
    q = args.quick
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, numpy {np.__version__}, BLAS threads {args.threads}"
    )
    rows: list[dict] = []
    if "tucker" in only:
        rows += bench_tucker(*((60, 6, 10) if q else (200, 20, 10)), args.repeats)
    if "tt" in only:
        rows += bench_tt(*((8, 6, 10) if q else (8, 8, 10)), args.repeats)
    if "cp" in only:
        rows += bench_cp(*((50, 5) if q else (150, 10)), args.repeats)
    if rows:
        head = (
            "| case | tnkit s | TensorLy s | speed-up | goal | met | error tnkit | error TensorLy |"
        )
        print("\n" + head)
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['case']} | {r['tnkit_s']:.3f} | {r['tensorly_s']:.3f} | "
                f"{r['speedup']:.1f}x | {r['goal']} | {met(r['met'], q)} | "
                f"{r['err_tnkit']:.5f} | {r['err_tensorly']:.5f} |"
            )
    if "memory" in only:
        shape = (40, 40, 40, 40) if q else (100, 100, 100, 100)
        print(
            f"\n| memory, {np.prod(shape):.0e} float64 entries | input MB | peak RSS MB "
            f"| peak / input | goal | met | seconds |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in bench_memory(shape):
            print(
                f"| {r['method']} rank {r['rank']} | {r['input'] / 2**20:.0f} | "
                f"{r['peak'] / 2**20:.0f} | {r['peak_over_input']:.2f} | < 3 | "
                f"{met(r['met'], q)} | {r['seconds']:.1f} |"
            )


if __name__ == "__main__":
    main()
