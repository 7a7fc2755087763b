"""Tucker: exact recovery, tol guarantee, HOOI vs TensorLy, core budget, mask, bad input."""

import numpy as np
import pytest
import tensorly as tl
from tensorly.decomposition import tucker as tl_tucker

import tnkit as tk
from tnkit.decompose.tucker import core_shape


def _exact(rng, shape=(8, 9, 7), ranks=(3, 4, 2)):
    core = rng.standard_normal(ranks)
    return np.einsum(
        "abc,ia,jb,kc->ijk", core, *[rng.standard_normal(s) for s in zip(shape, ranks)]
    )


def _rel(t, x):
    return np.linalg.norm(t.to_tensor() - x) / np.linalg.norm(x)


@pytest.mark.parametrize("method", ["hooi", "sthosvd"])
def test_exact_recovery(method):
    x = _exact(np.random.default_rng(0))
    t = tk.tucker(x, rank=[3, 4, 2], method=method)
    assert t.rank == (3, 4, 2) and _rel(t, x) <= 1e-10


@pytest.mark.parametrize("tol", [0.1, 0.4, 0.7])
def test_tol_guarantee(tol):
    x = np.random.default_rng(1).standard_normal((9, 10, 11))
    for method in ("sthosvd", "hooi"):
        t = tk.tucker(x, tol=tol, method=method)
        assert _rel(t, x) <= tol
    assert tk.tucker(_exact(np.random.default_rng(2)), tol=1e-6).rank == (3, 4, 2)


def test_hooi_matches_tensorly_error_and_history_is_monotone():
    rng = np.random.default_rng(3)
    x = _exact(rng, (12, 13, 14), (3, 3, 3)) + 0.1 * rng.standard_normal((12, 13, 14))
    ours = tk.tucker(x, rank=[3, 3, 3], max_iter=30)
    core, factors = tl_tucker(x, rank=[3, 3, 3], n_iter_max=30, tol=1e-12)
    theirs = np.linalg.norm(tl.tucker_to_tensor((core, factors)) - x) / np.linalg.norm(x)
    assert abs(_rel(ours, x) - theirs) <= 1e-6
    assert np.isclose(ours.history[-1], _rel(ours, x), rtol=1e-6)
    assert all(b <= a + 1e-12 for a, b in zip(ours.history, ours.history[1:]))


def test_core_budget_respects_budget_and_finds_true_shape():
    x = _exact(np.random.default_rng(4))
    budget = 3 * 4 * 2 + 8 * 3 + 9 * 4 + 7 * 2
    t = tk.tucker(x, core_budget=budget)
    assert t.n_params <= budget and t.rank == (3, 4, 2) and _rel(t, x) <= 1e-10
    assert core_shape(x, 200) and sum(core_shape(x, 1 + 24)) == 3


def test_core_budget_greedy_path(monkeypatch):
    from tnkit.decompose import tucker as mod

    monkeypatch.setattr(mod, "_ENUMERATION_LIMIT", 10)
    x = _exact(np.random.default_rng(6))
    ranks = core_shape(x, 3 * 4 * 2 + 8 * 3 + 9 * 4 + 7 * 2)
    assert np.prod(ranks) + np.dot(ranks, [8, 9, 7]) <= 122 and ranks == [3, 4, 2]


def test_mask_completion():
    rng = np.random.default_rng(7)
    x = _exact(rng, (10, 11, 12), (2, 2, 2))
    mask = rng.random(x.shape) < 0.5
    t = tk.tucker(x, rank=[2, 2, 2], mask=mask, max_iter=200, stop_tol=1e-14)
    assert _rel(t, x) <= 1e-6
    nan = tk.tucker(np.where(mask, x, np.nan), rank=2, mask=mask, max_iter=200, stop_tol=1e-14)
    np.testing.assert_array_equal(nan.to_tensor(), t.to_tensor())


def test_dtypes_torch_and_progress():
    rng = np.random.default_rng(8)
    x = _exact(rng)
    seen = []
    t = tk.tucker(x.astype(np.float32), rank=[3, 4, 2], progress=lambda s, e: seen.append(e))
    assert t.core.dtype == np.float32 and _rel(t, x) <= 1e-5 and seen == t.history
    xc = x + 1j * _exact(rng)
    assert _rel(tk.tucker(xc, rank=[6, 8, 4]), xc) <= 1e-10
    torch = pytest.importorskip("torch")
    tt = tk.tucker(torch.from_numpy(x), rank=[3, 4, 2])
    assert tt.backend == "torch" and _rel(tt.to("numpy"), x) <= 1e-10


def test_bad_input():
    x = np.random.default_rng(9).standard_normal((4, 5, 6))
    with pytest.raises(ValueError, match="exactly one"):
        tk.tucker(x)
    with pytest.raises(ValueError, match="exactly one"):
        tk.tucker(x, rank=2, tol=0.1)
    with pytest.raises(ValueError, match="exceeds"):
        tk.tucker(x, rank=[5, 2, 2])
    with pytest.raises(ValueError, match="3 mode ranks"):
        tk.tucker(x, rank=[2, 2])
    with pytest.raises(ValueError, match="tol"):
        tk.tucker(x, tol=1.5)
    with pytest.raises(ValueError, match="method"):
        tk.tucker(x, rank=2, method="svd")
    with pytest.raises(ValueError, match="mask"):
        tk.tucker(x, rank=2, mask=np.ones((4, 5)))
    with pytest.raises(ValueError, match="core_budget"):
        tk.tucker(x, core_budget=3)
    with pytest.raises(ValueError, match="at least 2 modes"):
        tk.tucker(np.ones(4), rank=1)
    zero = tk.tucker(np.zeros((3, 4)), rank=[2, 2])
    assert zero.norm() == 0.0 and zero.rank == (2, 2)


def test_ctrl_c_returns_current_model():
    x = np.random.default_rng(10).standard_normal((6, 7, 8))

    def stop(sweep, err):
        if sweep == 2:
            raise KeyboardInterrupt

    t = tk.tucker(x, rank=[2, 2, 2], progress=stop, stop_tol=None)
    assert len(t.history) == 2 and np.isclose(_rel(t, x), t.history[-1], rtol=1e-6)


def test_fitted_result_saves_with_numpy_options(tmp_path):
    x = np.random.default_rng(11).standard_normal((5, 6, 7))
    t = tk.tucker(x, rank=[np.int64(2)] * 3, stop_tol=np.float64(1e-6))
    t.save(tmp_path / "t.npz")
    back = tk.load(tmp_path / "t.npz")
    assert back.history == t.history and back.options["rank"] == [2, 2, 2]
    np.testing.assert_allclose(back.to_tensor(), t.to_tensor())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"seed": -1}, "seed"),
        ({"seed": None}, "seed"),
        ({"seed": True}, "seed"),
        ({"stop_tol": "a"}, "stop_tol"),
        ({"stop_tol": float("nan")}, "stop_tol"),
    ],
)
def test_bad_options_are_named(kwargs, match):
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    with pytest.raises(ValueError, match=match):
        tk.tucker(x, 2, **kwargs)


def test_random_start_is_reproducible_from_seed():
    x = np.random.default_rng(2).standard_normal((4, 5, 6))
    a, b = (tk.tucker(x, 2, seed=11, max_iter=3) for _ in range(2))
    assert all(np.array_equal(p, q) for p, q in zip(a.arrays, b.arrays))
