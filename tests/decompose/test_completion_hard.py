"""Completion from few entries: draws that sparse Tucker and TR completion used to miss
(``examples/benchmarks/completion_reliability.py``, same draws)."""

import numpy as np
import pytest

import tnkit as tk
from tnkit.decompose import tucker_completion


def _held_out_error(fit, x, seen):
    return np.linalg.norm((np.asarray(fit.to_tensor()) - x)[~seen]) / np.linalg.norm(x[~seen])


def _tucker_draw(seed, fraction):
    rng = np.random.default_rng(seed)
    shape, ranks = (30, 35, 40), (3, 4, 3)
    core = rng.standard_normal(ranks)
    x = tk.Tucker(core, [rng.standard_normal((n, r)) for n, r in zip(shape, ranks)]).to_tensor()
    seen = rng.random(shape) < fraction
    return x, seen


def _tr_draw(seed, fraction):
    rng = np.random.default_rng(seed)
    shape = (10, 11, 12, 9)
    x = tk.TR([rng.standard_normal((3, n, 3)) for n in shape]).to_tensor()
    seen = np.zeros(x.size, dtype=bool)
    seen[rng.choice(x.size, size=int(fraction * x.size), replace=False)] = True
    return x, seen.reshape(shape)


def test_tucker_from_two_percent_of_the_entries():
    # 840 entries for 352 parameters: 0 of 8 such draws were recovered with the rows' ridge
    # halved every sweep at the requested ranks, 8 of 8 now
    x, seen = _tucker_draw(1, 0.02)
    sp = tk.SparseTensor.from_dense(x, mask=seen)
    assert sp.nnz < tucker_completion.FEW_ENTRIES * 352  # the wider first sweeps
    fit = tk.tucker(sp, rank=[3, 4, 3], max_iter=300, stop_tol=1e-12)
    assert fit.rank == (3, 4, 3) and len(fit.history) < 300
    assert _held_out_error(fit, x, seen) < 1e-6
    for u in fit.factors:
        np.testing.assert_allclose(u.T @ u, np.eye(u.shape[1]), atol=1e-10)


def test_tucker_wide_sweeps_respect_a_small_max_iter():
    x, seen = _tucker_draw(1, 0.02)
    fit = tk.tucker(tk.SparseTensor.from_dense(x, mask=seen), rank=[3, 4, 3], max_iter=3)
    assert fit.rank == (3, 4, 3) and len(fit.history) == 3


@pytest.mark.parametrize("seed", [16, 22])
def test_tr_from_ten_percent_of_the_entries(seed):
    # 1,188 entries for a ring of 342 parameters: missed without the slices' decaying ridge
    x, seen = _tr_draw(seed, 0.1)
    fit = tk.tr(tk.SparseTensor.from_dense(x, mask=seen), 3, tol=1e-10, max_iter=300)
    assert fit.rank == (3, 3, 3, 3) and fit.history[-1] < 1e-6
    assert _held_out_error(fit, x, seen) < 1e-6


def test_tr_wide_sweeps_respect_a_small_max_iter():
    x, seen = _tr_draw(16, 0.1)
    fit = tk.tr(tk.SparseTensor.from_dense(x, mask=seen), 3, max_iter=3)
    assert fit.rank == (3, 3, 3, 3) and len(fit.history) == 3


def test_ctrl_c_in_the_wide_sweeps_returns_the_asked_ranks():
    x, seen = _tucker_draw(1, 0.02)
    sp = tk.SparseTensor.from_dense(x, mask=seen)

    def interrupt(sweep, err):
        if sweep == 3:
            raise KeyboardInterrupt

    fit = tk.tucker(sp, rank=[3, 4, 3], progress=interrupt)
    assert fit.options["interrupted"] and len(fit.history) == 3 and fit.rank == (3, 4, 3)
