"""TR completion from the listed entries of a SparseTensor (``tk.tr`` of a SparseTensor)."""

import numpy as np
import pytest

import tnkit as tk
from tnkit.sparse import SparseTensor


def _sampled_tr(rng, shape, ranks, fraction, held=500):
    """An exact random ring, a SparseTensor of ``fraction`` of its entries (missing ones
    unlisted) and ``held`` other entries (indices, values) held out."""
    n = len(shape)
    ring = tk.TR([rng.standard_normal((ranks[k - 1], shape[k], ranks[k])) for k in range(n)])
    x = ring.to_tensor()
    linear = rng.choice(x.size, size=int(fraction * x.size) + held, replace=False)
    idx = np.stack(np.unravel_index(linear, shape), axis=1)
    vals = x[tuple(idx.T)]
    seen = SparseTensor(idx[:-held], vals[:-held], shape, unlisted="missing")
    return x, seen, idx[-held:], vals[-held:]


def _held_error(fit, idx, vals):
    """Relative error of the ring at the held-out entries, from its slices at those entries."""
    chain = None
    for k, core in enumerate(fit.cores):
        s = np.asarray(core)[:, idx[:, k], :].transpose(1, 0, 2)
        chain = s if chain is None else chain @ s
    model = np.trace(chain, axis1=1, axis2=2)
    return np.linalg.norm(model - vals) / np.linalg.norm(vals)


def test_recovers_an_exact_ring_from_a_tenth_of_its_entries():
    rng = np.random.default_rng(100)
    _, seen, idx, vals = _sampled_tr(rng, (8,) * 5, (2,) * 5, 0.1)
    fit = tk.tr(seen, rank=2, tol=1e-10, max_iter=300, improvement_tol=1e-12)
    assert fit.rank == (2,) * 5 and fit.history[-1] <= 1e-10
    assert _held_error(fit, idx, vals) < 1e-8
    assert fit.options["masked"] and fit.options["unlisted"] == "missing"
    assert fit.options["nnz"] == seen.nnz and not fit.options["interrupted"]
    assert fit.options["observed"] == pytest.approx(0.1, abs=1e-3)


def test_recovers_uneven_ranks_from_fifteen_percent():
    rng = np.random.default_rng(101)
    _, seen, idx, vals = _sampled_tr(rng, (10, 11, 12, 9), (3, 2, 3, 2), 0.15)
    fit = tk.tr(seen, rank=[3, 2, 3, 2], tol=1e-10, max_iter=300)
    assert fit.rank == (3, 2, 3, 2) and _held_error(fit, idx, vals) < 1e-6


def test_restarts_leave_a_local_minimum():
    rng = np.random.default_rng(305)
    _, seen, idx, vals = _sampled_tr(rng, (7, 7, 7, 7), (2, 2, 2, 2), 0.2, held=200)
    stuck = tk.tr(seen, 2, tol=1e-8, max_iter=100)
    assert stuck.history[-1] > 0.1 and stuck.options["starts"] == 1
    fit = tk.tr(seen, 2, tol=1e-8, max_iter=100, restarts=3)
    assert fit.options["starts"] == 2 and fit.options["restarts"] == 3
    assert fit.history[-1] <= 1e-8 and _held_error(fit, idx, vals) < 1e-6
    with pytest.raises(ValueError, match="restarts applies to a SparseTensor, TT or TR"):
        tk.tr(np.ones((3, 4, 5)), 2, restarts=2)


def test_agrees_with_dense_masked_tr_als_on_the_same_entries():
    rng = np.random.default_rng(103)
    x, seen, idx, vals = _sampled_tr(rng, (8, 9, 10), (2, 2, 2), 0.5, held=100)
    mask = np.zeros(x.shape, bool)
    mask[tuple(np.asarray(seen.indices).T)] = True
    kw = {"tol": 1e-10, "max_iter": 300, "improvement_tol": 1e-12}
    dense = tk.tr(np.where(mask, x, np.nan), 2, mask=mask, **kw)
    sparse = tk.tr(seen, 2, **kw)
    for fit in (dense, sparse):
        assert fit.history[-1] <= 1e-10 and _held_error(fit, idx, vals) < 1e-8
    assert np.linalg.norm(sparse.to_tensor() - dense.to_tensor()) < 1e-8 * np.linalg.norm(x)


def test_torch_tensors_give_the_numpy_fit():
    torch = pytest.importorskip("torch")
    _, seen, _, _ = _sampled_tr(np.random.default_rng(103), (6, 7, 8), (2, 2, 2), 0.3, held=50)
    a = tk.tr(seen, 2, max_iter=15, improvement_tol=0)
    b = tk.tr(seen.to("torch"), 2, max_iter=15, improvement_tol=0)
    assert isinstance(b.cores[0], torch.Tensor) and len(b.history) == 15
    np.testing.assert_allclose(b.history, a.history, rtol=1e-6, atol=1e-12)


def test_a_sweep_on_torch_brings_only_its_error_to_the_host():
    pytest.importorskip("torch")
    _, seen, _, _ = _sampled_tr(np.random.default_rng(103), (6, 7, 8), (2, 2, 2), 0.3, held=50)
    seen = seen.to("torch")
    counts = []
    for n in (6, 10):  # both grow the bonds to 2 after 4 sweeps: they differ by 4 sweeps at 2
        with tk.backend.watch_transfers(implicit=False) as log:
            fit = tk.tr(seen, 2, max_iter=n, improvement_tol=0)
        assert len(fit.history) == n and fit.rank == (2, 2, 2)
        counts.append(log.summary())
    extra = {k: counts[1][k] - counts[0][k] for k in counts[0]}
    assert extra == {"d2h_scalars": 4, "d2h_arrays": 0, "h2d": 0}


def test_the_same_seed_gives_the_same_ring():
    _, seen, _, _ = _sampled_tr(np.random.default_rng(104), (5, 6, 7), (2, 2, 2), 0.4, held=50)
    a, b = (tk.tr(seen, 2, max_iter=10, seed=3) for _ in range(2))
    assert a.history == b.history and a.options["seed"] == 3
    for g, h in zip(a.cores, b.cores):
        np.testing.assert_array_equal(g, h)


def test_ctrl_c_keeps_the_finished_sweeps():
    _, seen, _, _ = _sampled_tr(np.random.default_rng(105), (5, 6, 7), (2, 2, 2), 0.4, held=50)

    def interrupt(sweep, err):
        if sweep == 3:
            raise KeyboardInterrupt

    fit = tk.tr(seen, 2, max_iter=50, improvement_tol=0, progress=interrupt)
    assert fit.options["interrupted"] and len(fit.history) == 3
    assert np.all(np.isfinite(fit.to_tensor()))


def test_zero_entries_give_the_zero_ring():
    idx = np.array([[0, 1, 2], [3, 0, 1]])
    fit = tk.tr(SparseTensor(idx, np.zeros(2), (4, 5, 6), unlisted="missing"), 2)
    assert fit.history == [0.0] and fit.rank == (2, 2, 2)
    assert not np.any(fit.to_tensor())


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({}, ValueError, "needs rank="),
        ({"rank": [2, 2]}, ValueError, "rank must be"),
        ({"rank": 0}, ValueError, "rank"),
        ({"rank": 2, "method": "svd"}, ValueError, "method"),
        ({"rank": 2, "init": "bogus"}, ValueError, "init"),
        ({"rank": 2, "max_iter": 0}, ValueError, "max_iter"),
        ({"rank": 2, "tol": 2.0}, ValueError, "tol"),
        ({"rank": 2, "restarts": 0}, ValueError, "restarts"),
        ({"rank": 2, "mask": np.ones((5, 6, 7), bool)}, TypeError, "mask= is for dense x"),
    ],
)
def test_refuses_bad_input_naming_the_argument(kwargs, error, match):
    _, seen, _, _ = _sampled_tr(np.random.default_rng(106), (5, 6, 7), (2, 2, 2), 0.4, held=50)
    with pytest.raises(error, match=match):
        tk.tr(seen, **kwargs)


def test_refuses_zeros_unlisted():
    x = np.random.default_rng(107).standard_normal((4, 5, 6))
    with pytest.raises(ValueError, match="unlisted='missing'.*tnkit.cp or tnkit.tucker"):
        tk.tr(SparseTensor.from_dense(x), 2)


def test_completion_with_the_default_options_converges():
    rng = np.random.default_rng(0)
    ring = tk.TR([rng.standard_normal((2, 8, 2)) for _ in range(5)])
    y = ring.to_tensor()
    seen = rng.random(y.shape) < 0.1
    fit = tk.tr(SparseTensor.from_dense(y, mask=seen), 2)  # max_iter 300 for completion
    assert fit.options["max_iter"] == 300 and len(fit.history) < 300
    err = np.linalg.norm((fit.to_tensor() - y)[~seen]) / np.linalg.norm(y[~seen])
    assert err < 1e-6
