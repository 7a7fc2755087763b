"""``tk.tr`` of a TT or TR (a ring fitted to a ring, never forming the tensor) and
``TR.round(rank=)``."""

import numpy as np
import pytest

import tnkit as tk
from tnkit.decompose import tr_als
from tnkit.formats import tr as tr_format


def ring(rng, ranks, n=5, cplx=False):
    cores = []
    for k, r in enumerate(ranks):
        shape = (ranks[k - 1], n, r)
        g = rng.standard_normal(shape)
        cores.append(g + 1j * rng.standard_normal(shape) if cplx else g)
    return tk.TR(cores)


def rel(a, b):
    return float(np.linalg.norm(a.to_tensor() - b.to_tensor()) / np.linalg.norm(b.to_tensor()))


@pytest.mark.parametrize("cplx", [False, True])
def test_ring_sweep_equals_the_dense_sweep(cplx):
    rng = np.random.default_rng(1)
    y = ring(rng, (3, 2, 4, 3), cplx=cplx)
    start = ring(rng, (2, 2, 2, 2), cplx=cplx).cores
    x = y.to_tensor()
    norm2 = float(np.linalg.norm(x)) ** 2
    dense_cores, dense_err = tr_als.sweep(x, start, norm2)
    ring_cores, ring_err = tr_als.ring_sweep(y.cores, start, norm2)
    assert ring_err == pytest.approx(dense_err, rel=1e-10)
    for a, b in zip(dense_cores, ring_cores):
        assert np.max(np.abs(a - b)) < 1e-10 * np.max(np.abs(a))


def test_a_plus_a_refits_to_the_ranks_of_a():
    rng = np.random.default_rng(0)
    a = ring(rng, (3, 3, 3, 3, 3, 3), n=6)
    s = a + a
    assert s.round(1e-6).rank == (6,) * 6  # the cuts cannot see that a + a = 2a
    fit = tk.tr(s, 3)
    assert fit.rank == (3,) * 6
    assert rel(fit, 2.0 * a) < 1e-7
    assert fit.history[-1] < 1e-6
    assert fit.options["input"] == "TR" and fit.options["starts"] == 1


def test_tol_alone_shrinks_a_plus_a_to_its_smallest_ranks():
    rng = np.random.default_rng(0)
    a = ring(rng, (3, 2, 3, 2, 3), n=6)
    fit = tk.tr(a + a, tol=1e-6)
    assert fit.rank == (3, 2, 3, 2, 3)
    assert rel(fit, 2.0 * a) < 1e-6


def test_fit_beats_the_rounding_at_the_same_ranks():
    rng = np.random.default_rng(0)
    a, b = ring(rng, (3,) * 6, n=6), ring(rng, (2,) * 6, n=6)
    s = a + 0.3 * b
    rounded = s.round(rank=4)
    fit = tk.tr(s, 4)
    assert rel(fit, s) == pytest.approx(fit.history[-1], rel=1e-6)
    assert rel(fit, s) < 0.9 * rel(rounded, s)
    svd = tk.tr(s, 4, method="svd")  # the rounding itself
    assert rel(svd, s) == pytest.approx(rel(rounded, s), rel=1e-10)
    assert svd.history[0] == pytest.approx(rel(rounded, s), rel=1e-6)


def test_a_tensor_train_of_a_ring_is_fitted_back_to_the_ring():
    rng = np.random.default_rng(2)
    y = ring(rng, (2, 3, 2, 2, 3), n=6)
    tt = y.to_tt()  # ranks r_4 r_k: the closing bond rides along every core
    assert max(tt.rank) == 9
    fit = tk.tr(tt, y.rank)
    assert fit.rank == y.rank
    assert rel(fit, y) < 1e-7


def test_the_tensor_is_never_formed(monkeypatch):
    rng = np.random.default_rng(3)
    a = tk.TR([rng.standard_normal((3, 4, 3)) / 3.0 for _ in range(40)])  # 4^40 entries

    def formed(*args, **kwargs):
        raise AssertionError("the dense tensor was formed")

    monkeypatch.setattr(tr_format, "dense", formed)
    fit = tk.tr(a + a, 3, max_iter=10)
    assert fit.rank == (3,) * 40
    assert float((fit - 2.0 * a).norm() / (2.0 * a).norm()) < 1e-6


def test_restarts_keep_the_best_start_and_stop_at_tol():
    rng = np.random.default_rng(0)
    a, b = ring(rng, (3,) * 5, n=5), ring(rng, (3,) * 5, n=5)
    s = a + b
    one = tk.tr(s, 3, max_iter=30)
    three = tk.tr(s, 3, max_iter=30, restarts=3)
    assert three.options["starts"] == 3
    assert three.history[-1] <= one.history[-1] + 1e-12
    reached = tk.tr(a + a, 3, tol=1e-6, restarts=3)
    assert reached.options["starts"] == 1


def test_random_and_given_starts():
    rng = np.random.default_rng(4)
    a = ring(rng, (2, 3, 2, 3), n=5)
    fit = tk.tr(a + a, a.rank, init="random", seed=1)
    assert rel(fit, 2.0 * a) < 1e-7
    again = tk.tr(a + a, init=fit, max_iter=1)
    assert again.rank == a.rank and again.history[-1] < 1e-6


def test_zero_ring_gives_zero_cores():
    z = tk.TR([np.zeros((2, 3, 2)) for _ in range(3)])
    fit = tk.tr(z, 2)
    assert fit.history == [0.0] and all(np.all(g == 0) for g in fit.cores)


def test_torch_rings_stay_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a = ring(rng, (3,) * 5, n=4).to("torch")
    fit = tk.tr(a + a, 3)
    assert all(isinstance(g, torch.Tensor) for g in fit.cores)
    assert float((fit - 2.0 * a).norm() / (2.0 * a).norm()) < 1e-6


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rank": 2, "mask": np.ones((4, 4, 4))}, "mask"),
        ({"tol": 0.1, "restarts": 2}, "restarts"),
        ({"rank": 2, "method": "svd", "restarts": 2}, "restarts"),
        ({"rank": 2, "method": "tucker"}, "method"),
        ({}, "rank= or tol="),
        ({"rank": 5}, "too large"),
        ({"rank": (2, 2)}, "rank"),
        ({"rank": 2, "init": "nope"}, "init"),
        ({"rank": 2, "restarts": 0}, "restarts"),
    ],
)
def test_bad_arguments_for_a_ring_are_named(kwargs, match):
    rng = np.random.default_rng(0)
    a = ring(rng, (2, 2, 2), n=4)
    with pytest.raises(ValueError, match=match):
        tk.tr(a + a, **kwargs)


def test_given_start_of_another_shape_is_rejected():
    rng = np.random.default_rng(0)
    a = ring(rng, (2, 2, 2), n=4)
    with pytest.raises(ValueError, match="init has shape"):
        tk.tr(a, 2, init=ring(rng, (2, 2, 2), n=3))


# ------------------------------------------------------------------ TR.round(rank=)
def test_round_caps_every_bond():
    rng = np.random.default_rng(0)
    s = ring(rng, (3,) * 5) + ring(rng, (2,) * 5)
    assert s.round(rank=3).rank == (3,) * 5
    assert s.round(rank=[5, 4, 3, 2, 5]).rank == (5, 4, 3, 2, 5)
    both = s.round(tol=1e-6, rank=4)
    assert both.rank == (4,) * 5
    assert both.options["round_rank"] == [4] * 5 and both.options["round_tol"] == 1e-6
    loose = s.round(rank=50)  # caps above what the cuts find change nothing
    assert rel(loose, s) < 1e-12


def test_round_error_decreases_with_the_cap():
    rng = np.random.default_rng(0)
    s = ring(rng, (3,) * 5) + 0.2 * ring(rng, (2,) * 5)
    errors = [rel(s.round(rank=r), s) for r in (1, 2, 3, 5)]
    assert errors[-1] < 1e-12
    assert errors[0] > errors[2]


def test_rounded_ring_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    r = (ring(rng, (3,) * 4) + ring(rng, (3,) * 4)).round(rank=(2, 3, 2, 3))
    tk.save(r, tmp_path / "r.npz")
    back = tk.load(tmp_path / "r.npz")
    assert back.options["round_rank"] == [2, 3, 2, 3]
    assert rel(back, r) == 0.0


@pytest.mark.parametrize("rank", [0, [2, 2], "3", 2.5])
def test_round_rank_is_validated(rank):
    rng = np.random.default_rng(0)
    with pytest.raises((ValueError, TypeError), match="rank"):
        ring(rng, (2, 2, 2)).round(rank=rank)
