"""Operators: dense forms, and their tree projections against an independent dense path."""

import numpy as np
import pytest

import tnkit as tk
from solvers.bug import DenseOperator, SumOfProducts, problems
from solvers.bug.environments import DenseEnv, SumOfProductsEnv, expectation
from solvers.bug.tree import Prepared

TREE = ((0, (1, 2)), (3, 4))


def test_sum_of_products_dense_forms_agree():
    op = problems.long_range_ising(4)
    h = op.hamiltonian.to_dense()
    assert np.allclose(h, h.conj().T)
    x = np.random.default_rng(0).standard_normal((2,) * 4) + 0j
    assert np.allclose(op.apply(x).ravel(), op.to_dense() @ x.ravel(), atol=1e-13)
    sz, sx = problems.SIGMA_Z, problems.SIGMA_X
    i2 = np.eye(2)
    tfim = -np.kron(np.kron(sz, sz), i2) - np.kron(i2, np.kron(sz, sz))
    tfim -= sum(
        np.kron(np.kron(*[(sx if j == k else i2) for j in range(2)]), sx if k == 2 else i2)
        for k in range(3)
    )
    assert np.allclose(problems.transverse_field_ising(3).hamiltonian.to_dense(), tfim)


def test_projections_match_dense_reference():
    # Every leaf and node right-hand side built from per-term environments equals the dense
    # projection πᴴ F π, and ⟨Y, HY⟩ equals the dense value, to 1e-12.
    op = problems.long_range_ising(5)
    y = tk.TTN.random(TREE, (2,) * 5, 3, seed=4, dtype="complex128").orthonormalize()
    info, arrays = y.info, y.node_arrays()
    dense = DenseOperator(op, op.dims, linear=True)
    fast = Prepared(info, arrays, SumOfProductsEnv(op, info, arrays["node"]), skip_complete=False)
    slow = Prepared(info, arrays, DenseEnv(dense, info, arrays["node"]), skip_complete=False)
    rng = np.random.default_rng(5)
    for x in info.order:
        z = rng.standard_normal(fast.init[x].shape) + 1j * rng.standard_normal(fast.init[x].shape)
        if x in info.site:
            a = fast.env.leaf_rhs(x, fast.down[x])(0.0, z)
            b = slow.env.leaf_rhs(x, slow.down[x])(0.0, z)
        else:
            kids = info.children[x]
            a = fast.env.node_rhs(x, [fast.ups[c] for c in kids], fast.down[x])(0.0, z)
            b = slow.env.node_rhs(x, [slow.ups[c] for c in kids], slow.down[x])(0.0, z)
        assert np.abs(a - b).max() < 1e-12 * max(1.0, np.abs(b).max()), x
    psi = y.to_tensor()
    hpsi = op.hamiltonian.apply(psi)
    assert expectation(op.hamiltonian, info, arrays) == pytest.approx(np.vdot(psi, hpsi), rel=1e-12)
    # the operator applied to the TTN: root Galerkin vector prolongated = dense H psi projected
    assert np.vdot(psi, op.apply(psi)) == pytest.approx(-1j * np.vdot(psi, hpsi), rel=1e-12)


def test_dense_operator_to_dense():
    a = np.random.default_rng(1).standard_normal((6, 6))
    op = DenseOperator(lambda t, y: (a @ y.ravel()).reshape(y.shape), (2, 3), linear=True)
    assert np.allclose(op.to_dense(), a)
    with pytest.raises(ValueError):
        DenseOperator(lambda t, y: y, (2, 3)).to_dense()


@pytest.mark.parametrize(
    "dims, terms",
    [
        ((2, 2), [(1.0, {2: np.eye(2)})]),
        ((2, 2), [(1.0, {0: np.eye(3)})]),
        ((2, 2), []),
        ((2, 2), [(1.0, {0: np.full((2, 2), np.nan)})]),
    ],
)
def test_bad_terms_raise(dims, terms):
    with pytest.raises((ValueError, TypeError)):
        SumOfProducts(dims, terms)
