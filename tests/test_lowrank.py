"""Tests of the shared BUG matrix step (tnkit.lowrank)."""

import numpy as np
import pytest
from scipy.linalg import expm

from tnkit import lowrank


def _moving_matrix(m=12, n=9, r=3, seed=0, pad=0):
    """A(t) = U(t) S(t) V(t)ᴴ of rank r with rotating bases; returns A(t) and factors at t=0."""
    rng = np.random.default_rng(seed)

    def skew(k):
        a = rng.standard_normal((k, k)) + 1j * rng.standard_normal((k, k))
        return (a - a.conj().T) / 2

    wu, wv = skew(m), skew(n)
    u0 = np.linalg.qr(rng.standard_normal((m, r + pad)))[0].astype(complex)
    v0 = np.linalg.qr(rng.standard_normal((n, r + pad)))[0].astype(complex)
    s0 = np.diag(np.r_[10.0 ** -np.arange(r), np.zeros(pad)]).astype(complex)
    ds = rng.standard_normal((r + pad, r + pad))
    ds[r:, :] = ds[:, r:] = 0

    def a(t):
        return expm(t * wu) @ u0 @ (s0 + t * ds) @ (expm(t * wv) @ v0).conj().T

    return a, lowrank.LowRank(u0, s0, v0)


def _constant_steps(f):
    return dict(
        k_step=lambda k0, v0: k0 + f @ v0,
        l_step=lambda l0, u0: l0 + f.conj().T @ u0,
        s_step=lambda s0, u, v: s0 + u.conj().T @ f @ v,
    )


@pytest.mark.parametrize("augment", [False, True])
def test_bug_step_is_exact_for_fixed_rank_motion(augment):
    # F = (A(t1) - A(t0)) / h constant: fixed-rank and rank-adaptive BUG reproduce A(t1).
    a, y0 = _moving_matrix()
    h = 0.1
    f = a(h) - a(0.0)  # h * F
    y1 = lowrank.bug_step(*y0, **_constant_steps(f), augment=augment, max_error=1e-13)
    assert np.linalg.norm(lowrank.to_dense(y1) - a(h)) < 1e-12
    assert y1.s.shape == (3, 3)
    assert np.allclose(y1.u.conj().T @ y1.u, np.eye(3), atol=1e-13)


def test_zero_padded_singular_values_are_harmless():
    a, y0 = _moving_matrix(pad=2)
    f = a(0.05) - a(0.0)
    y1 = lowrank.bug_step(*y0, **_constant_steps(f), tol=1e-12)
    assert np.all(np.isfinite(y1.s))
    assert np.linalg.norm(lowrank.to_dense(y1) - a(0.05)) < 1e-12
    assert y1.s.shape[0] == 3  # the padding is truncated away


def test_truncate_rules_and_rank_cap():
    rng = np.random.default_rng(1)
    sig = np.array([1.0, 1e-2, 1e-4, 1e-6])
    u = np.linalg.qr(rng.standard_normal((8, 4)))[0]
    v = np.linalg.qr(rng.standard_normal((7, 4)))[0]
    rot = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    y = lowrank.LowRank(u @ rot, rot.T @ np.diag(sig), v)
    assert lowrank.truncate(y, max_error=2e-4).s.shape == (2, 2)
    assert lowrank.truncate(y, tol=2e-6).s.shape == (3, 3)
    assert lowrank.truncate(y, max_error=1e-12, rank_max=2).s.shape == (2, 2)
    t = lowrank.truncate(y, max_error=2e-6)
    assert np.linalg.norm(lowrank.to_dense(t) - lowrank.to_dense(y)) == pytest.approx(
        1e-6, rel=1e-6
    )


def test_parallel_step_first_order_and_zero_block():
    a, y0 = _moving_matrix()
    errs = []
    for h in (0.02, 0.01):
        f = a(h) - a(0.0)
        y1, aug = lowrank.parallel_bug_step(*y0, **_constant_steps(f), max_error=1e-14)
        r = y0.s.shape[0]
        assert np.allclose(aug.u[:, :r], y0.u) and np.all(aug.s[r:, r:] == 0)
        errs.append(np.linalg.norm(lowrank.to_dense(y1) - a(h)))
    assert errs[1] < errs[0] / 3  # local error O(h^2)


def test_torch_tensors():
    torch = pytest.importorskip("torch")
    a, y0 = _moving_matrix()
    f = torch.from_numpy(a(0.1) - a(0.0))
    yt = lowrank.LowRank(*(torch.from_numpy(x) for x in y0))
    y1 = lowrank.bug_step(
        *yt,
        **{
            "k_step": lambda k0, v0: k0 + f @ v0,
            "l_step": lambda l0, u0: l0 + f.conj().T @ u0,
            "s_step": lambda s0, u, v: s0 + u.conj().T @ f @ v,
        },
        tol=1e-12,
    )
    assert isinstance(y1.s, torch.Tensor)
    assert np.linalg.norm(lowrank.to_dense(y1).numpy() - a(0.1)) < 1e-12


def test_bad_arguments():
    a, y0 = _moving_matrix()
    steps = _constant_steps(a(0.1) - a(0.0))
    with pytest.raises(ValueError):
        lowrank.bug_step(y0.u, y0.s[:2], y0.v, **steps)
    with pytest.raises(ValueError):
        lowrank.bug_step(*y0, **steps, tol=1.5)
    with pytest.raises(TypeError):
        lowrank.bug_step(*y0, **{**steps, "k_step": None})
    with pytest.raises(ValueError):
        lowrank.parallel_bug_step(*y0, **steps, rank_max=0)
