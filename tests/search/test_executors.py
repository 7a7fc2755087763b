"""The runner resubmits a job whose worker died, and keeps the input order."""

import os

from solvers.search.executors import Runner


def square(p):
    return p["v"] ** 2


def die_once(p):
    if p["v"] == 2 and not os.path.exists(p["marker"]):
        open(p["marker"], "w").close()
        os._exit(1)  # the worker process dies mid-job
    return p["v"] * 10


def test_order_kept_with_processes():
    runner = Runner(workers=2)
    try:
        assert runner.map(square, [{"v": v} for v in range(6)]) == [v * v for v in range(6)]
    finally:
        runner.close()


def test_dead_worker_costs_a_resubmission(tmp_path):
    runner = Runner(workers=2)
    marker = str(tmp_path / "died")
    try:
        out = runner.map(die_once, [{"v": v, "marker": marker} for v in range(4)])
    finally:
        runner.close()
    assert out == [0, 10, 20, 30] and os.path.exists(marker)


def test_spawned_processes_keep_the_order():
    """``spawn=True`` (searches on a GPU: a CUDA context does not survive a fork)."""
    runner = Runner(workers=2, spawn=True)
    try:
        assert runner.map(len, [{"a": 1}, {}, {"a": 1, "b": 2}]) == [1, 0, 2]
    finally:
        runner.close()
