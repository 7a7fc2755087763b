"""TT-cross: exact low-rank recovery, tol against TT-SVD of the dense grid, determinism, the
evaluation cache, bad input, Ctrl-C, a 20-dimensional grid never formed densely."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tnkit as tk


def sin_sum(idx):
    """sum_k sin(i_k / 3): TT rank 2."""
    return np.sum(np.sin(idx / 3.0), axis=1)


def inverse_sum(idx, n=20):
    """1 / (1 + sum_k i_k / n): smooth, not of low exact rank."""
    return 1.0 / (1.0 + np.sum(idx, axis=1) / n)


def dense(f, shape):
    grid = np.indices(shape).reshape(len(shape), -1).T
    return f(grid).reshape(shape)


def at(t, idx):
    """Entries of the TT ``t`` at the rows of ``idx``."""
    v = np.ones((idx.shape[0], 1))
    for k, c in enumerate(t.cores):
        v = np.einsum("mr,rms->ms", v, c[:, idx[:, k], :])
    return v[:, 0]


def rel(t, x):
    return np.linalg.norm(t.to_tensor() - x) / np.linalg.norm(x)


def test_exact_low_rank_function_recovered():
    shape = (10,) * 6
    t = tk.tt_cross(sin_sum, shape, tol=1e-12)
    assert t.rank == (2,) * 5
    assert rel(t, dense(sin_sum, shape)) <= 1e-10
    assert t.options["n_evaluations"] < 0.2 * math.prod(shape)
    assert t.options["converged"] and not t.options["interrupted"]
    assert t.history[0] == 1.0 and t.history[-1] <= 1e-12


def test_fixed_rank_mode_and_tensor_train_agree():
    shape = (10,) * 6
    x = dense(sin_sum, shape)
    t = tk.tt_cross(sin_sum, shape, rank=2)
    assert t.rank == (2,) * 5 and rel(t, x) <= 1e-10
    assert t.rank == tk.tt(x, tol=1e-10).rank


def test_per_bond_ranks_cap_each_bond():
    rng = np.random.default_rng(3)
    ranks = [1, 2, 3, 2, 1]
    x = tk.TT([rng.standard_normal((a, 6, b)) for a, b in zip(ranks, ranks[1:])]).to_tensor()
    t = tk.tt_cross(lambda idx: x[tuple(idx.T)], x.shape, rank=[2, 3, 2])
    assert t.rank == (2, 3, 2) and rel(t, x) <= 1e-10
    low = tk.tt_cross(lambda idx: x[tuple(idx.T)], x.shape, rank=[2, 1, 2])
    assert low.rank == (2, 1, 2) and rel(low, x) > 0.1
    # a size-1 mode: the bond on each side of it carries one rank, the smaller cap
    y = x.reshape(6, 6, 1, 6, 6)
    u = tk.tt_cross(lambda idx: y[tuple(idx.T)], y.shape, rank=[2, 3, 2, 2])
    assert u.rank == (2, 2, 2, 2) and rel(u, y) > 1e-3


@given(
    shape=st.lists(st.integers(1, 5), min_size=2, max_size=5),
    rank=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_exact_tensor_trains_are_recovered(shape, rank, seed):
    """Any random TT (modes of size 1 included) is recovered from its entries."""
    rng = np.random.default_rng(seed)
    r = [1] + [rank] * (len(shape) - 1) + [1]
    x = tk.TT([rng.standard_normal((r[k], d, r[k + 1])) for k, d in enumerate(shape)]).to_tensor()
    t = tk.tt_cross(lambda idx: x[tuple(idx.T)], shape, tol=1e-12, seed=seed)
    assert t.shape == tuple(shape) and rel(t, x) <= 1e-8
    assert t.options["n_evaluations"] <= x.size


def test_unit_modes_get_identity_cores():
    f = lambda i: 1.0 + np.sum(i * i, axis=1) + np.prod(i + 1, axis=1)  # noqa: E731
    shape = (3, 1, 3, 1)  # a size-1 mode would cap the ranks next to it: it is squeezed out
    t = tk.tt_cross(f, shape, tol=1e-12)
    x = dense(f, shape)
    assert t.rank == tk.tt(x, tol=1e-12).rank == (3, 3, 1) and rel(t, x) <= 1e-12
    one = tk.tt_cross(f, (1, 1, 1), tol=1e-6)  # one entry: evaluated, no sweep
    assert one.options["n_evaluations"] == 1 and one.options["n_sweeps"] == 0
    assert np.isclose(one.to_tensor()[0, 0, 0], 2.0)


def test_smooth_function_meets_tol_with_tt_svd_ranks():
    shape = (20,) * 5
    x = dense(inverse_sum, shape)
    t = tk.tt_cross(inverse_sum, shape, tol=1e-6)
    assert rel(t, x) <= 1e-5
    ref = tk.tt(x, tol=1e-6).rank
    assert all(r <= q + 2 for r, q in zip(t.rank, ref)), (t.rank, ref)
    assert t.options["n_evaluations"] < 0.05 * math.prod(shape)


def test_same_seed_same_tt_and_seed_matters_only_for_the_start():
    shape = (20,) * 5
    a = tk.tt_cross(inverse_sum, shape, tol=1e-6, seed=3)
    b = tk.tt_cross(inverse_sum, shape, tol=1e-6, seed=3)
    assert a.rank == b.rank and a.history == b.history
    assert all(np.array_equal(p, q) for p, q in zip(a.cores, b.cores))
    c = tk.tt_cross(inverse_sum, shape, tol=1e-6, seed=4)
    assert rel(c, a.to_tensor()) <= 1e-5


def test_cache_counts_distinct_evaluations_and_batch_false():
    calls = []

    def counted(idx):
        calls.append(idx.shape[0])
        assert len({tuple(r) for r in idx}) == idx.shape[0]  # never asked twice in a batch
        return sin_sum(idx)

    shape = (10,) * 6
    t = tk.tt_cross(counted, shape, tol=1e-12)
    assert sum(calls) == t.options["n_evaluations"]

    seen = set()

    def scalar(index):
        assert isinstance(index, tuple) and index not in seen  # one tuple, each at most once
        seen.add(index)
        return float(np.sum(np.sin(np.array(index) / 3.0)))

    s = tk.tt_cross(scalar, shape, tol=1e-12, batch=False)
    assert len(seen) == s.options["n_evaluations"] == t.options["n_evaluations"]
    assert all(np.array_equal(p, q) for p, q in zip(s.cores, t.cores))


def test_torch_values_are_converted():
    torch = pytest.importorskip("torch")
    shape = (10,) * 6
    t = tk.tt_cross(lambda i: torch.from_numpy(sin_sum(i)), shape, tol=1e-12)
    assert t.backend == "numpy" and rel(t, dense(sin_sum, shape)) <= 1e-10


def test_complex_function():
    shape = (8,) * 5
    f = lambda i: np.exp(1j * np.sum(i, axis=1) / 5)  # noqa: E731 - rank 1
    t = tk.tt_cross(f, shape, tol=1e-10)
    assert np.iscomplexobj(t.cores[0]) and rel(t, dense(f, shape)) <= 1e-10


def test_twenty_dimensions_never_dense():
    n, d = 4, 20
    shape = (n,) * d
    f = lambda i: 1.0 / (1.0 + np.sum(i, axis=1) / d)  # noqa: E731
    t = tk.tt_cross(f, shape, tol=1e-10)
    idx = np.random.default_rng(0).integers(0, n, size=(10_000, d))
    y = f(idx)
    assert np.max(np.abs(at(t, idx) - y) / np.abs(y)) <= 1e-8
    assert t.options["n_evaluations"] < 1e5


def test_grid_beyond_int64_keys_uses_the_dict_cache():
    shape = (10,) * 20  # 10^20 entries > 2^62: the cache keys rows of mode groups
    seen = set()

    def f(idx):
        rows = {tuple(r) for r in idx}
        assert len(rows) == idx.shape[0] and not rows & seen
        seen.update(rows)
        return sin_sum(idx)

    t = tk.tt_cross(f, shape, tol=1e-10)
    idx = np.random.default_rng(1).integers(0, 10, size=(2000, 20))
    assert np.max(np.abs(at(t, idx) - sin_sum(idx))) <= 1e-10 * np.max(np.abs(sin_sum(idx)))
    assert t.options["n_evaluations"] == len(seen)


def test_sweeps_that_repeat_stop_as_stalled():
    d = 15  # the forward and backward TTs differ by ~1.3e-6 > tol for ever: stop on the cycle
    f = lambda i: 1.0 / (1.0 + np.sum(i / 9.0, axis=1))  # noqa: E731
    t = tk.tt_cross(f, (10,) * d, tol=1e-6)
    assert t.options["stalled"] and not t.options["converged"]
    assert t.options["n_sweeps"] < 10 and t.history[-1] < 1e-5
    idx = np.random.default_rng(2).integers(0, 10, size=(10_000, d))
    assert np.linalg.norm(at(t, idx) - f(idx)) <= 1e-5 * np.linalg.norm(f(idx))


def test_ctrl_c_returns_last_finished_sweep():
    def stop(sweep, change):
        if sweep == 2:
            raise KeyboardInterrupt

    t = tk.tt_cross(inverse_sum, (20,) * 5, tol=1e-12, progress=stop)
    assert t.options["interrupted"] and not t.options["converged"]
    assert len(t.history) == 2 and t.options["n_sweeps"] == 2
    assert rel(t, dense(inverse_sum, (20,) * 5)) <= 1e-3


def test_ctrl_c_in_the_first_sweep_propagates():
    def f(idx):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tk.tt_cross(f, (4, 4, 4), tol=1e-6)


def _counting(f):
    calls = []

    def g(idx):
        calls.append(idx.shape[0])
        return f(idx)

    return g, calls


def test_an_interrupted_cross_resumes_from_its_checkpoint(tmp_path):
    path, shape = tmp_path / "cross.npz", (20,) * 5
    whole = tk.tt_cross(inverse_sum, shape, tol=1e-12)

    def stop(sweep, change):
        if sweep == 2:
            raise KeyboardInterrupt

    first = tk.tt_cross(inverse_sum, shape, tol=1e-12, progress=stop, checkpoint=path)
    assert first.options["interrupted"]
    f, calls = _counting(inverse_sum)
    again = tk.tt_cross(f, shape, tol=1e-12, checkpoint=path, resume=True)
    assert again.options["n_reused"] == first.options["n_evaluations"] > 0
    assert sum(calls) == again.options["n_evaluations"]
    total = again.options["n_evaluations"] + again.options["n_reused"]
    assert total == whole.options["n_evaluations"]
    assert again.history == whole.history
    for a, b in zip(again.cores, whole.cores):
        np.testing.assert_array_equal(a, b)
    f, calls = _counting(inverse_sum)  # the finished run's file: nothing left to evaluate
    done = tk.tt_cross(f, shape, tol=1e-12, checkpoint=path, resume=True)
    assert calls == [] and done.options["n_evaluations"] == 0
    assert rel(done, dense(inverse_sum, shape)) == rel(whole, dense(inverse_sum, shape))


def test_ctrl_c_in_the_first_sweep_keeps_the_evaluations_in_the_checkpoint(tmp_path):
    path, calls = tmp_path / "cross.npz", []

    def f(idx):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(idx.shape[0])
        return sin_sum(idx)

    with pytest.raises(KeyboardInterrupt):
        tk.tt_cross(f, (6,) * 6, tol=1e-10, checkpoint=path)
    t = tk.tt_cross(sin_sum, (6,) * 6, tol=1e-10, checkpoint=path, resume=True)
    assert t.options["n_reused"] == sum(calls) > 0
    assert rel(t, dense(sin_sum, (6,) * 6)) <= 1e-10


def test_the_checkpoint_of_a_grid_beyond_int64_keys_round_trips(tmp_path):
    path, shape = tmp_path / "cross.npz", (10,) * 20
    t = tk.tt_cross(sin_sum, shape, tol=1e-10, checkpoint=path)

    def never(idx):
        raise AssertionError("every entry should come from the checkpoint")

    back = tk.tt_cross(never, shape, tol=1e-10, checkpoint=path, resume=True)
    assert back.options["n_reused"] == t.options["n_evaluations"]
    for a, b in zip(back.cores, t.cores):
        np.testing.assert_array_equal(a, b)


def test_a_checkpoint_of_another_grid_or_file_is_refused(tmp_path):
    path = tmp_path / "cross.npz"
    tk.tt_cross(sin_sum, (5, 6, 7), tol=1e-8, checkpoint=path)
    with pytest.raises(ValueError, match=r"holds entries of shape \[5, 6, 7\], not \[5, 6, 8\]"):
        tk.tt_cross(sin_sum, (5, 6, 8), tol=1e-8, checkpoint=path, resume=True)
    tk.save(tk.tt(dense(sin_sum, (5, 6, 7)), rank=2), tmp_path / "tt.npz")
    with pytest.raises(ValueError, match="is not a tt_cross checkpoint"):
        tk.tt_cross(sin_sum, (5, 6, 7), tol=1e-8, checkpoint=tmp_path / "tt.npz", resume=True)
    with pytest.raises(ValueError, match="resume=True needs checkpoint="):
        tk.tt_cross(sin_sum, (5, 6, 7), tol=1e-8, resume=True)
    with pytest.raises(TypeError, match="checkpoint must be a file path"):
        tk.tt_cross(sin_sum, (5, 6, 7), tol=1e-8, checkpoint=1)


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"f": 3}, TypeError, "f"),
        ({"shape": 5}, TypeError, "shape"),
        ({"shape": (5,)}, ValueError, "shape"),
        ({"shape": (5, 0, 3)}, ValueError, r"shape\[1\]"),
        ({"shape": (5, 2.5)}, ValueError, r"shape\[1\]"),
        ({"tol": None}, ValueError, "rank= or tol="),
        ({"tol": 1.5}, ValueError, "tol"),
        ({"tol": "a"}, ValueError, "tol"),
        ({"rank": 0}, ValueError, "rank"),
        ({"rank": 2.0}, TypeError, "rank"),
        ({"rank": [2, 2, 2]}, ValueError, "rank must give 2 bond ranks"),
        ({"rank": [2, 5]}, ValueError, r"rank\[1\] = 5 exceeds the largest possible bond rank, 4"),
        ({"max_rank": 0}, ValueError, "max_rank"),
        ({"max_sweeps": 0}, ValueError, "max_sweeps"),
        ({"init_rank": -1}, ValueError, "init_rank"),
        ({"seed": -1}, ValueError, "seed"),
        ({"batch": 1}, TypeError, "batch"),
        ({"progress": "yes"}, TypeError, "progress"),
        ({"f": lambda i: np.ones(3)}, ValueError, "f must return"),
        ({"f": lambda i: np.ones((i.shape[0], 2))}, ValueError, "f must return"),
        ({"f": lambda i: np.full(i.shape[0], np.nan)}, ValueError, "f returned NaN"),
        ({"f": lambda i: np.array(["a"] * i.shape[0])}, ValueError, "f must return numbers"),
    ],
)
def test_bad_input_names_the_argument(kwargs, exc, name):
    args = {"f": sin_sum, "shape": (4, 4, 4), "tol": 1e-6, **kwargs}
    f, shape = args.pop("f"), args.pop("shape")
    with pytest.raises(exc, match=name):
        tk.tt_cross(f, shape, **args)
