"""TT-SVD: exact recovery, the tol guarantee, TensorLy cross-check, bad input, torch."""

import numpy as np
import pytest
import tensorly as tl
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorly.decomposition import tensor_train

import tnkit as tk
from tnkit.formats.tt import TT


def _exact(rng, shape=(4, 5, 6, 3), ranks=(2, 3, 2)):
    r = (1, *ranks, 1)
    return TT([rng.standard_normal((r[k], n, r[k + 1])) for k, n in enumerate(shape)]).to_tensor()


def _rel(t, x):
    return np.linalg.norm(t.to_tensor() - x) / np.linalg.norm(x)


def test_exact_recovery_at_true_rank():
    x = _exact(np.random.default_rng(0))
    t = tk.tt(x, rank=[2, 3, 2])
    assert t.rank == (2, 3, 2) and _rel(t, x) <= 1e-12
    assert tk.tt(x, tol=1e-8).rank == (2, 3, 2)


@pytest.mark.parametrize("tol", [0.05, 0.2, 0.5, 0.9])
def test_tol_guarantee_on_random_data(tol):
    x = np.random.default_rng(1).standard_normal((5, 6, 7, 4))
    t = tk.tt(x, tol=tol)
    assert _rel(t, x) <= tol
    assert np.isclose(t.options["error"], _rel(t, x), rtol=1e-6)


def test_agrees_with_tensorly():
    rng = np.random.default_rng(2)
    x = _exact(rng) + 0.01 * rng.standard_normal((4, 5, 6, 3))
    ours = tk.tt(x, rank=[2, 3, 2])
    theirs = tl.tt_to_tensor(tensor_train(x, rank=[1, 2, 3, 2, 1]))
    assert np.isclose(_rel(ours, x), np.linalg.norm(theirs - x) / np.linalg.norm(x), rtol=1e-6)


def test_dtypes_and_torch():
    rng = np.random.default_rng(3)
    x = _exact(rng)
    t32 = tk.tt(x.astype(np.float32), tol=1e-5)
    assert t32.cores[0].dtype == np.float32 and _rel(t32, x) <= 1e-5
    xc = x + 1j * _exact(rng)
    assert _rel(tk.tt(xc, rank=[4, 6, 3]), xc) <= 1e-10
    torch = pytest.importorskip("torch")
    tt_t = tk.tt(torch.from_numpy(x), rank=[2, 3, 2])
    assert tt_t.backend == "torch"
    assert _rel(tt_t.to("numpy"), x) <= 1e-10


def test_bad_input_and_documented_cases():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5))
    with pytest.raises(ValueError, match="rank= or tol="):
        tk.tt(x)
    with pytest.raises(ValueError, match="exceeds"):
        tk.tt(x, rank=[4, 2])
    with pytest.raises(ValueError, match="2 bond ranks"):
        tk.tt(x, rank=[2, 2, 2])
    for bad in (0.0, 1.0, -0.1, 2):
        with pytest.raises(ValueError, match="tol"):
            tk.tt(x, tol=bad)
    with pytest.raises(ValueError, match="NaN"):
        tk.tt(np.full((3, 3), np.nan), rank=1)
    with pytest.raises(ValueError, match="at least 2 modes"):
        tk.tt(np.ones(5), rank=1)
    ints = tk.tt(np.arange(24).reshape(2, 3, 4), tol=1e-9)  # integers become float64
    assert _rel(ints, np.arange(24.0).reshape(2, 3, 4)) <= 1e-9
    zero = tk.tt(np.zeros((3, 4)), rank=2)  # the zero tensor: a rank-1 TT of zeros
    assert zero.rank == (1,) and zero.norm() == 0.0


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    shape=st.lists(st.integers(2, 5), min_size=2, max_size=4),
    tol=st.floats(0.01, 0.95),
    seed=st.integers(0, 2**16),
)
def test_tol_guarantee_property(shape, tol, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    assert _rel(tk.tt(x, tol=tol), x) <= tol * (1 + 1e-12)
    assert _rel(tk.tucker(x, tol=tol, method="sthosvd"), x) <= tol * (1 + 1e-12)


def test_tall_unfoldings_meet_the_tolerance():
    """A short last mode makes the later unfoldings tall (thin-SVD path)."""
    x = np.random.default_rng(7).standard_normal((12, 40, 3))
    for tol in (0.05, 0.3):
        fit = tk.tt(x, tol=tol)
        assert np.linalg.norm(fit.to_tensor() - x) <= tol * np.linalg.norm(x) * (1 + 1e-10)


def _exact_tt(shape, ranks, seed):
    rng = np.random.default_rng(seed)
    r = [1, *ranks, 1]
    return tk.TT([rng.standard_normal((r[k], n, r[k + 1])) for k, n in enumerate(shape)])


def test_completion_recovers_an_exact_tt_from_40_percent():
    x = _exact_tt((8, 9, 10, 7), (2, 3, 2), 0).to_tensor()
    seen = np.random.default_rng(1).random(x.shape) < 0.4
    fit = tk.tt(np.where(seen, x, np.nan), rank=[2, 3, 2], mask=seen, tol=1e-12, max_iter=300)
    err = np.linalg.norm(fit.to_tensor() - x) / np.linalg.norm(x)
    held_out = np.linalg.norm((fit.to_tensor() - x)[~seen]) / np.linalg.norm(x[~seen])
    assert err <= 1e-8 and held_out <= 1e-8
    assert fit.rank == (2, 3, 2) and fit.history[-1] <= 1e-9
    assert fit.options["masked"] and abs(fit.options["observed"] - seen.mean()) < 1e-12
    assert all(b <= a * (1 + 1e-6) for a, b in zip(fit.history, fit.history[1:]))


def test_completion_beats_the_mean_filled_tt_svd_and_stops_on_ctrl_c():
    x = _exact_tt((6, 7, 8, 6), (3, 3, 3), 2).to_tensor()
    seen = np.random.default_rng(3).random(x.shape) < 0.5
    filled = np.where(seen, x, x[seen].mean())
    svd = tk.tt(filled, rank=3)
    fit = tk.tt(x, rank=3, mask=seen, max_iter=20)

    def err(t):
        return np.linalg.norm(t.to_tensor() - x) / np.linalg.norm(x)

    assert err(fit) < 0.1 * err(svd)

    def stop(sweep, error):
        if sweep == 3:
            raise KeyboardInterrupt

    cut = tk.tt(x, rank=3, mask=seen, max_iter=20, progress=stop)
    assert cut.options["interrupted"] and len(cut.history) == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(tol=0.1), "needs rank="),
        (dict(rank=2, max_iter=0), "max_iter"),
        (dict(rank=2, improvement_tol=-1.0), "improvement_tol"),
        (dict(rank=2, progress=3), "progress"),
    ],
)
def test_completion_options_are_checked(kwargs, match):
    x = np.random.default_rng(0).random((4, 5, 6))
    with pytest.raises((TypeError, ValueError), match=match):
        tk.tt(x, mask=x > 0.5, **kwargs)
    with pytest.raises(ValueError, match="where mask is True"):
        tk.tt(np.where(x > 0.5, np.nan, x), rank=2, mask=x > 0.5)
