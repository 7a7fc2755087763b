"""Substep solvers: RK4 order and the Krylov exponential against scipy."""

import numpy as np
import pytest
import scipy.linalg

from solvers.bug import substeps


def _skew(n, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    return (a - a.conj().T) / 2


def test_expm_matches_scipy_and_keeps_the_norm():
    a = _skew(60)
    y0 = np.random.default_rng(1).standard_normal((6, 10)) + 0j
    y = substeps.expm(lambda t, x: (a @ x.ravel()).reshape(x.shape), y0, 0.0, 0.7)
    ref = (scipy.linalg.expm(0.7 * a) @ y0.ravel()).reshape(y0.shape)
    assert np.linalg.norm(y - ref) < 1e-11
    assert np.linalg.norm(y) == pytest.approx(np.linalg.norm(y0), rel=1e-13)


def test_rk4_is_fourth_order():
    a = _skew(8, seed=2)
    y0 = np.ones(8, dtype=complex)
    errs = []
    for h in (0.1, 0.05):
        y = substeps.rk4(lambda t, x: a @ x, y0, 0.0, h)
        errs.append(np.linalg.norm(y - scipy.linalg.expm(h * a) @ y0))
    assert 20 < errs[0] / errs[1] < 45  # local error O(h^5)


def test_unknown_substep():
    with pytest.raises(ValueError):
        substeps.solver("euler")
