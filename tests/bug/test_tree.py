"""TTN (and Tucker) BUG integrators against dense expm_multiply references."""

import numpy as np
import pytest

import tnkit as tk
from solvers import bug
from solvers.bug import DenseOperator, SumOfProducts, problems, tree

TREE8 = problems.binary_tree(8)
OP8 = problems.transverse_field_ising(8)
Y8 = problems.all_up(TREE8, rank=2)
REF8 = problems.reference(OP8, Y8.to_tensor(), 1.0)


def _error(method, h, **kw):
    y, hist = bug.integrate(OP8, Y8, 1.0, dt=h, method=method, tol=1e-8, **kw)
    return np.linalg.norm(y.to_tensor() - REF8), hist


def test_adaptive_ttn_ising_h32():
    assert TREE8 == (((0, 1), (2, 3)), ((4, 5), (6, 7)))
    err, hist = _error("adaptive", 1 / 32)
    assert err <= 1e-3
    assert max(hist["max_rank"]) <= 16
    assert abs(hist["norm"][-1] - 1) < 1e-3


@pytest.mark.slow
def test_adaptive_ttn_ising_h64():
    err, hist = _error("adaptive", 1 / 64)
    assert err <= 1e-4 and max(hist["max_rank"]) <= 16


def test_parallel_ttn_converges_and_grows_ranks():
    e1, h1 = _error("parallel", 1 / 16)
    e2, h2 = _error("parallel", 1 / 32)
    assert e2 < 0.5 * e1 and e2 < 2e-3
    assert sum(h2["rejected"]) > 0 and max(h2["max_rank"]) > 4  # rejection lets ranks grow


def test_fixed_rank_ttn_is_accurate_at_full_rank_and_stalls_below():
    tree = ((0, 1), (2, 3))
    op = problems.transverse_field_ising(4)
    y0 = tk.TTN.random(tree, (2,) * 4, 4, seed=0, dtype="complex128").orthonormalize()
    y0 = y0.scale(1 / y0.norm())
    ref = problems.reference(op, y0.to_tensor(), 0.5)
    y, hist = bug.integrate(op, y0, 0.5, dt=1 / 32, method="fixed")
    assert np.linalg.norm(y.to_tensor() - ref) < 1e-5
    err, _ = _error("fixed", 1 / 16)
    assert err > 0.3  # ranks 2 cannot follow the dynamics


def test_parallel_sequential_executor_gives_same_result():
    a, _ = bug.integrate(OP8, Y8, 0.125, dt=1 / 32, method="parallel")
    b, _ = bug.integrate(OP8, Y8, 0.125, dt=1 / 32, method="parallel", workers=2)
    c, _ = bug.integrate(OP8, Y8, 0.125, dt=1 / 32, method="adaptive", workers=2)
    d, _ = bug.integrate(OP8, Y8, 0.125, dt=1 / 32, method="adaptive")
    assert np.linalg.norm(a.to_tensor() - b.to_tensor()) < 1e-13
    assert np.linalg.norm(c.to_tensor() - d.to_tensor()) < 1e-13


def test_tucker_long_range_ising_and_dense_callable():
    op = problems.long_range_ising(4)
    tucker = tk.Tucker(np.zeros((2, 2, 2, 2)), [np.eye(2)] * 4)
    tucker.core[0, 0, 0, 0] = 1.0
    ref = problems.reference(op, tucker.to_tensor(), 0.25)
    y, hist = bug.integrate(op, tucker, 0.25, dt=1 / 16, tol=1e-10, substep="expm")
    assert isinstance(y, tk.Tucker)
    assert np.linalg.norm(y.to_tensor() - ref) < 1e-10  # full rank: the exponential is exact
    h = op.hamiltonian.to_dense()
    dense = DenseOperator(
        lambda t, x: (-1j * (h @ x.ravel())).reshape(x.shape), op.dims, linear=True
    )
    y2, _ = bug.integrate(dense, tucker, 0.25, dt=1 / 16, tol=1e-10, substep="expm")
    assert np.linalg.norm(y2.to_tensor() - y.to_tensor()) < 1e-12


def test_expm_substep_conserves_norm_on_a_tree():
    y, hist = bug.integrate(OP8, Y8, 0.25, dt=1 / 16, method="adaptive", tol=1e-10, substep="expm")
    assert np.max(np.abs(np.array(hist["norm"]) - 1)) < 1e-9


def test_observables_and_history():
    mz = problems.magnetization(8)
    _, hist = bug.integrate(OP8, Y8, 0.25, dt=1 / 16, observables={"mz": mz})
    assert hist["observables"]["mz"][0] == pytest.approx(1.0)
    assert len(hist["time"]) == 5 and hist["time"][-1] == pytest.approx(0.25)
    assert hist["energy"][0] == pytest.approx(-7.0)
    ref = problems.reference(OP8, Y8.to_tensor(), 0.25)
    dense_mz = np.vdot(ref, mz.apply(ref)).real
    assert hist["observables"]["mz"][-1] == pytest.approx(dense_mz, abs=2e-3)


def test_bad_input():
    with pytest.raises(ValueError, match="dims"):
        bug.integrate(problems.transverse_field_ising(6), Y8, 1.0, dt=0.1)
    with pytest.raises(ValueError, match="rank_max"):
        bug.integrate(OP8, Y8, 1.0, dt=0.1, rank_max=1)
    with pytest.raises(TypeError):
        bug.integrate(OP8, np.zeros((2,) * 8), 1.0, dt=0.1)
    with pytest.raises(ValueError):
        SumOfProducts((2, 2), [(1.0, {0: np.eye(2)})]) and bug.integrate(
            DenseOperator(lambda t, y: y, (2,) * 8), Y8, 1.0, dt=0.1, substep="expm"
        )


def test_torch_state_matches_numpy():
    torch = pytest.importorskip("torch")
    tree = problems.binary_tree(4)
    op = problems.transverse_field_ising(4)
    y0 = problems.all_up(tree, rank=2)
    for method in bug.METHODS:
        a, _ = bug.integrate(op, y0, 0.0625, dt=1 / 32, method=method)
        b, _ = bug.integrate(op, y0.to("torch"), 0.0625, dt=1 / 32, method=method)
        assert isinstance(b["node"], torch.Tensor)
        assert np.linalg.norm(b.to_tensor().numpy() - a.to_tensor()) < 1e-12


def test_ctrl_c_returns_the_state_so_far_and_resumes():
    def stop_after_two(step, total, t):
        if step == 2:
            raise KeyboardInterrupt

    y, hist = bug.integrate(OP8, Y8, 0.25, dt=1 / 16, progress=stop_after_two)
    assert hist["interrupted"] and hist["time"][-1] == pytest.approx(0.125)
    rest, hist2 = bug.integrate(OP8, y, 0.25, dt=1 / 16, t0=hist["time"][-1])
    full, _ = bug.integrate(OP8, Y8, 0.25, dt=1 / 16)
    assert hist2["time"][0] == pytest.approx(0.125) and len(hist2["time"]) == 3
    assert np.linalg.norm(rest.to_tensor() - full.to_tensor()) < 1e-12


def test_tucker_random_hamiltonian_all_methods_converge():
    rng = np.random.default_rng(0)

    def herm(n):
        a = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
        return (a + a.conj().T) / 2

    dims = (6, 5, 4)
    terms = [(1.0, {k: herm(n)}) for k, n in enumerate(dims)]
    terms += [(0.5, {0: herm(6), 1: herm(5)}), (0.5, {1: herm(5), 2: herm(4)})]
    op = SumOfProducts(dims, terms).scaled(-1j)
    y0 = tk.TTN.random((0, 1, 2), dims, 2, seed=1, dtype="complex128").orthonormalize()
    tucker = tk.Tucker(y0["node"] / y0.norm(), y0.leaves)
    ref = problems.reference(op, tucker.to_tensor(), 0.5)
    errs = {}
    for method in bug.METHODS:
        for h in (0.05, 0.025):
            y, _ = bug.integrate(op, tucker, 0.5, dt=h, method=method, tol=1e-8)
            errs[method, h] = np.linalg.norm(y.to_tensor() - ref)
    assert 1.6 < errs["adaptive", 0.05] / errs["adaptive", 0.025] < 2.6  # first order
    assert errs["parallel", 0.025] < errs["parallel", 0.05] / 2
    assert errs["fixed", 0.025] > 0.5  # rank 2 cannot follow this dynamics


@pytest.mark.parametrize("method", ["adaptive", "parallel"])
def test_skipping_complete_subtrees_changes_only_round_off(method, monkeypatch):
    # Spin leaves (rank 2) and two-spin nodes (rank 4) span their whole space: a step skips
    # them. Running every substep instead (no node counted complete) gives the same state.
    fast, _ = bug.integrate(OP8, Y8, 0.25, dt=1 / 32, method=method, tol=1e-8)
    monkeypatch.setattr(tree, "complete_nodes", lambda info, arrays: set())
    slow, _ = bug.integrate(OP8, Y8, 0.25, dt=1 / 32, method=method, tol=1e-8)
    assert fast.rank == slow.rank
    assert np.abs(fast.to_tensor() - slow.to_tensor()).max() < 1e-12


def test_complete_nodes_and_truncation_keep_the_state_orthonormal():
    y, _ = bug.integrate(OP8, Y8, 0.125, dt=1 / 32, method="adaptive", tol=1e-8)
    info, arrays = y.info, y.node_arrays()
    complete = tree.complete_nodes(info, arrays)
    assert {f"leaf{k}" for k in range(8)} <= complete  # rank 2 = 2 states
    assert {"node0.0", "node1.1"} <= complete and "node0" not in complete  # ranks 4 and < 16
    assert y.is_orthonormal(atol=1e-12)
    # nothing to drop: the same tensor; a budget that cuts bonds: within it, still orthonormal
    same = tree.truncate_tree(info, arrays, max_error=1e-14)
    assert np.abs(tk.TTN(y.tree, same).to_tensor() - y.to_tensor()).max() < 1e-13
    cut = tree.truncate_tree(info, arrays, max_error=1e-2)
    small = tk.TTN(y.tree, cut)
    assert small.max_rank < y.max_rank and small.is_orthonormal(atol=1e-12)
    assert np.linalg.norm(small.to_tensor() - y.to_tensor()) <= 1e-2 * np.sqrt(len(info.order))
