"""Bad input to the public API raises ValueError/TypeError naming the argument.

One row per gap an input-validation audit found (the rest of the API was already covered by
each module's own tests): the call, the exception type and a fragment of its message.
"""

from __future__ import annotations

import numpy as np
import pytest

import tnkit as tk
from solvers import bug
from solvers.bug import problems
from tnkit import checks, linalg, lowrank
from tnkit.sparse import SparseTensor

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 5, 6))
U = np.linalg.qr(RNG.standard_normal((6, 2)))[0]
V = np.linalg.qr(RNG.standard_normal((5, 2)))[0]
S = np.diag([2.0, 1.0])
Y = lowrank.LowRank(U, S, V)
TY = lowrank.TuckerLowRank(
    RNG.standard_normal((2, 2, 2)),
    tuple(np.linalg.qr(RNG.standard_normal((3, 2)))[0] for _ in "abc"),
)


def _net() -> tk.TensorNetwork:
    net = tk.TensorNetwork()
    net.add_node("A", RNG.standard_normal((2, 3)), ("i", "b"))
    net.add_node("B", RNG.standard_normal((3, 4)), ("b", "j"))
    return net


def _k(k0, v0):
    return k0


def _s(s0, u, v):
    return s0


CP_FACTORS = [np.ones((4, 2)), np.ones((5, 2))]

CASES = [
    # every format's history and options
    (lambda: tk.CP(None, CP_FACTORS, history="x"), TypeError, "history must be a list"),
    (lambda: tk.CP(None, CP_FACTORS, history=["a"]), TypeError, "history must hold real"),
    (lambda: tk.CP(None, CP_FACTORS, options=[1]), TypeError, "options must be a dict"),
    # tnkit.tt: options of the completion paths are checked on every path
    (lambda: tk.tt(X, rank=2, seed="x"), ValueError, "seed must be a non-negative integer"),
    (lambda: tk.tt(X, rank=2, seed=-1), ValueError, "seed must be a non-negative integer"),
    (lambda: tk.tt(X, rank=2, max_iter=0), ValueError, "max_iter must be a positive integer"),
    (lambda: tk.tt(X, rank=2, improvement_tol=-1.0), ValueError, "improvement_tol must be in"),
    (lambda: tk.tt(X, rank=2, improvement_tol=np.nan), ValueError, "improvement_tol must be in"),
    (lambda: tk.tt(X, rank=2, progress="yes"), TypeError, "progress must be a bool"),
    # TTN constructors
    (lambda: tk.TTN((0, 1), [np.ones((3, 2))]), TypeError, "arrays must map node names"),
    (lambda: tk.TTN.from_tensor(X, (0, (1, 2)), rank=True), ValueError, "rank of 'leaf0'"),
    (
        lambda: tk.TTN.from_tensor(X, (0, (1, 2)), tol="0.1"),
        ValueError,
        "tol must be a real number",
    ),
    (lambda: tk.TTN.random((0, 1), [3], 2), ValueError, r"dims must have one entry per mode"),
    (lambda: tk.TTN.random((0, 1), 3, 2), TypeError, "dims must be a sequence"),
    (
        lambda: tk.TTN.product_state((0, 1), [np.ones(2)]),
        ValueError,
        "local_vectors must have one entry per mode",
    ),
    (
        lambda: tk.TTN.product_state((0, 1), [np.ones(2)] * 2, rank=2.5),
        ValueError,
        "rank must be a positive integer",
    ),
    (
        lambda: tk.TTN.from_tucker(np.ones((2, 3)), [np.ones((4, 2)), np.ones((5, 2))]),
        ValueError,
        r"factors\[1\] must have shape \(n_1, 3\)",
    ),
    (
        lambda: tk.TTN.from_tucker(np.ones((2, 2)), [np.ones((4, 2))] * 3),
        ValueError,
        "core must have one axis per factor",
    ),
    (
        lambda: tk.TTN.random((0, 1), [3, 3], 2).is_orthonormal(atol=-1.0),
        ValueError,
        "atol must be in",
    ),
    # networks
    (lambda: _net().to("torch", "bogus"), ValueError, "device must be"),
    (lambda: _net().split_node("A", ["i"], return_error="x"), TypeError, "return_error must be"),
    # sparse tensors
    (
        lambda: SparseTensor([[0, 0]], np.ones(1), (3, 3)),
        TypeError,
        "indices must be a numpy, torch or cupy array",
    ),
    (
        lambda: SparseTensor.from_dense(np.ones((2, 2)), mask="m"),
        TypeError,
        "mask must be a boolean array",
    ),
    # linalg and lowrank
    (lambda: linalg.rank_for_error(np.array([np.nan, 1.0]), 0.1), ValueError, "finite"),
    (lambda: lowrank.truncate(3), TypeError, "y must be a LowRank"),
    (lambda: lowrank.truncate(Y, tol="x"), ValueError, "tol must be a real number"),
    (lambda: lowrank.truncate(Y, rank_max=0), ValueError, "rank_max must be a positive"),
    (lambda: lowrank.truncate(Y, rank_max=1.5), ValueError, "rank_max must be a positive"),
    (lambda: lowrank.truncate(Y, rank_min=0), ValueError, "rank_min must be a positive"),
    (lambda: lowrank.truncate(Y, rank_min=2, rank_max=1), ValueError, "rank_min must be <="),
    (lambda: lowrank.truncate(lowrank.LowRank(U, np.eye(3), V)), ValueError, "need u"),
    (lambda: lowrank.tucker_truncate("y"), TypeError, "y must be a TuckerLowRank"),
    (lambda: lowrank.tucker_truncate(TY, rank_max=(1, 1)), ValueError, "rank_max must give"),
    (
        lambda: lowrank.tucker_truncate(
            lowrank.TuckerLowRank(np.ones((2, 2, 2)), (np.ones((3, 3)),) * 3)
        ),
        ValueError,
        r"factors\[0\] must be a matrix with 2 columns",
    ),
    (
        lambda: lowrank.bug_step(U, S, V, k_step=_k, l_step=_k, s_step=_s, tol="x"),
        ValueError,
        "tol must be a real number",
    ),
    (
        lambda: lowrank.bug_step(U, S, V, k_step=_k, l_step=_k, s_step=_s, rank_max=True),
        ValueError,
        "rank_max must be a positive",
    ),
    (
        lambda: lowrank.bug_step(U, S, V, k_step=_k, l_step=_k, s_step=_s, augment="x"),
        TypeError,
        "augment must be True or False",
    ),
    (lambda: lowrank.augmented_basis(U, np.ones((5, 2))), ValueError, "old and new must"),
    (lambda: lowrank.augmented_basis(np.ones(6), U), TypeError, "old must be a matrix"),
    # tnkit.tr, tensorly converters
    (lambda: tk.tr(X, rank=2, method="svd", init="random"), ValueError, "applies to method='als'"),
    (lambda: tk.CP.from_tensorly(3), TypeError, "cp_tensor must be a"),
    (lambda: tk.Tucker.from_tensorly(3), TypeError, "tucker_tensor must be a"),
    # CP rank scan
    (lambda: tk.cp_rank_scan(X, [1, 0]), ValueError, r"ranks\[1\] must be a positive"),
    (lambda: tk.cp_rank_scan(X, [1], threshold=200.0), ValueError, "threshold must be in"),
]


BUG_CASES = [
    (lambda: bug.SumOfProducts([2, 2.5], [(1.0, {0: np.eye(2)})]), ValueError, r"dims\[1\]"),
    (lambda: bug.SumOfProducts([], [(1.0, {0: np.eye(2)})]), ValueError, "dims must give"),
    (lambda: bug.SumOfProducts([2, 2], [3]), TypeError, "term 0 must be"),
    (lambda: bug.SumOfProducts([2, 2], [("a", {0: np.eye(2)})]), TypeError, "coef must be"),
    (lambda: bug.SumOfProducts([2, 2], [(np.nan, {0: np.eye(2)})]), ValueError, "coef must be"),
    (lambda: bug.DenseOperator(lambda t, y: y, [2, 0]), ValueError, r"dims\[1\]"),
    (lambda: problems.transverse_field_ising(4, J=np.nan), ValueError, "J must be"),
    (lambda: problems.long_range_ising(4, alpha="x"), ValueError, "alpha must be"),
    (lambda: problems.matrix_schrodinger(1), ValueError, "n must be an integer >= 2"),
    (lambda: problems.matrix_initial(10, 0), ValueError, "rank must be a positive"),
    (lambda: problems.matrix_initial(10, 20), ValueError, "rank must be at most n"),
    (lambda: problems.matrix_initial(10, 2, seed="x"), ValueError, "seed must be"),
    (lambda: problems.magnetization(0), ValueError, "n_sites must be a positive"),
    (
        lambda: problems.reference(problems.transverse_field_ising(2), np.ones(3), 1.0),
        ValueError,
        "y0 must be a dense array of shape",
    ),
    (
        lambda: problems.reference(problems.transverse_field_ising(2), np.ones((2, 2)), np.nan),
        ValueError,
        "t must be",
    ),
    (lambda: _integrate(workers=0), ValueError, "workers must be a positive"),
    (lambda: _integrate(workers="x"), ValueError, "workers must be a positive"),
    (lambda: _integrate(observables=[1]), TypeError, "observables must map"),
    (lambda: _integrate(progress="x"), TypeError, "progress must be"),
    (lambda: _integrate(executor="x"), TypeError, "executor must be"),
]


def _integrate(**kw):
    op = problems.transverse_field_ising(4)
    y0 = problems.all_up(problems.binary_tree(4))
    return bug.integrate(op, y0, 0.1, dt=0.1, **kw)


def _garbage(path):
    path.write_bytes(b"MATLAB 5.0 " + b"garbage " * 30)
    return path


def _npy(path):
    np.save(path, np.ones(3))
    return path


def _empty_npz(path):
    np.savez(path)
    return path


FILE_CASES = [
    (lambda d: tk.load(_npy(d / "x.npy")), "not an .npz archive"),
    (lambda d: tk.load(_garbage(d / "g.npz")), "neither an .npy nor an .npz file"),
    (lambda d: tk.load_tensor(_garbage(d / "g.npz")), "neither an .npy nor an .npz file"),
    (lambda d: tk.load_tensor(_garbage(d / "g.mat")), "not a readable .mat file"),
    (lambda d: tk.load_tensor(_empty_npz(d / "e.npz")), "holds no arrays"),
    (lambda d: tk.load_tensor(_garbage(d / "g.h5")), "not a readable HDF5 file"),
]


@pytest.mark.parametrize("call, match", FILE_CASES)
def test_bad_files_raise_value_error_naming_the_file(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(tmp_path)


@pytest.mark.parametrize("call, error, match", CASES + BUG_CASES)
def test_bad_input_raises_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_valid_input_still_works():
    """The new checks let through what was valid before."""
    assert tk.tt(X, rank=2).to_tensor().shape == X.shape
    ttn = tk.TTN.random((0, (1, 2)), np.array([3, 4, 5]), 2)
    assert ttn.is_orthonormal() in (True, False)
    assert tk.TTN.from_tucker(np.ones((2, 2)), [np.eye(2)] * 2).shape == (2, 2)
    assert tk.TTN.product_state((0, 1), [np.ones(2)] * 2, rank=2).shape == (2, 2)
    assert lowrank.truncate(Y, tol=0.1, rank_max=2).s.shape[0] >= 1
    assert lowrank.tucker_truncate(TY, rank_max=(2, 1, 2)).core.shape == (2, 1, 2)
    assert linalg.rank_for_error(np.array([2.0, 1.0]), 1.0) == 1
    assert problems.matrix_initial(10, 3).u.shape == (10, 3)
    _, err = _net().split_node("A", ["i"], return_error=True)
    assert err >= 0.0


@pytest.mark.parametrize(
    "value, ok",
    [(True, True), (np.bool_(False), True), (1, False), ("yes", False), (None, False)],
)
def test_check_bool(value, ok):
    if ok:
        assert checks.check_bool(value, "flag") is bool(value)
    else:
        with pytest.raises(TypeError, match="flag must be True or False"):
            checks.check_bool(value, "flag")


@pytest.mark.parametrize("value", [True, False, None, print])
def test_check_progress_accepts(value):
    checks.check_progress(value)


def test_check_progress_refuses():
    with pytest.raises(TypeError, match="progress must be a bool or a callable"):
        checks.check_progress("yes")
