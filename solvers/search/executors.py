"""Running evaluation jobs in parallel through any ``concurrent.futures.Executor``.

:class:`Runner` maps a job function over payloads and returns the results in input order, so
the search is deterministic whatever runs the jobs. Choices: ``workers=1`` runs in this
process; ``workers=N`` a local process pool; ``scheduler="tcp://host:port"`` or a
``distributed.Client`` a Dask cluster (through ``Client.get_executor()``); any other
``Executor`` is used as given. A worker that dies mid-job (a broken process pool, Dask's
``KilledWorker``, a lost connection) costs a resubmission of that job, not the search.
``spawn=True`` starts the local processes fresh instead of forking them: a CUDA context does
not survive a fork, so searches on a GPU need it.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

MAX_RESUBMIT = 3
_LOST = ("KilledWorker", "CommClosedError", "FutureCancelledError", "CancelledError")


class Runner:
    """Runs jobs on the chosen executor (see module docstring)."""

    def __init__(self, workers: int = 1, scheduler: Any = None, *, spawn: bool = False) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.workers = workers
        self.spawn = spawn
        self._client = None
        self._own_client = False
        self._pool: cf.Executor | None = None
        if scheduler is None:
            self.kind = "serial" if workers == 1 else "processes"
        elif isinstance(scheduler, cf.Executor):
            self.kind, self._pool = "executor", scheduler
        elif isinstance(scheduler, str) or type(scheduler).__name__ == "Client":
            self.kind = "dask"
            self._client = scheduler
        else:
            raise TypeError(
                "scheduler must be a Dask address like 'tcp://host:8786', a distributed.Client "
                f"or a concurrent.futures.Executor, got {type(scheduler).__name__}"
            )

    @property
    def in_process(self) -> bool:
        """True when jobs run in this process (serially or in threads): they can share its
        device arrays, where other processes need host copies."""
        return self.kind == "serial" or isinstance(self._pool, cf.ThreadPoolExecutor)

    def _executor(self) -> cf.Executor:
        if self._pool is None:
            if self.kind == "processes":
                context = multiprocessing.get_context("spawn") if self.spawn else None
                self._pool = cf.ProcessPoolExecutor(self.workers, mp_context=context)
            elif self.kind == "dask":
                if isinstance(self._client, str):
                    try:
                        from distributed import Client
                    except ImportError as err:
                        raise ImportError(
                            "scheduler= needs `pip install dask[distributed]`"
                        ) from err
                    try:
                        self._client = Client(self._client)
                    except (ValueError, OSError, TimeoutError) as err:
                        raise ValueError(
                            f"scheduler={self._client!r}: cannot connect to a Dask scheduler "
                            f"there ({err})"
                        ) from None
                    self._own_client = True
                self._pool = self._client.get_executor()
        return self._pool

    def map(self, fn: Callable[[dict], dict], payloads: Sequence[dict]) -> list[dict]:
        """``[fn(p) for p in payloads]``, in parallel where the executor allows."""
        if self.kind == "serial" or len(payloads) == 0:
            return [fn(p) for p in payloads]
        results: list[Any] = [None] * len(payloads)
        pending = dict(enumerate(payloads))
        tries = dict.fromkeys(pending, 0)
        while pending:
            pool = self._executor()
            futures = {pool.submit(fn, p): i for i, p in pending.items()}
            try:
                for fut in cf.as_completed(futures):
                    i = futures[fut]
                    try:
                        results[i] = fut.result()
                        del pending[i]
                    except Exception as err:  # noqa: BLE001 - sorted below
                        if not _worker_lost(err):
                            raise
                        tries[i] += 1
                        if tries[i] > MAX_RESUBMIT:
                            raise RuntimeError(f"job {i} lost its worker {tries[i]} times") from err
                        if isinstance(err, cf.BrokenExecutor):
                            self._pool = None  # a fresh pool for the resubmission
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        return results

    def close(self) -> None:
        """Shut down what this runner started (not an executor or client it was given)."""
        if self.kind == "processes" and self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._own_client and self._client is not None:
            self._client.close()
        self._pool = None


def _worker_lost(err: BaseException) -> bool:
    if isinstance(err, (cf.BrokenExecutor, cf.CancelledError)):
        return True
    return type(err).__name__ in _LOST
