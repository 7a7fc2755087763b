"""Tucker completion from the listed entries of a SparseTensor (unlisted="missing")."""

import numpy as np
import pytest

import tnkit as tk
from tnkit.sparse import SparseTensor


def _tucker_tensor(rng, shape, ranks):
    factors = [rng.standard_normal((n, r)) for n, r in zip(shape, ranks)]
    return tk.Tucker(rng.standard_normal(ranks), factors).to_tensor()


def _observed(rng, x, fraction):
    """A SparseTensor of a random ``fraction`` of ``x``'s entries and the mask."""
    mask = rng.random(x.shape) < fraction
    return SparseTensor.from_dense(x, mask=mask), mask


def _held_out_error(fit, x, mask):
    y = np.asarray(fit.to_tensor())
    return np.linalg.norm((y - x)[~mask]) / np.linalg.norm(x[~mask])


@pytest.mark.parametrize("seed", range(8))
def test_completion_recovers_an_exact_tucker_tensor_from_five_percent(seed):
    # 2,100 of 42,000 entries for 352 parameters (all eight seeds recover from 3 % too)
    rng = np.random.default_rng(seed)
    x = _tucker_tensor(rng, (30, 35, 40), (3, 4, 3))
    sp, mask = _observed(rng, x, 0.05)
    fit = tk.tucker(sp, rank=[3, 4, 3], max_iter=200, stop_tol=1e-12, seed=seed)
    assert fit.rank == (3, 4, 3) and fit.options["unlisted"] == "missing"
    assert not fit.options["interrupted"] and fit.history[-1] < 1e-10
    assert _held_out_error(fit, x, mask) < 1e-6
    for u in fit.factors:  # the gauge: orthonormal factors
        np.testing.assert_allclose(u.T @ u, np.eye(u.shape[1]), atol=1e-10)


def test_completion_with_the_default_options_converges():
    rng = np.random.default_rng(0)
    x = _tucker_tensor(rng, (30, 35, 40), (3, 4, 3))
    sp, mask = _observed(rng, x, 0.05)
    fit = tk.tucker(sp, rank=[3, 4, 3])  # max_iter: 300 for completion, stopped by stop_tol
    assert fit.options["max_iter"] == 300 and len(fit.history) < 300
    assert _held_out_error(fit, x, mask) < 1e-6
    assert tk.tucker(SparseTensor.from_dense(x), rank=2).options["max_iter"] == 20  # HOOI


def test_completion_by_cg_core_steps_for_a_large_core():
    rng = np.random.default_rng(7)
    x = _tucker_tensor(rng, (20, 22, 24), (7, 7, 6))  # 294 core entries: CG core updates
    sp, mask = _observed(rng, x, 0.3)
    fit = tk.tucker(sp, rank=[7, 7, 6], max_iter=300)
    assert _held_out_error(fit, x, mask) < 1e-6


def test_complex_completion():
    rng = np.random.default_rng(8)
    shape, ranks = (15, 16, 17), (2, 3, 2)
    factors = [
        rng.standard_normal((n, r)) + 1j * rng.standard_normal((n, r)) for n, r in zip(shape, ranks)
    ]
    x = tk.Tucker(rng.standard_normal(ranks) + 1j * rng.standard_normal(ranks), factors).to_tensor()
    sp, mask = _observed(rng, x, 0.2)
    fit = tk.tucker(sp, rank=list(ranks), max_iter=200)
    assert _held_out_error(fit, x, mask) < 1e-6


def test_entries_beat_the_dense_masked_fit():
    rng = np.random.default_rng(3)
    x = _tucker_tensor(rng, (15, 16, 17), (2, 3, 2))
    sp, mask = _observed(rng, x, 0.15)
    sparse = tk.tucker(sp, rank=[2, 3, 2], max_iter=100, stop_tol=1e-12)
    dense = tk.tucker(np.where(mask, x, 0.0), rank=[2, 3, 2], mask=mask, max_iter=100)
    sparse_err, dense_err = _held_out_error(sparse, x, mask), _held_out_error(dense, x, mask)
    assert sparse_err < 1e-8 and sparse_err <= dense_err


def test_torch_gives_the_numpy_fit():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = _tucker_tensor(rng, (12, 13, 14), (2, 3, 2))
    sp, mask = _observed(rng, x, 0.3)
    a = tk.tucker(sp, rank=[2, 3, 2], max_iter=15, stop_tol=None)
    b = tk.tucker(sp.to("torch"), rank=[2, 3, 2], max_iter=15, stop_tol=None)
    assert isinstance(b.core, torch.Tensor)
    np.testing.assert_allclose(b.history, a.history, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(b.to_tensor().numpy(), a.to_tensor(), atol=1e-8)


def test_ctrl_c_keeps_finished_sweeps():
    rng = np.random.default_rng(5)
    x = _tucker_tensor(rng, (10, 11, 12), (2, 2, 2))
    sp, _ = _observed(rng, x, 0.4)

    def interrupt(sweep, err):
        if sweep == 3:
            raise KeyboardInterrupt

    fit = tk.tucker(sp, rank=2, max_iter=50, stop_tol=None, progress=interrupt)
    assert fit.options["interrupted"] and len(fit.history) == 3
    assert fit.history[-1] < fit.history[0]


def test_stop_rules_and_seed():
    rng = np.random.default_rng(6)
    x = _tucker_tensor(rng, (10, 11, 12), (2, 2, 2))
    sp, _ = _observed(rng, x, 0.4)
    assert len(tk.tucker(sp, rank=2, max_iter=4, stop_tol=None).history) == 4
    a, b = (tk.tucker(sp, rank=2, max_iter=5, seed=1) for _ in range(2))
    np.testing.assert_array_equal(a.to_tensor(), b.to_tensor())


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({}, ValueError, "needs rank="),
        ({"tol": 0.1}, ValueError, "needs rank=, not tol="),
        ({"rank": 2, "core_budget": 100}, ValueError, "not core_budget="),
        ({"rank": 2, "method": "sthosvd"}, ValueError, "method must be 'hooi'"),
        ({"rank": 2, "nonnegative": True}, ValueError, "nonnegative=True needs dense x"),
        ({"rank": [2, 2]}, ValueError, "rank must give 3"),
        ({"rank": [2, 2, 99]}, ValueError, r"rank\[2\] = 99 exceeds"),
        ({"rank": 2, "max_iter": 0}, ValueError, "max_iter"),
        ({"rank": 2, "stop_tol": "x"}, ValueError, "stop_tol"),
        ({"rank": 2, "seed": -1}, ValueError, "seed"),
        ({"rank": 2, "mask": np.ones((5, 6, 7), bool)}, TypeError, "mask= is for dense x"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    rng = np.random.default_rng(9)
    sp, _ = _observed(rng, rng.standard_normal((5, 6, 7)), 0.5)
    with pytest.raises(error, match=match):
        tk.tucker(sp, **kwargs)


def test_a_torch_sweep_brings_one_scalar_to_the_host():
    pytest.importorskip("torch")
    from tnkit import backend

    rng = np.random.default_rng(10)
    sp, _ = _observed(rng, _tucker_tensor(rng, (8, 9, 10), (2, 2, 2)), 0.5)
    sp = sp.to("torch")
    logs = []
    for sweeps in (2, 4):
        with backend.watch_transfers() as log:
            tk.tucker(sp, rank=2, max_iter=sweeps, stop_tol=None)
        logs.append(log.summary())
    per_sweep = {k: (logs[1][k] - logs[0][k]) / 2 for k in logs[0]}
    assert per_sweep["d2h_scalars"] <= 1 and per_sweep["d2h_arrays"] == 0, per_sweep
    assert per_sweep["h2d"] == 0, per_sweep
