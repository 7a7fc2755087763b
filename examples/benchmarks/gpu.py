"""GPU device check (issue 7): run the GPU tests, then measure GPU against the same machine's CPU.

1. A large contraction through ``TensorNetwork.contract`` (opt_einsum's cupy backend, cached
   plan): achieved TFLOP/s against a cupy matrix product of the same flop count
   (goal: >= 60 %).
2. CP, Tucker (HOOI), TT (TT-SVD) and TR (TR-ALS) on a tensor of >= 1e8 entries: seconds on
   the GPU (cupy) against numpy on the CPU of the same machine (goal: >= 10x faster).
3. Structure-search evaluations per second: the same TNLS search (one evaluation = the ALS
   fit of a candidate structure) with ``device="gpu"`` against ``device="cpu"``.

It also records the host <-> device copies per ALS sweep on the GPU
(``backend.watch_transfers``). Every measurement runs in its own ``try`` and its figures or
error go into the JSON report, which is rewritten after each step (a time-out keeps what was
done). Without a GPU the script prints that and exits 0.

Run: ``python examples/benchmarks/gpu.py [--quick] [--out DIR] [--no-tests]``; the report is
``DIR/gpu_check.json`` with ``DIR`` = ``--out``, else ``$OUT``, else ``out/gpu``. Sized to finish
in under 8 minutes on one H100 (``--quick``: about 2).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import tnkit as tk  # noqa: E402
from tnkit import backend  # noqa: E402

SIZES = {
    # full run: 1e8-entry tensor, bond dims of the contraction, search data and candidates
    False: {"shape": (100, 100, 100, 100), "contract": (2048, 512, 64, 2048), "search": 12},
    True: {"shape": (40, 40, 40, 40), "contract": (1024, 256, 32, 1024), "search": 8},
}
RANKS = {"cp": 10, "tucker": 10, "tt": 10, "tr": 4}


class Report:
    """The JSON report, rewritten after every step."""

    def __init__(self, path: Path, started: float, budget: float) -> None:
        self.path, self.started, self.budget = path, started, budget
        self.data: dict[str, Any] = {}

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)

    def step(self, key: str, fn: Callable[[], Any]) -> None:
        """Run one measurement; store its result, or its error, under ``key``."""
        if self.left() <= 0:
            self.data[key] = {"skipped": "time budget spent"}
        else:
            t0 = time.perf_counter()
            try:
                self.data[key] = fn()
            except Exception as err:  # noqa: BLE001 - one failure must not lose the rest
                self.data[key] = {"error": f"{type(err).__name__}: {err}"[:2000]}
                self.data[key]["traceback"] = traceback.format_exc()[-3000:]
            print(f"[{time.perf_counter() - t0:6.1f}s] {key}: {_brief(self.data[key])}")
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2, default=str))


class Target:
    """The device measured: cupy arrays, or torch tensors on ``device``."""

    def __init__(self, name: str, device: str) -> None:
        self.backend = name
        self.device = None if name == "cupy" else device

    def put(self, a: np.ndarray) -> Any:
        return backend.to_backend(np.ascontiguousarray(a), self.backend, self.device)

    def available(self) -> bool:
        if self.backend == "cupy":
            return backend.cuda_available("cupy")
        return self.device == "cpu" or backend.cuda_available("torch")

    def version(self) -> str:
        return backend.native(self.backend).__version__

    @property
    def search_device(self) -> str | None:
        """``device=`` of a search on data already put here: ``"gpu"``, or ``None`` for the
        torch CPU dry run (the data stays a torch CPU tensor)."""
        return None if self.device == "cpu" else "gpu"


def _brief(value: Any) -> str:
    text = json.dumps({k: v for k, v in value.items() if k != "traceback"}, default=str)
    return text if len(text) < 300 else text[:297] + "..."


def timed(fn: Callable[[], Any], repeats: int, budget: float) -> dict[str, Any]:
    """Median seconds of ``fn`` over up to ``repeats`` runs (at least one; fewer once the runs
    took ``budget`` seconds), each ended by waiting for the GPU work it queued."""
    times: list[float] = []
    while len(times) < repeats and sum(times) <= budget:
        t0 = time.perf_counter()
        fn()
        backend.synchronize()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "runs": len(times), "times_s": times}


def run_gpu_tests(out: Path) -> dict[str, Any]:
    """``pytest tests/gpu`` in a subprocess; the summary line and the tail of the output."""
    cmd = [sys.executable, "-m", "pytest", "tests/gpu", "-q", "-rfEsxX", "-p", "no:cacheprovider"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    text = proc.stdout + proc.stderr
    (out / "gpu_tests.txt").write_text(text)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return {
        "returncode": proc.returncode,
        "summary": lines[-1] if lines else "",
        "tail": text[-4000:],
    }


# ---------------------------------------------------------------------------- 1. contraction
def contraction(target: Target, dims: tuple[int, ...], dtype: str, repeats: int) -> dict[str, Any]:
    """``A[a,b] B[b,c,d] D[d,e] -> [a,c,e]`` through tnkit against a square matmul."""
    a, b, c, e = dims
    d = b
    rng = np.random.default_rng(0)
    net = tk.TensorNetwork()
    net.add_node("A", rng.standard_normal((a, b)), ("a", "b"))
    net.add_node("B", rng.standard_normal((b, c, d)), ("b", "c", "d"))
    net.add_node("D", rng.standard_normal((d, e)), ("d", "e"))
    net = net.astype(dtype).to(target.backend, target.device)
    flops = float(net.path_info().opt_cost)
    net.contract()  # warm-up: plan, cuBLAS handles
    t_net = timed(net.contract, repeats, 30)
    n = round((flops / 2) ** (1 / 3))
    x = target.put(rng.standard_normal((n, n)).astype(dtype))
    y = target.put(rng.standard_normal((n, n)).astype(dtype))
    x @ y
    t_mm = timed(lambda: x @ y, repeats, 30)
    tf_net = flops / t_net["median_s"] / 1e12
    tf_mm = 2 * n**3 / t_mm["median_s"] / 1e12
    return {
        "equation": net.equation(),
        "dims": dims,
        "dtype": dtype,
        "flops": flops,
        "tnkit_contract": t_net,
        "tnkit_tflops": tf_net,
        "matmul_n": n,
        "matmul": t_mm,
        "matmul_tflops": tf_mm,
        "fraction_of_matmul": tf_net / tf_mm,
        "goal_fraction": 0.6,
        "goal_met": tf_net / tf_mm >= 0.6,
    }


# ---------------------------------------------------------------------------- 2. decompositions
def test_tensor(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """A TT of rank 8 plus 1 % noise: low-rank enough for every format to fit it."""
    rng = np.random.default_rng(1)
    cores = [
        rng.standard_normal((1 if k == 0 else 8, n, 1 if k == len(shape) - 1 else 8))
        for k, n in enumerate(shape)
    ]
    x = tk.TT(cores).to_tensor()
    x = x / np.linalg.norm(x) * math.sqrt(x.size)
    x += 0.01 * rng.standard_normal(shape)
    return x.astype(dtype)


DECOMPOSE = {
    "cp": lambda x: tk.cp(x, rank=RANKS["cp"], max_iter=10),
    "tucker": lambda x: tk.tucker(x, rank=RANKS["tucker"], max_iter=5),
    "tt": lambda x: tk.tt(x, rank=RANKS["tt"]),
    "tr": lambda x: tk.tr(x, rank=RANKS["tr"], max_iter=3),
}


def decomposition(
    target: Target, name: str, x_cpu: np.ndarray, x_gpu: Any, repeats: int
) -> dict[str, Any]:
    fit = DECOMPOSE[name]
    small = tuple(min(n, 16) for n in x_cpu.shape)  # compiles the kernels
    try:  # compile the kernels on a small tensor first
        fit(target.put(x_cpu[tuple(slice(0, n) for n in small)]))
    except Exception:  # noqa: BLE001 - the full-size run below reports any real error
        pass
    gpu = timed(lambda: fit(x_gpu), repeats, 20)
    cpu = timed(lambda: fit(x_cpu), repeats, 30)
    model = fit(x_gpu)
    err = float(np.linalg.norm(backend.to_numpy(model.to_tensor()) - x_cpu)) / float(
        np.linalg.norm(x_cpu)
    )
    speedup = cpu["median_s"] / gpu["median_s"]
    return {
        "shape": x_cpu.shape,
        "entries": x_cpu.size,
        "rank": RANKS[name],
        "gpu": gpu,
        "cpu": cpu,
        "speedup": speedup,
        "gpu_rel_error": err,
        "goal_speedup": 10.0,
        "goal_met": speedup >= 10.0,
    }


# ---------------------------------------------------------------------------- transfers
SWEEPS = {
    "cp": lambda x, n: tk.cp(x, rank=5, max_iter=n, stop_tol=None),
    "tucker": lambda x, n: tk.tucker(x, rank=5, max_iter=n, stop_tol=-1.0),
    "tr": lambda x, n: tk.tr(x, rank=3, max_iter=n, improvement_tol=0.0),
}


def transfers_per_sweep(target: Target, x_gpu: Any) -> dict[str, Any]:
    """Host <-> device copies per ALS sweep on the GPU (difference of 2- and 4-sweep runs)."""
    out = {}
    for name, run in SWEEPS.items():
        try:
            logs = []
            for n in (2, 4):
                with backend.watch_transfers() as log:
                    sweeps = len(run(x_gpu, n).history)
                logs.append((log.summary(), sweeps))
            (a, na), (b, nb) = logs
            out[name] = {k: (b[k] - a[k]) / max(nb - na, 1) for k in a}
        except Exception as err:  # noqa: BLE001
            out[name] = {"error": f"{type(err).__name__}: {err}"[:500]}
    return out


# ---------------------------------------------------------------------------- 3. search
def search_evaluations(
    target: Target, side: int, dtype: str, n_candidates: int, budget: float
) -> dict[str, Any]:
    """One TNLS search of ``n_candidates`` evaluations (10 ALS sweeps each) on the GPU
    (``device="gpu"``) and on the CPU (``device="cpu"``); evaluations per second of each."""
    from solvers import search

    shape = (side,) * 6
    x_cpu = test_tensor(shape, dtype)
    x_gpu = target.put(x_cpu)

    def run(x: Any, device: str | None, evaluations: int) -> Any:
        return search.tnls(
            x,
            lam=200,
            budget=evaluations,
            seed=0,
            max_rank=4,
            samples=evaluations,
            restarts=1,
            max_iter=10,
            device=device,
            progress=lambda status: status["elapsed"] > budget,  # True stops the search
        )

    run(x_gpu, target.search_device, 2)  # warm-up: kernels, cuBLAS/cuSOLVER handles
    out: dict[str, Any] = {"shape": shape, "candidates": n_candidates, "max_sweeps": 10}
    results = {}
    for label, x, device in (("gpu", x_gpu, target.search_device), ("cpu", x_cpu, "cpu")):
        res = run(x, device, n_candidates)
        backend.synchronize()
        results[label] = res
        out[f"{label}_evaluations"] = res.n_evaluations
        out[f"{label}_evaluations_per_s"] = res.n_evaluations / res.wall_time
        out[f"{label}_network_on"] = backend.device(res.network.arrays[0])
    out["speedup"] = out["gpu_evaluations_per_s"] / out["cpu_evaluations_per_s"]
    out["same_best_structure"] = results["gpu"].structure == results["cpu"].structure
    out["best_rse_gpu_cpu"] = [results["gpu"].rse, results["cpu"].rse]
    return out


# ---------------------------------------------------------------------------- driver
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, about 2 minutes")
    parser.add_argument("--out", help="report folder (default: $OUT, else out/gpu)")
    parser.add_argument("--no-tests", action="store_true", help="skip pytest tests/gpu")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--backend", default="cupy", choices=("cupy", "torch"))
    parser.add_argument(
        "--device", default="cuda", help="torch device; 'cpu' dry-runs the script without a GPU"
    )
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for everything")
    args = parser.parse_args()
    target = Target(args.backend, args.device)
    if not target.available():
        print(f"no CUDA GPU visible to {args.backend}: nothing to measure (needs a GPU)")
        return 0
    started = time.perf_counter()
    out = Path(args.out or os.environ.get("OUT") or ROOT / "out" / "gpu")
    report = Report(out / "gpu_check.json", started, args.budget)
    sizes = SIZES[args.quick]
    repeats = 2 if args.quick else 3
    report.data["machine"] = {
        "devices": backend.describe_devices(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "backend": f"{args.backend} {target.version()}",
        "device": target.device or "cuda (cupy's current)",
        "cpu_count": os.cpu_count(),
        "quick": args.quick,
        "dtype": args.dtype,
    }
    report.save()
    if not args.no_tests:
        report.step("gpu_tests", lambda: run_gpu_tests(out))
    for dtype in ("float32", "float64"):
        report.step(
            f"contraction_{dtype}",
            lambda d=dtype: contraction(target, sizes["contract"], d, repeats),
        )
    data = {"cpu": test_tensor(sizes["shape"], args.dtype)}
    data["gpu"] = target.put(data["cpu"])
    for name in DECOMPOSE:
        report.step(
            f"decompose_{name}",
            lambda n=name: decomposition(target, n, data["cpu"], data["gpu"], repeats),
        )
    small = data["cpu"][tuple(slice(0, 40) for _ in sizes["shape"])]
    report.step("transfers_per_sweep", lambda: transfers_per_sweep(target, target.put(small)))
    data.clear()  # free the device memory before the search
    report.step(
        "search",
        lambda: search_evaluations(
            target, sizes["search"], args.dtype, 4 if args.quick else 8, 20 if args.quick else 45
        ),
    )
    report.data["seconds"] = time.perf_counter() - started
    report.save()
    print(f"report: {report.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
