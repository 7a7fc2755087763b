"""Nonnegative CP and Tucker: the NNLS steps against scipy, recovery, masks, torch, peers."""

import numpy as np
import pytest
import scipy.optimize
import tensorly as tl
from tensorly.decomposition import non_negative_parafac_hals, non_negative_tucker_hals

import tnkit as tk
from tnkit.decompose import _nonneg
from tnkit.formats.cp import CP
from tnkit.formats.tucker import Tucker


def _nonneg_cp(rng, shape=(10, 12, 14), rank=3):
    return CP(None, [rng.random((n, rank)) for n in shape]).to_tensor()


def _nonneg_tucker(rng, shape=(10, 12, 9), ranks=(3, 4, 2)):
    return Tucker(rng.random(ranks), [rng.random((n, r)) for n, r in zip(shape, ranks)])


def _rel(model, x):
    return np.linalg.norm(model.to_tensor() - x) / np.linalg.norm(x)


def _min_entry(arrays):
    return min(float(np.min(a)) for a in arrays)


# ---------------------------------------------------------------------- NNLS steps
def test_hals_converges_to_the_scipy_nnls_solution():
    rng = np.random.default_rng(0)
    b = rng.random((40, 5))
    x = rng.standard_normal((7, 40))  # mixed signs: some constraints are active
    a = _nonneg.hals(np.ones((7, 5)), x @ b, b.T @ b, inner=500)
    expected = np.array([scipy.optimize.nnls(b, row)[0] for row in x])
    assert np.abs(a - expected).max() <= 1e-8
    assert (a >= 0).all() and (a == 0).any()


def test_fista_core_converges_to_the_scipy_nnls_solution():
    rng = np.random.default_rng(1)
    factors = [rng.random((n, r)) for n, r in ((6, 2), (5, 3), (7, 2))]
    x = rng.standard_normal((6, 5, 7))
    p = x
    for k, u in enumerate(factors):
        p = np.moveaxis(np.tensordot(u.T, p, axes=(1, k)), 0, k)
    core = _nonneg.fista_core(p, [u.T @ u for u in factors], np.zeros((2, 3, 2)), 5000)
    kron = np.kron(np.kron(factors[0], factors[1]), factors[2])
    expected = scipy.optimize.nnls(kron, x.ravel())[0].reshape(2, 3, 2)
    assert np.abs(core - expected).max() <= 1e-7


def test_inner_sweeps_follow_the_cost_rule():
    assert _nonneg.inner_sweeps(100, 10, 1e3) == 1
    assert _nonneg.inner_sweeps(100, 10, 2.0 * 101 * 100 * 3) == 4
    assert _nonneg.inner_sweeps(100, 10, 1e12) == _nonneg.INNER_MAX


# ---------------------------------------------------------------------- CP
def test_nonnegative_cp_recovers_an_exact_nonnegative_tensor():
    x = _nonneg_cp(np.random.default_rng(2))
    c = tk.cp(x, 3, nonnegative=True, stop_tol=1e-14)
    assert _rel(c, x) <= 1e-8
    assert _min_entry([c.weights, *c.factors]) >= 0.0
    assert c.options["nonnegative"] is True
    assert np.isclose(c.history[-1], _rel(c, x), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("line_search", [True, False])
def test_nonnegative_cp_fits_at_least_as_well_as_tensorly_hals(line_search):
    rng = np.random.default_rng(3)
    x = np.abs(_nonneg_cp(rng, (15, 16, 17), 4) + 0.05 * rng.standard_normal((15, 16, 17)))
    ours = tk.cp(x, 4, nonnegative=True, line_search=line_search, max_iter=200, stop_tol=None)
    w, f = non_negative_parafac_hals(x, 4, n_iter_max=200, tol=0, init="svd")
    theirs = np.linalg.norm(tl.cp_to_tensor((w, f)) - x) / np.linalg.norm(x)
    assert _rel(ours, x) <= theirs + 1e-6
    assert _min_entry([ours.weights, *ours.factors]) >= 0.0


def test_nonnegative_cp_of_signed_data_costs_accuracy_but_stays_nonnegative():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 9, 10))
    free = tk.cp(x, 3, max_iter=300)
    nn = tk.cp(x, 3, nonnegative=True, max_iter=300)
    assert _min_entry([nn.weights, *nn.factors]) >= 0.0
    assert _rel(nn, x) >= _rel(free, x) - 1e-9
    assert _rel(nn, x) < 1.0  # still explains part of the data


def test_nonnegative_cp_completes_missing_entries():
    rng = np.random.default_rng(5)
    x = _nonneg_cp(rng)
    mask = rng.random(x.shape) < 0.6
    c = tk.cp(np.where(mask, x, np.nan), 3, mask=mask, nonnegative=True, max_iter=2000)
    missing = ~mask
    err = np.linalg.norm((c.to_tensor() - x)[missing]) / np.linalg.norm(x[missing])
    assert err <= 1e-4
    assert _min_entry(c.factors) >= 0.0


def test_nonnegative_cp_on_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    x = _nonneg_cp(np.random.default_rng(6)) + 0.01
    a = tk.cp(x, 3, nonnegative=True, max_iter=50, stop_tol=None)
    b = tk.cp(torch.tensor(x), 3, nonnegative=True, max_iter=50, stop_tol=None)
    assert isinstance(b.weights, torch.Tensor)
    assert np.allclose(a.history, b.history, rtol=1e-7, atol=1e-12)


def test_nonnegative_cp_accepts_a_nonnegative_start():
    rng = np.random.default_rng(7)
    x = _nonneg_cp(rng)
    start = CP(None, [rng.random((n, 3)) for n in x.shape])
    c = tk.cp(x, 3, init=start, nonnegative=True, stop_tol=1e-14)
    assert _rel(c, x) <= 1e-6


def test_nonnegative_cp_rejects_bad_options():
    rng = np.random.default_rng(8)
    x = _nonneg_cp(rng)
    with pytest.raises(TypeError, match="nonnegative must be True or False"):
        tk.cp(x, 3, nonnegative="yes")
    with pytest.raises(TypeError, match="real x"):
        tk.cp(x + 1j, 3, nonnegative=True)
    with pytest.raises(ValueError, match="stable=True"):
        tk.cp(x, 3, nonnegative=True, stable=True)
    negative = CP(None, [rng.standard_normal((n, 3)) for n in x.shape])
    with pytest.raises(ValueError, match="negative entry"):
        tk.cp(x, 3, init=negative, nonnegative=True)


# ---------------------------------------------------------------------- Tucker
def test_nonnegative_tucker_fits_an_exact_nonnegative_tensor():
    t = _nonneg_tucker(np.random.default_rng(9))
    x = t.to_tensor()
    fit = tk.tucker(x, [3, 4, 2], nonnegative=True, max_iter=200, stop_tol=None)
    h = np.array(fit.history)
    assert h[-1] <= 5e-3 and h[-1] < h[0] / 5
    assert np.diff(h).max() <= 1e-9  # block coordinate descent: the error never rises
    assert np.isclose(h[-1], _rel(fit, x), rtol=1e-6)
    assert _min_entry([fit.core, *fit.factors]) >= 0.0
    assert np.allclose(np.linalg.norm(fit.factors[0], axis=0), 1.0)
    assert fit.options["nonnegative"] is True


def test_nonnegative_tucker_fits_at_least_as_well_as_tensorly_hals():
    rng = np.random.default_rng(10)
    x = _nonneg_tucker(rng, (14, 15, 16), (3, 3, 3)).to_tensor()
    x = np.abs(x + 0.02 * x.std() * rng.standard_normal(x.shape))
    ours = tk.tucker(x, [3, 3, 3], nonnegative=True, max_iter=50, stop_tol=None)
    core, factors = non_negative_tucker_hals(x, [3, 3, 3], n_iter_max=50, tol=0)
    theirs = np.linalg.norm(tl.tucker_to_tensor((core, factors)) - x) / np.linalg.norm(x)
    assert _rel(ours, x) <= theirs + 1e-6


def test_nonnegative_tucker_with_a_core_budget_and_a_mask():
    rng = np.random.default_rng(11)
    x = _nonneg_tucker(rng).to_tensor()
    mask = rng.random(x.shape) < 0.7
    fit = tk.tucker(
        np.where(mask, x, np.nan), core_budget=200, mask=mask, nonnegative=True, max_iter=300
    )
    assert fit.n_params <= 200
    missing = ~mask
    err = np.linalg.norm((fit.to_tensor() - x)[missing]) / np.linalg.norm(x[missing])
    assert err <= 0.05
    assert _min_entry([fit.core, *fit.factors]) >= 0.0


def test_nonnegative_tucker_on_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    x = _nonneg_tucker(np.random.default_rng(12)).to_tensor()
    a = tk.tucker(x, [3, 4, 2], nonnegative=True, max_iter=20, stop_tol=None)
    b = tk.tucker(torch.tensor(x), [3, 4, 2], nonnegative=True, max_iter=20, stop_tol=None)
    assert isinstance(b.core, torch.Tensor)
    assert np.allclose(a.history, b.history, rtol=1e-7)


def test_nonnegative_tucker_rejects_bad_options():
    x = _nonneg_tucker(np.random.default_rng(13)).to_tensor()
    with pytest.raises(ValueError, match="rank= or core_budget="):
        tk.tucker(x, tol=0.1, nonnegative=True)
    with pytest.raises(ValueError, match="method must be 'hooi'"):
        tk.tucker(x, [2, 2, 2], method="sthosvd", nonnegative=True)
    with pytest.raises(TypeError, match="real x"):
        tk.tucker(x + 1j, [2, 2, 2], nonnegative=True)
    with pytest.raises(TypeError, match="nonnegative must be True or False"):
        tk.tucker(x, [2, 2, 2], nonnegative=1)
