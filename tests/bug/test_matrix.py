"""Matrix BUG integrators on the Schrödinger problem of Ceruti, Kusch & Lubich (BIT 2022)."""

import numpy as np
import pytest

import tnkit as tk
from solvers import bug
from solvers.bug import DenseOperator, FactorOperator, problems
from tnkit.lowrank import LowRank, to_dense

OP = problems.matrix_schrodinger(100)
Y0 = problems.matrix_initial(100, rank=4, seed=0)
REF = problems.reference(OP, to_dense(Y0), 1.0)


def _error(method, h, **kw):
    y, hist = bug.integrate(OP, Y0, 1.0, dt=h, method=method, **kw)
    return np.linalg.norm(to_dense(y) - REF), hist


def test_adaptive_first_order_and_accuracy():
    e1, _ = _error("adaptive", 0.02, tol=1e-6)
    e2, hist = _error("adaptive", 0.01, tol=1e-6)
    assert e2 <= 4e-3
    assert 1.6 <= e1 / e2 <= 2.6
    assert max(hist["max_rank"]) <= 30


def test_fixed_rank_plateau():
    e1, hist = _error("fixed", 0.05)
    e2, _ = _error("fixed", 0.025)
    assert 0.05 < e2 < 0.1 and e2 > 0.8 * e1  # model error of rank 4 dominates
    assert set(hist["max_rank"]) == {4}


def test_exponential_substep_conserves_norm_and_energy():
    _, hist = _error("adaptive", 0.05, tol=1e-6, substep="expm")
    assert np.max(np.abs(np.array(hist["norm"]) - 1.0)) <= 1e-9
    energy = np.array(hist["energy"])
    assert np.max(np.abs(energy - energy[0])) <= 1e-8


def test_parallel_converges():
    e1, hist1 = _error("parallel", 0.05, tol=1e-6)
    e2, _ = _error("parallel", 0.025, tol=1e-6)
    assert e2 < 0.7 * e1 and e2 < 1e-2


def test_parallel_step_rejection_keeps_ranks_growing():
    stalled, h0 = _error("parallel", 0.02, tol=1e-6, max_rejections=0)
    growing, h1 = _error("parallel", 0.02, tol=1e-6)
    assert sum(h1["rejected"]) > 0 and sum(h0["rejected"]) == 0
    assert growing < 1e-3 < stalled


def test_matrix_step_equals_two_leaf_ttn_step():
    y0 = problems.matrix_initial(30, rank=3, seed=1)
    op = problems.matrix_schrodinger(30)
    kw = dict(dt=0.05, tol=1e-8, max_rejections=0)  # the η rejection rule is matrix-only
    for method in bug.METHODS:
        ym, _ = bug.integrate(op, y0, 0.1, method=method, **kw)
        yt, _ = bug.integrate(op, tk.TTN.from_lowrank(*y0), 0.1, method=method, **kw)
        assert np.linalg.norm(to_dense(ym) - yt.to_tensor()) < 1e-12, method


def test_factor_and_dense_callables_drive_the_same_steps():
    y0 = problems.matrix_initial(20, rank=2, seed=2)
    op = problems.matrix_schrodinger(20)
    h = op.hamiltonian.to_dense()

    def f(t, y):
        return (-1j * (h @ y.ravel())).reshape(y.shape)

    dense = DenseOperator(f, (20, 20), linear=True)
    ref, _ = bug.integrate(op, y0, 0.2, dt=0.05)
    out, _ = bug.integrate(dense, y0, 0.2, dt=0.05)
    assert np.linalg.norm(to_dense(out) - to_dense(ref)) < 1e-12
    fop = FactorOperator(
        lambda t, k, v: f(t, k @ v.conj().T) @ v,
        lambda t, l, u: f(t, u @ l.conj().T).conj().T @ u,
        lambda t, s, u, v: u.conj().T @ f(t, u @ s @ v.conj().T) @ v,
    )
    out2, _ = bug.integrate(fop, y0, 0.2, dt=0.05)
    assert np.linalg.norm(to_dense(out2) - to_dense(ref)) < 1e-12


def test_bad_input():
    with pytest.raises(ValueError, match="dims"):
        bug.integrate(problems.matrix_schrodinger(10), Y0, 1.0, dt=0.1)
    for kw in (
        {"dt": 0.0},
        {"dt": -1.0},
        {"dt": 0.1, "tol": 0.0},
        {"dt": 0.1, "tol": 1.5},
        {"dt": 0.1, "method": "euler"},
        {"dt": 0.1, "substep": "rk2"},
        {"dt": 0.1, "rank_max": 3},
        {"dt": 0.1, "blas_threads": 0},
    ):
        with pytest.raises(ValueError):
            bug.integrate(OP, Y0, 1.0, **kw)
    with pytest.raises(ValueError):
        bug.integrate(OP, Y0, -1.0, dt=0.1)
    with pytest.raises(TypeError):
        bug.integrate(lambda t, y: y, Y0, 1.0, dt=0.1)
    with pytest.raises(ValueError):
        bug.integrate(OP, LowRank(Y0.u, Y0.s[:3, :3], Y0.v), 1.0, dt=0.1)
