"""The calling convention shared by every search: validation, evaluator set-up, Ctrl-C, result.

``search.greedy``, ``search.tnale`` and ``search.tnls`` all take
``(x, *, lam, target_rse, budget, mask, workers, scheduler, checkpoint, resume, seed, progress,
device)`` and hand their algorithm body to :func:`run_search`, which validates those
arguments, places the data (``device``), builds the
:class:`~solvers.search.evaluator.Evaluator`, runs the body, stops cleanly on Ctrl-C (keeping
the best result so far, saved next to the checkpoint) and returns a
:class:`~solvers.search.result.SearchResult`.

The fits run where the data is: ``device=None`` keeps ``x`` on its backend and device (a torch
CUDA tensor in, torch CUDA fits and a torch CUDA network out), ``"cpu"`` uses numpy and
``"gpu"`` moves ``x`` to a CUDA GPU (:func:`tnkit.backend.to_device`). Jobs in worker processes
receive numpy and compute on the same device there; the result network is moved back to it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tnkit import backend, checks

from .checkpoint import Log
from .evaluator import Evaluator
from .executors import Runner
from .objective import FitOptions, Objective
from .result import SearchResult

DEFAULT_LAM = 200.0


def run_search(
    method: str,
    body: Callable[[Evaluator, np.random.Generator], None],
    x: Any,
    *,
    lam: float | None,
    target_rse: float | None,
    budget: int,
    mask: Any,
    workers: int,
    scheduler: Any,
    checkpoint: str | None,
    resume: bool,
    seed: int,
    progress: bool | Callable[[dict], Any],
    fit: FitOptions,
    options: dict,
    device: str | None = None,
) -> SearchResult:
    """Validate the shared arguments, run ``body(evaluator, rng)``, and build the result.

    ``device`` places the data (see the module docstring); the other arguments are those of
    :func:`solvers.search.greedy`.
    """
    x = backend.as_data_tensor(x, "x", min_ndim=2)
    if backend.is_complex(x):
        raise TypeError("structure search needs real data; got a complex tensor")
    x = backend.to_device(x, device)
    xp = backend.namespace(x)
    x = xp.astype(x, xp.float64)
    mask = _check_mask(mask, x)
    checkpoint = _check_checkpoint(checkpoint)
    norm = float(backend.frobenius_norm(x if mask is None else x * mask))
    if norm == 0:
        raise ValueError("x is zero (on the observed entries): nothing to search for")
    objective = _objective(math.prod(x.shape), lam, target_rse)
    checks.check_int(budget, "budget", 1)
    checks.check_seed(seed)
    if not (isinstance(progress, bool) or callable(progress)):
        raise TypeError(f"progress must be a bool or a callable, got {type(progress).__name__}")
    checks.check_checkpoint(checkpoint, resume)
    if fit.tol is None:
        fit = FitOptions(**{**fit.__dict__, "tol": _fit_tol(objective)})
    runner = Runner(workers, scheduler, spawn=backend.device_of_kind(x) == "cuda")
    place = None
    if not runner.in_process and backend.backend_name(x) != "numpy":
        # jobs run in other processes: they get numpy and compute on x's device there
        place = (backend.backend_name(x), backend.device(x))
        x = backend.to_numpy(x)
        mask = None if mask is None else backend.to_numpy(mask)
    header = {
        "method": method,
        "seed": seed,
        "shape": list(x.shape),
        "objective": objective.to_json(),
        "fit": fit.to_json(),
        "options": options,
        "masked": mask is not None,
    }
    log = Log(checkpoint, header, resume) if checkpoint is not None else None
    display = _display(progress, budget)
    ev = Evaluator(
        x,
        objective=objective,
        budget=budget,
        mask=mask,
        runner=runner,
        seed=seed,
        fit=fit,
        log=log,
        progress=display,
        device=place,
    )
    started = time.perf_counter()
    interrupted = False
    try:
        body(ev, np.random.default_rng(seed))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        runner.close()
        if log is not None:
            log.close()
        if display is not None and hasattr(display, "close"):
            display.close()
    if ev.best is None:
        raise KeyboardInterrupt("the search was interrupted before any evaluation finished")
    best = ev.best
    network = ev.network(best)
    result = SearchResult(
        network=network if place is None else network.to(*place),
        structure=best["structure"],
        rse=float(best["rse"]),
        n_params=int(best["n_params"]),
        f=float(best["f"]),
        n_evaluations=ev.n_evaluations,
        best_evaluation=int(best["index"]),
        history=list(ev.history),
        wall_time=time.perf_counter() - started,
        method=method,
        options={**header, "budget": budget},
        interrupted=interrupted,
    )
    if checkpoint is not None:
        result.save(f"{checkpoint}.best.npz")
    return result


def _objective(size: int, lam: float | None, target_rse: float | None) -> Objective:
    if lam is not None and target_rse is not None:
        raise ValueError("give either lam= (penalised objective) or target_rse=, not both")
    if target_rse is not None:
        target = checks.check_real(
            target_rse, "target_rse", low=0, high=1, open_low=True, open_high=True
        )
        return Objective(size, None, target)
    lam = DEFAULT_LAM if lam is None else lam
    return Objective(size, checks.check_real(lam, "lam", low=0, open_low=True), None)


def _fit_tol(objective: Objective) -> float:
    """ALS stops once the error is far below what the objective can tell apart."""
    if objective.target_rse is not None:
        return min(objective.target_rse / 10, 1e-6)
    return 1e-6


def _check_checkpoint(checkpoint: Any) -> str | None:
    """``checkpoint`` as a path string whose folder exists (``None`` passes)."""
    if checkpoint is None:
        return None
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path, got {type(checkpoint).__name__}")
    checkpoint = os.fspath(checkpoint)
    folder = os.path.dirname(os.path.abspath(checkpoint))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"checkpoint: the folder {folder} does not exist")
    if os.path.isdir(checkpoint):
        raise ValueError(f"checkpoint {checkpoint} is a directory, expected a file path")
    return checkpoint


def _check_mask(mask: Any, x: Any) -> Any:
    """The mask validated (on the host) and returned as float64 0/1 on ``x``'s device."""
    if mask is None:
        return None
    try:
        m = np.asarray(backend.to_numpy(mask) if not isinstance(mask, (list, tuple)) else mask)
    except (TypeError, ValueError):
        raise TypeError(f"mask must be an array of booleans or 0/1, got {mask!r}") from None
    if m.shape != tuple(x.shape):
        raise ValueError(f"mask has shape {m.shape} but x has {tuple(x.shape)}")
    if m.dtype.kind not in "biuf" or not np.all((m == 0) | (m == 1)):
        raise ValueError("mask must hold only booleans or 0/1 values")
    if m.sum() < 2:
        raise ValueError("mask must observe at least two entries")
    return backend.asarray_like(m.astype(np.float64), x)


class _Bar:
    """A tqdm bar showing best f, RSE, parameters and evaluations per second."""

    def __init__(self, budget: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=budget, desc="search", unit="eval")

    def __call__(self, status: dict) -> None:
        self.bar.n = status["n_evaluations"]
        self.bar.set_postfix(
            f=f"{status['best_f']:.4g}",
            rse=f"{status['best_rse']:.2e}",
            params=status["best_n_params"],
            evals_s=f"{status['evals_per_s']:.1f}",
        )

    def close(self) -> None:
        self.bar.close()


def _display(progress: Any, budget: int) -> Callable[[dict], Any] | None:
    if callable(progress):
        return progress
    return _Bar(budget) if progress else None
