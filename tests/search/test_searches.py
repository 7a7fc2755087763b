"""Small deterministic searches that find a known structure; resume; executors; bad inputs."""

import numpy as np
import pytest

from solvers import search
from solvers.search import SearchResult, Structure
from tnkit import backend


def target(structure, shape, seed=0):
    x = structure.to_network(shape, seed).contract()
    return x / np.linalg.norm(x)


CHAIN = Structure.from_bonds(4, {(0, 1): 2, (1, 2): 3, (2, 3): 2})
LOOP = Structure.from_bonds(4, {(0, 1): 2, (1, 2): 2, (2, 3): 2, (0, 3): 2})
RING = Structure.topology("ring", (2, 3, 2, 2), (0, 2, 1, 3))


@pytest.mark.parametrize("truth", [CHAIN, LOOP], ids=["chain", "loop"])
def test_greedy_finds_ground_truth(truth):
    x = target(truth, (4, 4, 4, 4))
    res = search.greedy(x, target_rse=1e-6, budget=100, seed=0)
    assert res.structure == truth
    assert res.rse <= 1e-6 and res.n_params == truth.n_params(x.shape)
    assert np.linalg.norm(res.network.contract() - x) <= 1e-6


def test_tnale_finds_ring_and_permutation():
    x = target(RING, (3, 3, 3, 3))
    res = search.tnale(x, lam=200, budget=60, seed=0, max_rank=4)
    assert res.structure == RING
    assert res.rse <= 1e-4 and res.n_params == 60
    assert res.first_hit(1e-4, 60) == res.best_evaluation <= 60


def test_tnls_runs_on_the_same_machinery():
    x = target(RING, (3, 3, 3, 3))
    res = search.tnls(x, lam=200, budget=15, seed=0, max_rank=4, samples=7)
    assert res.n_evaluations <= 15 and res.f == min(h["f"] for h in res.history)


def test_greedy_completion_with_mask():
    x = target(CHAIN, (6, 6, 6, 6))
    mask = np.random.default_rng(0).random(x.shape) < 0.5
    res = search.greedy(x, target_rse=1e-5, budget=100, mask=mask, seed=0)
    missing = np.linalg.norm((res.network.contract() - x)[~mask]) / np.linalg.norm(x[~mask])
    assert res.structure == CHAIN and missing <= 1e-4


def test_resume_gives_the_uninterrupted_result(tmp_path):
    x = target(RING, (3, 3, 3, 3))
    kw = dict(lam=200, budget=24, seed=1, max_rank=4)
    full = search.tnale(x, **kw)
    log = tmp_path / "run.jsonl"
    cut = search.tnale(x, checkpoint=str(log), progress=lambda st: st["n_evaluations"] >= 12, **kw)
    assert 12 <= cut.n_evaluations < full.n_evaluations
    resumed = search.tnale(x, checkpoint=str(log), resume=True, **kw)
    assert resumed.structure == full.structure
    assert resumed.rse == full.rse and resumed.n_evaluations == full.n_evaluations
    assert resumed.history == full.history
    saved = SearchResult.load(f"{log}.best.npz")
    assert saved.structure == resumed.structure and saved.rse == resumed.rse


def test_local_processes_give_the_serial_result():
    x = target(CHAIN, (4, 4, 4, 4))
    a = search.greedy(x, target_rse=1e-6, budget=40, seed=0)
    b = search.greedy(x, target_rse=1e-6, budget=40, seed=0, workers=2)
    assert a.history == b.history and a.structure == b.structure


def test_dask_local_cluster_gives_the_serial_result(on_local_dask):
    x = target(RING, (3, 3, 3, 3))
    kw = dict(lam=200, budget=12, seed=2, max_rank=4)
    serial = search.tnale(x, **kw)
    remote = on_local_dask(search.tnale, x, **kw)
    assert remote.history == serial.history and remote.structure == serial.structure


def test_save_plot_and_summary(tmp_path):
    x = target(CHAIN, (4, 4, 4, 4))
    res = search.greedy(x, target_rse=1e-6, budget=40, seed=0)
    res.save(tmp_path / "r.npz")
    back = SearchResult.load(tmp_path / "r.npz")
    assert back.structure == res.structure and back.history == res.history
    np.testing.assert_allclose(back.network.contract(), res.network.contract())
    assert res.plot() is not None and "greedy" in res.summary()


def test_bad_inputs(tmp_path):
    x = target(CHAIN, (4, 4, 4, 4))
    with pytest.raises(ValueError, match="budget"):
        search.greedy(x, budget=0)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        search.tnale(bad)
    with pytest.raises(ValueError, match="max_rank"):
        search.tnale(x, max_rank=0)
    with pytest.raises(ValueError, match="topology"):
        search.tnls(x, topology="star")
    with pytest.raises(ValueError, match="either"):
        search.greedy(x, lam=1.0, target_rse=0.1)
    with pytest.raises(ValueError, match="target_rse"):
        search.greedy(x, target_rse=2.0)
    with pytest.raises(ValueError, match="mask"):
        search.greedy(x, mask=np.ones((4, 4)))
    with pytest.raises(ValueError, match="workers"):
        search.greedy(x, workers=0)
    with pytest.raises(TypeError, match="scheduler"):
        search.greedy(x, scheduler=3.5)
    with pytest.raises(ValueError, match="resume"):
        search.greedy(x, resume=True)
    with pytest.raises(FileNotFoundError):
        search.greedy(x, checkpoint=str(tmp_path / "none.jsonl"), resume=True)
    with pytest.raises(ValueError, match="at least 2 modes"):
        search.greedy(np.ones(5))


def test_ctrl_c_returns_and_saves_the_best_so_far(tmp_path):
    x = target(CHAIN, (4, 4, 4, 4))

    def interrupt(status):
        if status["n_evaluations"] >= 9:
            raise KeyboardInterrupt

    log = tmp_path / "run.jsonl"
    res = search.greedy(x, target_rse=1e-6, budget=100, checkpoint=str(log), progress=interrupt)
    assert res.interrupted and res.n_evaluations == 9
    saved = SearchResult.load(f"{log}.best.npz")
    assert saved.interrupted and saved.n_params == res.n_params
    assert len(log.read_text().splitlines()) == 1 + 9  # header + one line per evaluation


def test_device_option_is_checked():
    x = target(CHAIN, (4, 4, 4, 4))
    with pytest.raises(ValueError, match="device"):
        search.greedy(x, device="tpu", budget=2)
    if backend.cuda_available("cupy") or backend.cuda_available("torch"):
        pytest.skip("a GPU is visible: device='gpu' is valid here")
    for run in (search.greedy, search.tnale, search.tnls):
        with pytest.raises(ValueError, match="device='gpu' needs a CUDA GPU"):
            run(x, device="gpu", budget=2)


def test_device_cpu_is_the_numpy_search():
    x = target(CHAIN, (4, 4, 4, 4))
    a = search.greedy(x, target_rse=1e-6, budget=20, seed=0)
    b = search.greedy(x, target_rse=1e-6, budget=20, seed=0, device="cpu")
    assert a.history == b.history and a.structure == b.structure


X3 = np.random.default_rng(3).standard_normal((3, 3, 3))


@pytest.mark.parametrize(
    "method, kwargs, exc, match",
    [
        ("greedy", {"lam": True}, ValueError, "lam"),
        ("greedy", {"lam": float("nan")}, ValueError, "lam"),
        ("greedy", {"target_rse": True}, ValueError, "target_rse"),
        ("greedy", {"seed": "a"}, ValueError, "seed"),
        ("greedy", {"seed": -1}, ValueError, "seed"),
        ("greedy", {"budget": True}, ValueError, "budget"),
        ("greedy", {"mask": "a"}, TypeError, "mask"),
        ("greedy", {"checkpoint": 5}, TypeError, "checkpoint"),
        ("greedy", {"checkpoint": "/nonexistent/dir/c.jsonl"}, FileNotFoundError, "checkpoint"),
        ("greedy", {"resume": "yes", "checkpoint": "c.jsonl"}, TypeError, "resume"),
        ("greedy", {"max_iter": 0}, ValueError, "max_iter"),
        ("greedy", {"holdout": "a"}, ValueError, "holdout"),
        ("greedy", {"max_arity": True}, ValueError, "max_arity"),
        ("greedy", {"score_sweeps": True}, ValueError, "score_sweeps"),
        ("greedy", {"prune": "no"}, TypeError, "prune"),
        ("tnale", {"max_rank": True}, ValueError, "max_rank"),
        ("tnale", {"restarts": 0}, ValueError, "restarts"),
        ("tnale", {"restarts": "a"}, ValueError, "restarts"),
        ("tnale", {"radius": True}, ValueError, "radius"),
        ("tnale", {"search_perm": "yes"}, TypeError, "search_perm"),
        ("tnls", {"samples": True}, ValueError, "samples"),
        ("tnls", {"max_rank": "3"}, ValueError, "max_rank"),
    ],
)
def test_bad_options_are_named(method, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        getattr(search, method)(X3, **{"budget": 2, **kwargs})


@pytest.mark.parametrize("method", ["greedy", "tnale", "tnls"])
@pytest.mark.parametrize("x", ["abc", None, np.ones(4), np.float64(1.0)])
def test_bad_data_names_x(method, x):
    with pytest.raises((ValueError, TypeError), match="x "):
        getattr(search, method)(x, budget=2)
