"""Sparse tensors and CP from listed entries: equality with dense CP, completion, input."""

import numpy as np
import pytest

import tnkit as tk
from tnkit.formats.cp import CP
from tnkit.sparse import SparseTensor


def _cp_tensor(rng, shape, rank):
    return CP(None, [rng.standard_normal((n, rank)) for n in shape]).to_tensor()


def _observed(rng, x, fraction):
    """A SparseTensor of a random ``fraction`` of ``x``'s entries (unlisted = missing) and
    the mask."""
    mask = rng.random(x.shape) < fraction
    return SparseTensor.from_dense(x, mask=mask), mask


# ---------------------------------------------------------------------- the data type
def test_sparse_tensor_round_trip_and_properties():
    rng = np.random.default_rng(0)
    x = np.where(rng.random((4, 5, 6)) < 0.3, rng.standard_normal((4, 5, 6)), 0.0)
    sp = SparseTensor.from_dense(x)
    assert sp.nnz == np.count_nonzero(x) and sp.unlisted == "zero" and sp.shape == (4, 5, 6)
    assert sp.density == pytest.approx(np.count_nonzero(x) / x.size)
    assert sp.norm() == pytest.approx(np.linalg.norm(x))
    np.testing.assert_array_equal(sp.to_dense(), x)
    assert "nnz=" in repr(sp)
    mask = rng.random(x.shape) < 0.5
    held = SparseTensor.from_dense(x, mask=mask)
    assert held.unlisted == "missing" and held.nnz == mask.sum()
    np.testing.assert_array_equal(held.to_dense(), np.where(mask, x, 0.0))


def test_sparse_tensor_moves_to_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(1.0, 25.0).reshape(2, 3, 4)
    sp = SparseTensor.from_dense(x).to("torch")
    assert isinstance(sp.values, torch.Tensor) and isinstance(sp.indices, torch.Tensor)
    np.testing.assert_array_equal(sp.to_dense().numpy(), x)


@pytest.mark.parametrize(
    "args, error, match",
    [
        (([[0, 0], [0, 0]], [1.0, 2.0], (2, 2)), ValueError, "repeat an entry"),
        (([[0, 2]], [1.0], (2, 2)), ValueError, r"lie in \[0, n_k\)"),
        (([[0, 1]], [1.0, 2.0], (2, 2)), ValueError, "indices must have shape"),
        (([[0.0, 1.0]], [1.0], (2, 2)), TypeError, "must be integers"),
        (([[0, 1]], [np.nan], (2, 2)), ValueError, "values"),
        (([[0, 1]], [[1.0]], (2, 2)), ValueError, "values must be 1-D"),
        (([[0, 1]], [1.0], 5), TypeError, "shape must be a sequence"),
        (([[0, 1]], [1.0], (2, 0)), ValueError, "dimension of shape"),
    ],
)
def test_sparse_tensor_rejects_bad_input(args, error, match):
    indices, values, shape = args
    with pytest.raises(error, match=match):
        SparseTensor(np.asarray(indices), np.asarray(values), shape)


def test_entries_of_a_huge_shape_are_told_apart_without_a_linear_index():
    from tnkit.sparse import entry_ids

    rows = np.array([[0, 1, 2], [5, 6, 7], [0, 1, 2]])
    huge = entry_ids(rows, (10**7,) * 3)  # 10^21 entries: more than int64 can index
    assert huge[0] == huge[2] != huge[1]
    with pytest.raises(ValueError, match="repeat an entry"):
        SparseTensor(rows, np.ones(3), (10**7,) * 3)
    assert SparseTensor(rows[:2], np.ones(2), (10**7,) * 3).nnz == 2


def test_sparse_tensor_rejects_an_unknown_meaning_of_unlisted():
    with pytest.raises(ValueError, match="unlisted must be one of"):
        SparseTensor(np.zeros((1, 2), int), np.ones(1), (2, 2), unlisted="nan")


# ---------------------------------------------------------------------- CP, unlisted = zero
@pytest.mark.parametrize("line_search", [False, True])
def test_sparse_cp_takes_the_same_steps_as_dense_cp(line_search):
    rng = np.random.default_rng(1)
    x = _cp_tensor(rng, (8, 9, 10), 3) + 0.05 * rng.standard_normal((8, 9, 10))
    start = CP(None, [rng.standard_normal((n, 3)) for n in x.shape])
    kw = dict(init=start, line_search=line_search, max_iter=25, stop_tol=None)
    dense = tk.cp(x, 3, **kw)
    sparse = tk.cp(SparseTensor.from_dense(x), 3, **kw)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=1e-9)
    np.testing.assert_allclose(sparse.to_tensor(), dense.to_tensor(), atol=1e-8)
    assert sparse.options["unlisted"] == "zero" and sparse.options["nnz"] == x.size


def test_sparse_cp_recovers_a_tensor_with_sparse_factors():
    rng = np.random.default_rng(2)
    fs = [np.where(rng.random((n, 3)) < 0.25, rng.random((n, 3)) + 0.5, 0.0) for n in (30, 40, 50)]
    x = CP(None, fs).to_tensor()
    sp = SparseTensor.from_dense(x)
    assert sp.density < 0.1
    fit = tk.cp(sp, 3, max_iter=500, stop_tol=1e-14)
    assert np.linalg.norm(fit.to_tensor() - x) <= 1e-6 * np.linalg.norm(x)
    nn = tk.cp(sp, 3, nonnegative=True, max_iter=500)
    assert min(float(f.min()) for f in nn.factors) >= 0.0
    assert nn.history[-1] <= 1e-3


# ---------------------------------------------------------------------- CP, unlisted = missing
def test_sparse_completion_recovers_held_out_entries_where_em_does_not():
    rng = np.random.default_rng(3)
    x = _cp_tensor(rng, (30, 35, 40), 3)
    sp, mask = _observed(rng, x, 0.08)
    fit = tk.cp(sp, 3, max_iter=300, tol=1e-10)
    held = ~mask
    err = np.linalg.norm((fit.to_tensor() - x)[held]) / np.linalg.norm(x[held])
    assert err <= 1e-6
    assert fit.options["masked"] and fit.options["unlisted"] == "missing"
    em = tk.cp(np.where(mask, x, 0.0), 3, mask=mask, max_iter=300)  # imputation, dense
    em_err = np.linalg.norm((em.to_tensor() - x)[held]) / np.linalg.norm(x[held])
    assert em_err > 100 * err


def test_sparse_completion_on_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = _cp_tensor(rng, (12, 13, 14), 2)
    sp, _ = _observed(rng, x, 0.3)
    a = tk.cp(sp, 2, max_iter=15, stop_tol=None)
    b = tk.cp(sp.to("torch"), 2, max_iter=15, stop_tol=None)
    assert isinstance(b.weights, torch.Tensor)
    np.testing.assert_allclose(b.history, a.history, rtol=1e-7, atol=1e-12)


def test_nonnegative_sparse_completion():
    rng = np.random.default_rng(8)
    x = CP(None, [rng.random((n, 3)) for n in (20, 22, 24)]).to_tensor()
    sp, mask = _observed(rng, x, 0.15)
    fit = tk.cp(sp, 3, nonnegative=True, max_iter=500, tol=1e-8)
    assert min(float(f.min()) for f in fit.factors) >= 0.0
    held = ~mask
    err = np.linalg.norm((fit.to_tensor() - x)[held]) / np.linalg.norm(x[held])
    assert err <= 1e-3


def test_hals_rows_solves_each_rows_nnls():
    import scipy.optimize

    from tnkit.decompose import _nonneg

    rng = np.random.default_rng(9)
    hs = [rng.random((30, 4)) for _ in range(5)]
    ys = [rng.standard_normal(30) for _ in range(5)]
    g = np.stack([h.T @ h for h in hs])
    b = np.stack([h.T @ y for h, y in zip(hs, ys)])
    a = _nonneg.hals_rows(np.ones((5, 4)), b, g, inner=500)
    expected = np.stack([scipy.optimize.nnls(h, y)[0] for h, y in zip(hs, ys)])
    assert np.abs(a - expected).max() <= 1e-8


def test_sparse_fit_stops_cleanly_on_ctrl_c():
    rng = np.random.default_rng(5)
    sp, _ = _observed(rng, _cp_tensor(rng, (10, 11, 12), 2), 0.4)

    def interrupt(sweep, err):
        if sweep == 3:
            raise KeyboardInterrupt

    fit = tk.cp(sp, 2, max_iter=50, stop_tol=None, progress=interrupt)
    assert fit.options["interrupted"] and len(fit.history) == 3


def test_sparse_cp_refuses_what_it_cannot_do():
    rng = np.random.default_rng(6)
    x = _cp_tensor(rng, (5, 6, 7), 2)
    sp, mask = _observed(rng, x, 0.5)
    with pytest.raises(TypeError, match="unlisted='missing'"):
        tk.cp(sp, 2, mask=mask)
    with pytest.raises(ValueError, match="stable=True needs dense x"):
        tk.cp(sp, 2, stable=True)
    with pytest.raises(ValueError, match="exceeds"):
        tk.cp(sp, 99)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        tk.cp(SparseTensor(np.zeros((1, 1), int), np.ones(1), (3,)), 1)


# ---------------------------------------------------------------------- files and the CLI
def test_save_load_and_the_cli_fit_a_sparse_file(tmp_path, capsys):
    from tnkit import sparse
    from tnkit.cli import main

    rng = np.random.default_rng(7)
    x = _cp_tensor(rng, (20, 21, 22), 2)
    sp, mask = _observed(rng, x, 0.2)
    path, out = tmp_path / "obs.npz", tmp_path / "cp.npz"
    sp.save(path)
    back = sparse.load(path)
    assert back.unlisted == "missing" and back.shape == sp.shape and back.nnz == sp.nnz
    np.testing.assert_array_equal(back.to_dense(), sp.to_dense())
    assert (
        main(["decompose", str(path), "--format", "cp", "--rank", "2", "--quiet", "-o", str(out)])
        == 0
    )
    text = capsys.readouterr().out
    assert "listed entries" in text and "unlisted = missing" in text
    assert float(text.split("relative error")[1].split()[0]) <= 1e-6
    held = ~mask
    fit = tk.load(out).to_tensor()
    assert np.linalg.norm((fit - x)[held]) <= 1e-5 * np.linalg.norm(x[held])
    for fmt, rank in (("tr", "2"), ("tt", "2,2"), ("tucker", "2,2,2")):
        assert main(["decompose", str(path), "--format", fmt, "--rank", rank, "--quiet"]) == 0
        assert f"{fmt} of" in capsys.readouterr().out
    SparseTensor.from_dense(np.where(mask, x, 0.0)).save(path)  # zeros unlisted now
    assert main(["decompose", str(path), "--format", "tucker", "--rank", "2,2,2", "--quiet"]) == 0
    assert "tucker of" in capsys.readouterr().out
    np.save(tmp_path / "dense.npy", x)
    assert not sparse.holds_sparse(tmp_path / "dense.npy")
    with pytest.raises(ValueError, match="not a sparse tensor file"):
        sparse.load(tmp_path / "dense.npy")


# ---------------------------------------------------------------------- Tucker (HOOI)
def test_sparse_tucker_takes_the_same_steps_as_dense_hooi():
    from tnkit.formats.tucker import Tucker

    rng = np.random.default_rng(10)
    us = [rng.standard_normal((n, r)) for n, r in zip((10, 12, 9), (3, 4, 2))]
    x = Tucker(rng.standard_normal((3, 4, 2)), us).to_tensor()
    x = x + 0.05 * rng.standard_normal(x.shape)
    dense = tk.tucker(x, [3, 4, 2], max_iter=8, stop_tol=None)
    sparse = tk.tucker(SparseTensor.from_dense(x), [3, 4, 2], max_iter=8, stop_tol=None)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=1e-10)
    np.testing.assert_allclose(sparse.to_tensor(), dense.to_tensor(), atol=1e-10)
    assert sparse.options["nnz"] == x.size


def test_sparse_tucker_recovers_a_tensor_with_sparse_factors():
    from tnkit.formats.tucker import Tucker

    rng = np.random.default_rng(11)
    us = [np.where(rng.random((n, 3)) < 0.1, rng.random((n, 3)), 0.0) for n in (200, 210, 220)]
    x = Tucker(rng.random((3, 3, 3)), us).to_tensor()
    sp = SparseTensor.from_dense(x)
    assert sp.density < 0.03
    fit = tk.tucker(sp, [3, 3, 3], max_iter=20)
    assert np.linalg.norm(fit.to_tensor() - x) <= 1e-6 * np.linalg.norm(x)


def test_sparse_tucker_on_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    x = np.where(rng.random((8, 9, 10)) < 0.2, rng.standard_normal((8, 9, 10)), 0.0)
    sp = SparseTensor.from_dense(x)
    a = tk.tucker(sp, [2, 3, 2], max_iter=5, stop_tol=None)
    b = tk.tucker(sp.to("torch"), [2, 3, 2], max_iter=5, stop_tol=None)
    assert isinstance(b.core, torch.Tensor)
    np.testing.assert_allclose(b.history, a.history, rtol=1e-9)


def test_sparse_tucker_refuses_what_it_cannot_do():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((5, 6, 7))
    zero, (missing, mask) = SparseTensor.from_dense(x), _observed(rng, x, 0.5)
    with pytest.raises(ValueError, match="needs rank=, not tol="):
        tk.tucker(missing, tol=0.1)
    with pytest.raises(ValueError, match="needs rank=, not tol="):
        tk.tucker(zero, tol=0.1)
    with pytest.raises(ValueError, match="method must be 'hooi'"):
        tk.tucker(zero, [2, 2, 2], method="sthosvd")
    with pytest.raises(ValueError, match="nonnegative=True needs dense x"):
        tk.tucker(zero, [2, 2, 2], nonnegative=True)
    with pytest.raises(TypeError, match="mask= is for dense x"):
        tk.tucker(zero, [2, 2, 2], mask=mask)


# ---------------------------------------------------------------------- TT completion
def _sampled_tt(rng, shape, ranks, fraction):
    r = [1, *ranks, 1]
    x = tk.TT([rng.standard_normal((r[k], n, r[k + 1])) for k, n in enumerate(shape)]).to_tensor()
    total = x.size
    held = min(500, total // 5)
    linear = rng.choice(total, size=int(fraction * total) + held, replace=False)
    idx = np.stack(np.unravel_index(linear, shape), axis=1)
    vals = x[tuple(idx.T)]
    seen = SparseTensor(idx[:-held], vals[:-held], shape, unlisted="missing")
    return seen, idx[-held:], vals[-held:]


def _tt_values(fit, idx):
    out = np.ones((idx.shape[0], 1))
    for k, core in enumerate(fit.cores):
        out = np.einsum("ea,eab->eb", out, np.asarray(core)[:, idx[:, k], :].transpose(1, 0, 2))
    return out[:, 0]


def test_sparse_tt_completion_recovers_held_out_entries():
    rng = np.random.default_rng(14)
    seen, idx, vals = _sampled_tt(rng, (12, 13, 14, 15), (2, 3, 2), 0.15)
    fit = tk.tt(seen, rank=[2, 3, 2], tol=1e-10, max_iter=200)
    assert fit.rank == (2, 3, 2) and fit.history[-1] <= 1e-9
    assert np.linalg.norm(_tt_values(fit, idx) - vals) <= 1e-7 * np.linalg.norm(vals)
    assert fit.options["unlisted"] == "missing" and not fit.options["interrupted"]


def test_sparse_tt_completion_restarts_from_a_local_minimum():
    seen, idx, vals = _sampled_tt(np.random.default_rng(227), (7, 7, 7, 7), (3, 4, 3), 0.2)
    stuck = tk.tt(seen, rank=[3, 4, 3], tol=1e-8, max_iter=100)
    assert stuck.history[-1] > 0.1 and stuck.options["starts"] == 1
    fit = tk.tt(seen, rank=[3, 4, 3], tol=1e-8, max_iter=100, restarts=3)
    assert fit.options["starts"] == 2 and fit.history[-1] <= 1e-8
    assert np.linalg.norm(_tt_values(fit, idx) - vals) <= 1e-6 * np.linalg.norm(vals)
    with pytest.raises(ValueError, match="restarts"):
        tk.tt(seen, rank=2, restarts=0)
    with pytest.raises(ValueError, match="restarts applies to the completion of a SparseTensor"):
        tk.tt(np.ones((3, 4, 5)), rank=2, restarts=2)


def test_sparse_tt_completion_on_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    seen, _, _ = _sampled_tt(np.random.default_rng(15), (6, 7, 8), (2, 2), 0.3)
    a = tk.tt(seen, rank=2, max_iter=12, improvement_tol=0)
    b = tk.tt(seen.to("torch"), rank=2, max_iter=12, improvement_tol=0)
    assert isinstance(b.cores[0], torch.Tensor)
    np.testing.assert_allclose(b.history, a.history, rtol=1e-6, atol=1e-12)


def test_sparse_tt_completion_stops_on_ctrl_c_and_refuses_bad_input():
    rng = np.random.default_rng(16)
    seen, _, _ = _sampled_tt(rng, (6, 7, 8), (2, 2), 0.3)

    def interrupt(sweep, err):
        if sweep == 3:
            raise KeyboardInterrupt

    fit = tk.tt(seen, rank=2, max_iter=50, improvement_tol=0, progress=interrupt)
    assert fit.options["interrupted"] and len(fit.history) == 3
    with pytest.raises(ValueError, match="needs rank="):
        tk.tt(seen, tol=0.1)
    with pytest.raises(ValueError, match="unlisted='missing'"):
        tk.tt(SparseTensor.from_dense(rng.standard_normal((4, 5, 6))), rank=2)
    with pytest.raises(TypeError, match="mask= is for dense x"):
        tk.tt(seen, rank=2, mask=np.ones(seen.shape, bool))
