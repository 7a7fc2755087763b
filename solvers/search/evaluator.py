"""The evaluator: fits candidate structures (in parallel), caches, logs, tracks the best.

Every search algorithm talks to one :class:`Evaluator`. It turns batches of candidates into
jobs (:func:`objective.fit_job`, :func:`objective.score_edge_job`), runs them through a
:class:`executors.Runner`, and for each finished job, in submission order: stores it in the
cache (no structure is fitted twice), appends it to the checkpoint log, extends the history
and updates the best structure. Each job's seed comes from ``(seed, job key)``, so results do
not depend on the executor or on the order jobs finish in. Jobs beyond ``budget`` are not
run (their result is ``None``) and :attr:`Evaluator.exhausted` turns true.

The data and every cached array live on one backend and device: ``x``'s. Jobs that run in
other processes get host arrays instead, with ``device`` naming where they compute (see
:func:`objective.prepared_payload`); the evaluator then holds numpy arrays throughout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import tnkit as tk
from tnkit import backend

from . import checkpoint as ckpt
from .executors import Runner
from .objective import FitOptions, Objective, fit_job, job_seed, score_edge_job
from .structure import Structure


class Evaluator:
    """State shared by one search run (see module docstring)."""

    def __init__(
        self,
        x: Any,
        *,
        objective: Objective,
        budget: int,
        mask: Any,
        runner: Runner,
        seed: int,
        fit: FitOptions,
        log: ckpt.Log | None = None,
        progress: Callable[[dict], Any] | None = None,
        device: tuple[str, str] | None = None,
    ) -> None:
        self.x, self.mask, self.objective, self.device = x, mask, objective, device
        self.budget, self.runner, self.seed, self.fit = budget, runner, seed, fit
        self.log, self.progress = log, progress
        self.cache: dict[str, dict] = {}
        self.history: list[dict] = []
        self.n_evaluations = 0
        self.best: dict | None = None
        self.started = time.perf_counter()
        self.fit_seconds = 0.0
        self.stopped = False
        self.last: dict = {}

    @property
    def exhausted(self) -> bool:
        """True once the budget is spent or the progress callable asked to stop."""
        return self.stopped or self.n_evaluations >= self.budget

    # ------------------------------------------------------------------ public API
    def evaluate(
        self,
        candidates: Sequence[Structure],
        parents: Sequence[Structure | None] | None = None,
        starts: Sequence[dict | None] | None = None,
    ) -> list[dict | None]:
        """Fit each candidate, warm-started from its parent's fit (or an explicit start).

        ``starts[i]`` (``{"structure": ..., "arrays": ...}``) overrides the parent's arrays.
        """
        parents = list(parents) if parents is not None else [None] * len(candidates)
        starts = list(starts) if starts is not None else [None] * len(candidates)
        jobs = []
        for s, p, start in zip(candidates, parents, starts):
            key = s.key_string()
            parent = self.cache.get(p.key_string()) if p is not None else None
            if start is not None:
                p, parent = start["structure"], start
            payload = {
                "x": self.x,
                "mask": self.mask,
                "options": self.fit,
                "structure": s,
                "seed": job_seed(self.seed, key),
                "parent": None if parent is None else {"structure": p, "arrays": parent["arrays"]},
                "device": self.device,
            }
            jobs.append((key, fit_job, payload, {"kind": "fit", "structure": s.to_json()}))
        return self._run(jobs)

    def score_edges(
        self,
        current: Structure,
        edges: Sequence[tuple[int, int]],
        sweeps: int,
        train_mask: Any,
        score_mask: Any,
    ) -> list[dict | None]:
        """Score growing each mode pair of ``current`` by one slice (greedy's cheap step)."""
        parent = self.cache[current.key_string()]
        jobs = []
        for a, b in edges:
            key = f"score:{current.key_string()}:{a},{b}"
            payload = {
                "x": self.x,
                "mask": train_mask,
                "score_mask": score_mask,
                "options": self.fit,
                "structure": current,
                "edge": (a, b),
                "sweeps": sweeps,
                "seed": job_seed(self.seed, key),
                "parent": {"structure": current, "arrays": parent["arrays"]},
                "device": self.device,
            }
            jobs.append((key, score_edge_job, payload, {"kind": "score"}))
        return self._run(jobs)

    def network(self, record: dict) -> tk.TensorNetwork:
        """The fitted network of a fit record."""
        s = record["structure"]
        return s.to_network(self.x.shape, 0).with_arrays(record["arrays"])

    # ------------------------------------------------------------------ machinery
    def _run(self, jobs: list) -> list[dict | None]:
        out: list[dict | None] = [None] * len(jobs)
        todo = []
        for i, (key, _fn, _payload, meta) in enumerate(jobs):
            if key in self.cache:
                out[i] = self.cache[key]
            elif self.log is not None and key in self.log.replay:
                out[i] = self._finish(key, self._from_log(self.log.replay[key], meta), meta, False)
            else:
                todo.append(i)
        # the same key twice in one batch is fitted once
        unique = list(dict.fromkeys(jobs[i][0] for i in todo))
        room = 0 if self.stopped else max(self.budget - self.n_evaluations, 0)
        unique = unique[:room]
        first = {jobs[i][0]: i for i in reversed(todo)}
        run_idx = [first[k] for k in unique]
        results = self.runner.map(jobs[0][1], [jobs[i][2] for i in run_idx]) if run_idx else []
        for i, res in zip(run_idx, results):
            key, _, payload, meta = jobs[i]
            self._finish(key, res, meta, True)
        for i, (key, *_rest) in enumerate(jobs):
            if out[i] is None:
                out[i] = self.cache.get(key)
        return out

    def _from_log(self, record: dict, meta: dict) -> dict:
        res = {k: v for k, v in record.items() if k not in ("key", "structure", "kind", "index")}
        arrays = ckpt.decode_arrays(record["arrays"])
        res["arrays"] = {k: backend.asarray_like(a, self.x) for k, a in arrays.items()}
        return res

    def _finish(self, key: str, res: dict, meta: dict, fresh: bool) -> dict:
        self.n_evaluations += 1
        res = dict(res, index=self.n_evaluations, kind=meta["kind"])
        if meta["kind"] == "fit":
            structure = Structure.from_json(meta["structure"])
            res["structure"] = structure
            res["f"] = self.objective(res["rse"], res["n_params"])
            self.history.append(
                {
                    "evaluation": self.n_evaluations,
                    "f": res["f"],
                    "rse": res["rse"],
                    "n_params": res["n_params"],
                }
            )
            if self.best is None or res["f"] < self.best["f"]:
                self.best = res
        self.cache[key] = res
        self.fit_seconds += res.get("seconds", 0.0)
        if fresh and self.log is not None:
            record = {k: v for k, v in res.items() if k not in ("arrays", "structure")}
            record.update(key=key, arrays=ckpt.encode_arrays(res["arrays"]))
            if meta["kind"] == "fit":
                record["structure"] = meta["structure"]
            self.log.append(record)
        if meta["kind"] == "fit":
            self.last = {"rse": res["rse"], "n_params": res["n_params"], "f": res["f"]}
        if self.progress is not None and self.progress(self.status()) is True:
            self.stopped = True
        return res

    def status(self) -> dict:
        """Counts and the best so far (what the progress display shows)."""
        elapsed = time.perf_counter() - self.started
        best = self.best or {}
        return {
            "n_evaluations": self.n_evaluations,
            "budget": self.budget,
            "best_f": best.get("f", math.nan),
            "best_rse": best.get("rse", math.nan),
            "best_n_params": best.get("n_params", 0),
            "evals_per_s": self.n_evaluations / elapsed if elapsed > 0 else 0.0,
            "elapsed": elapsed,
            "last": self.last,
        }
