"""Rank rules: ladders, fractions, the global allocation, EVBMF."""

import numpy as np
import pytest

pytest.importorskip("torch")

from tnkit.nn import geometry  # noqa: E402
from tnkit.nn import ranks as rk  # noqa: E402
from tnkit.nn.evbmf import evbmf_rank, weakened_rank  # noqa: E402
from tnkit.nn.geometry import LayerInfo, factor_int, params  # noqa: E402

CONV = LayerInfo(64, 32, (3, 3), (1, 1), (1, 1), (1, 1), (8, 8))


@pytest.mark.parametrize("method", ["svd", "tucker", "cp", "cp4", "tt"])
def test_ladder_is_increasing_and_fraction_fits(method):
    rungs = rk.ladder(CONV, method)
    costs = [params(CONV, method, r) for r in rungs]
    assert costs == sorted(costs) and costs[-1] <= params(CONV, "dense", ())
    for f in (0.5, 1 / 8, 1 / 32):
        r = rk.fraction_ranks(CONV, method, f)
        assert params(CONV, method, r) <= f * params(CONV, "dense", ())
        nxt = rungs.index(r) + 1
        if nxt < len(rungs):  # the next rung would not fit
            assert params(CONV, method, rungs[nxt]) > f * params(CONV, "dense", ())


def test_round_ranks():
    assert rk.round_ranks((5, 9), CONV, "tucker", 8) == (5, 16)  # below one block: kept
    assert rk.round_ranks((17, 32), CONV, "tucker", 16) == (32, 32)
    assert rk.round_ranks((63, 31), CONV, "tucker", 16) == (64, 32)  # capped at (64, 32)
    assert rk.round_ranks((63, 31), CONV, "tucker", 48) == (64, 31)
    assert rk.round_ranks((7, 13), CONV, "tucker", 1) == (7, 13)


@pytest.mark.parametrize("method", ["svd", "tucker", "cp", "cp4", "tt"])
@pytest.mark.parametrize("multiple", [8, 16])
def test_ladder_with_multiple(method, multiple):
    full = geometry.full_ranks(CONV, method)
    rungs = rk.ladder(CONV, method, multiple=multiple)
    assert all(r < multiple or r % multiple == 0 or r == f for g in rungs for r, f in zip(g, full))
    costs = [params(CONV, method, r) for r in rungs]
    assert costs == sorted(costs) and len(set(rungs)) == len(rungs)
    for f in (1 / 4, 1 / 8, 1 / 16):
        r = rk.fraction_ranks(CONV, method, f, multiple=multiple)
        assert r in rungs and params(CONV, method, r) <= f * params(CONV, "dense", ())


def test_fraction_ranks_with_multiple_on_a_known_layer():
    """conv 32 -> 64, 3x3 at 1/8: CP-3 21 -> 16; Tucker-2 (14, 7) stays below one block."""
    assert rk.fraction_ranks(CONV, "cp", 1 / 8) == (21,)
    assert rk.fraction_ranks(CONV, "cp", 1 / 8, multiple=16) == (16,)
    assert rk.fraction_ranks(CONV, "tucker", 1 / 8, multiple=16) == (14, 7)
    assert rk.fraction_ranks(CONV, "svd", 1 / 2, multiple=16) == (16,)  # 26 -> 16 (32 too big)


def test_allocate_prefers_cheap_error():
    costs = np.array([1.0, 2.0, 3.0, 4.0])
    flat = (costs, np.array([0.3, 0.2, 0.1, 0.0]))  # each rung buys 0.1 error
    steep = (costs, np.array([0.9, 0.5, 0.1, 0.0]))  # the last rung buys 0.1, others more
    assert rk.allocate([flat, steep], 5.0) == [0, 3] or rk.allocate([flat, steep], 5.0) == [1, 2]
    picks = rk.allocate([flat, steep], 6.0)
    assert picks == [1, 3] or picks == [2, 2]
    assert sum(c[p] for (c, _), p in zip([flat, steep], picks)) <= 6.0
    assert rk.allocate([flat, steep], 0.5) == [0, 0]


def test_tucker_error_curve_matches_projection():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 5, 3, 3))
    info = LayerInfo(6, 5, (3, 3), (1, 1), (1, 1), (1, 1))
    rungs = [(6, 5), (3, 2)]
    curve = rk.error_curve(w, info, "tucker", rungs)
    assert curve[0] == pytest.approx(0.0, abs=1e-12)
    u0 = np.linalg.svd(w.reshape(6, -1))[0][:, :3]
    u1 = np.linalg.svd(np.moveaxis(w, 1, 0).reshape(5, -1))[0][:, :2]
    proj = np.einsum("ta,ua,sb,vb,uv...->ts...", u0, u0, u1, u1, w)
    assert curve[1] == pytest.approx(np.sum((w - proj) ** 2) / np.sum(w**2), rel=1e-10)


def test_evbmf_rank_of_noisy_low_rank_matrix():
    rng = np.random.default_rng(1)
    y = rng.standard_normal((40, 5)) @ rng.standard_normal((5, 80)) * 2
    y += 0.1 * rng.standard_normal((40, 80))
    s = np.linalg.svd(y, compute_uv=False)
    assert evbmf_rank(s, y.shape) == 5
    assert evbmf_rank(s, y.T.shape) == 5
    assert weakened_rank(40, 5, 0.0) == 40 and weakened_rank(40, 5, 1.0) == 5


def test_factor_int():
    assert factor_int(1024, 3) == (16, 8, 8)
    assert factor_int(10, 3) == (5, 2, 1)
    assert np.prod(factor_int(97, 3)) == 97


def test_allocate_is_optimal_on_non_convex_curves():
    """The knapsack plan matches brute force (within the greedy fill's reach) and fits."""
    import itertools

    rng = np.random.default_rng(3)
    for _ in range(20):
        curves = []
        for _ in range(3):
            costs = np.cumsum(rng.uniform(1, 10, size=5))
            errors = np.sort(rng.uniform(0, 1, size=5))[::-1]  # decreasing, not convex
            curves.append((costs, errors))
        budget = float(rng.uniform(sum(c[0] for c, _ in curves), sum(c[-1] for c, _ in curves)))
        picks = rk.allocate(curves, budget)
        cost = sum(c[p] for (c, _), p in zip(curves, picks))
        error = sum(e[p] for (_, e), p in zip(curves, picks))
        best = min(
            sum(e[p] for (_, e), p in zip(curves, ps))
            for ps in itertools.product(range(5), repeat=3)
            if sum(c[p] for (c, _), p in zip(curves, ps)) <= budget
        )
        assert cost <= budget
        assert error == pytest.approx(best, abs=1e-12)
