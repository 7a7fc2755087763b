"""Sparse CP and Tucker: tnkit's fits from listed entries against TensorLy 0.10 on the dense
tensor.

1. Completion — an exact rank-5 CP tensor, a uniform random sample of its entries observed:
   ``tk.cp(SparseTensor(..., unlisted="missing"), 5, tol=1e-9)`` against TensorLy's
   ``parafac(x, 5, mask=observed, init="svd", tol=1e-9)`` on the zero-filled dense tensor
   (its missing-data method: the model's values are imputed each iteration). Reported: time
   and relative error on 10^5 held-out entries.
2. Sparse data (zeros unlisted) — a rank-10 CP tensor with sparse nonnegative factors (10 %
   nonzero), so about 1 % of its entries are nonzero: ``tk.cp(SparseTensor, 10)`` against
   ``parafac`` of the dense array, each for ``--iters`` sweeps with no line search from the
   same random start, so the two take the same steps; reported: time and final error.
3. Scale — the completion case at 1000^3 (10^9 entries, 8 GB dense: TensorLy is not run).
4. Tucker completion — an exact rank-(5, 5, 5) Tucker tensor, a uniform random sample of its
   entries observed: ``tk.tucker(SparseTensor(..., unlisted="missing"), rank=5,
   max_iter=200, stop_tol=1e-10)`` against TensorLy's ``tucker(x, rank, mask=observed,
   n_iter_max=200, tol=1e-10)`` (HOOI with the model's values imputed each iteration, from an
   SVD start) on the zero-filled dense tensor; time and relative error on 10^5 held-out
   entries.

Not run: TensorLy's sparse backend (``tensorly.contrib.sparse``, on the ``sparse`` package,
which is not installed here); its missing-data method is the dense masked ``parafac``.

Times are medians of ``--repeats`` interleaved runs with one BLAS thread.
Run: ``python examples/benchmarks/sparse.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from typing import Any

if __name__ == "__main__":  # BLAS threads must be fixed before numpy loads its BLAS
    _threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _threads

import numpy as np  # noqa: E402

import tnkit as tk  # noqa: E402

HELD_OUT = 100_000


def sampled_cp(n: int, rank: int, nnz: int, seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """Exact rank-``rank`` n^3 CP factors, ``nnz`` observed entries (as a SparseTensor) and
    ``HELD_OUT`` other entries (indices, values)."""
    rng = np.random.default_rng(seed)
    weights, factors = np.ones(rank), [rng.standard_normal((n, rank)) for _ in range(3)]
    return _sampled(lambda idx: cp_values(weights, factors, idx), n, nnz, rng)


def sampled_tucker(n: int, rank: int, nnz: int, seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """As :func:`sampled_cp` for an exact rank-(``rank``,)*3 n^3 Tucker tensor."""
    rng = np.random.default_rng(seed)
    core = rng.standard_normal((rank,) * 3)
    factors = [rng.standard_normal((n, rank)) for _ in range(3)]
    return _sampled(lambda idx: tucker_values(core, factors, idx), n, nnz, rng)


def _sampled(values: Any, n: int, nnz: int, rng: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    linear = rng.choice(n**3, size=nnz + HELD_OUT, replace=False)
    idx = np.stack(np.unravel_index(linear, (n,) * 3), axis=1)
    vals = values(idx)
    seen = tk.SparseTensor(idx[:nnz], vals[:nnz], (n,) * 3, unlisted="missing")
    return seen, idx[nnz:], vals[nnz:]


def cp_values(weights: Any, factors: list[Any], idx: np.ndarray) -> np.ndarray:
    rows = [np.asarray(f)[idx[:, k]] for k, f in enumerate(factors)]
    return np.einsum("r,er,er,er->e", np.asarray(weights), *rows)


def tucker_values(core: Any, factors: list[Any], idx: np.ndarray) -> np.ndarray:
    rows = [np.asarray(f)[idx[:, k]] for k, f in enumerate(factors)]
    return np.einsum("abc,ea,eb,ec->e", np.asarray(core), *rows)


def held_out_error(pred: np.ndarray, vals: np.ndarray) -> float:
    return float(np.linalg.norm(pred - vals) / np.linalg.norm(vals))


def observed_dense(seen: Any) -> tuple[np.ndarray, np.ndarray]:
    """The zero-filled dense tensor of ``seen`` and its boolean mask."""
    mask = np.zeros(seen.shape, bool)
    mask[tuple(seen.indices.T)] = True
    return seen.to_dense(), mask


def completion(n: int, nnz: int, repeats: int, with_peer: bool) -> dict[str, Any]:
    seen, idx, vals = sampled_cp(n, 5, nnz, 0)
    runs: dict[str, list[tuple[float, float]]] = {"tnkit": [], "tensorly": []}
    for _ in range(repeats):
        start = time.perf_counter()
        fit = tk.cp(seen, 5, tol=1e-9, max_iter=200)
        pred = cp_values(fit.weights, fit.factors, idx)
        runs["tnkit"].append((time.perf_counter() - start, held_out_error(pred, vals)))
        if with_peer:
            from tensorly.decomposition import parafac

            dense, mask = observed_dense(seen)
            start = time.perf_counter()
            w, fs = parafac(dense, 5, mask=mask, init="svd", tol=1e-9, n_iter_max=200)
            pred = cp_values(w, fs, idx)
            runs["tensorly"].append((time.perf_counter() - start, held_out_error(pred, vals)))
    return {
        "dense GB": 8 * n**3 / 1e9,
        "case": f"completion {n}^3 rank 5, {nnz:,} observed ({nnz / n**3:.2%})",
        **{side: _median(r) for side, r in runs.items() if r},
    }


def tucker_completion(n: int, nnz: int, repeats: int) -> dict[str, Any]:
    from tensorly.decomposition import tucker

    seen, idx, vals = sampled_tucker(n, 5, nnz, 0)
    dense, mask = observed_dense(seen)
    runs: dict[str, list[tuple[float, float]]] = {"tnkit": [], "tensorly": []}
    sweeps = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit = tk.tucker(seen, rank=5, max_iter=200, stop_tol=1e-10)
        pred = tucker_values(fit.core, fit.factors, idx)
        runs["tnkit"].append((time.perf_counter() - start, held_out_error(pred, vals)))
        start = time.perf_counter()
        core, fs = tucker(dense, [5, 5, 5], mask=mask, n_iter_max=200, tol=1e-10)
        pred = tucker_values(core, fs, idx)
        runs["tensorly"].append((time.perf_counter() - start, held_out_error(pred, vals)))
        sweeps.append(len(fit.history))
    return {
        "case": f"Tucker completion {n}^3 rank 5, {nnz:,} observed ({nnz / n**3:.2%}), "
        f"{statistics.median(sweeps):.0f} sweeps",
        **{side: _median(r) for side, r in runs.items()},
    }


def sparse_data(n: int, iters: int, repeats: int) -> dict[str, Any]:
    import tensorly as tl
    from tensorly.decomposition import parafac

    rng = np.random.default_rng(1)
    factors = [np.where(rng.random((n, 10)) < 0.1, rng.random((n, 10)), 0.0) for _ in range(3)]
    dense = tk.CP(None, factors).to_tensor()
    sp = tk.SparseTensor.from_dense(dense)
    start_cp = tk.CP(None, [rng.standard_normal((n, 10)) for _ in range(3)])
    runs: dict[str, list[tuple[float, float]]] = {"tnkit": [], "tensorly": []}
    norm = np.linalg.norm(dense)
    for _ in range(repeats):
        t = time.perf_counter()
        fit = tk.cp(sp, 10, init=start_cp, max_iter=iters, stop_tol=None, line_search=False)
        runs["tnkit"].append((time.perf_counter() - t, fit.history[-1]))
        init = (np.ones(10), [np.asarray(f) for f in start_cp.factors])
        t = time.perf_counter()
        w, fs = parafac(dense, 10, init=init, n_iter_max=iters, tol=0, linesearch=False)
        err = float(np.linalg.norm(tl.cp_to_tensor((w, fs)) - dense) / norm)
        runs["tensorly"].append((time.perf_counter() - t, err))
    nonzeros = f"{sp.nnz:,} nonzeros ({sp.density:.1%})"
    return {
        "case": f"sparse data {n}^3 rank 10, {nonzeros}, {iters} sweeps",
        **{side: _median(r) for side, r in runs.items()},
    }


def _median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    import tensorly

    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, TensorLy {tensorly.__version__}, {args.threads} BLAS thread(s)"
    )
    q = args.quick
    rows = [
        completion(60 if q else 200, 20_000 if q else 80_000, args.repeats, True),
        sparse_data(60 if q else 300, args.iters, args.repeats),
        completion(200 if q else 1000, 80_000 if q else 1_000_000, 1, False),
        tucker_completion(60 if q else 100, 6_000 if q else 20_000, args.repeats),
        tucker_completion(60 if q else 100, 20_000 if q else 50_000, args.repeats),
    ]
    print("| case | tnkit s | TensorLy s | speed-up | error tnkit | error TensorLy |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        a = row["tnkit"]
        b = row.get("tensorly")
        peer = f"{b[0]:.2f} | {b[0] / a[0]:.1f}x" if b else "— | —"
        peer_err = f"{b[1]:.2e}" if b else f"— (dense: {row['dense GB']:.2g} GB)"
        print(f"| {row['case']} | {a[0]:.2f} | {peer} | {a[1]:.2e} | {peer_err} |")


if __name__ == "__main__":
    main()
