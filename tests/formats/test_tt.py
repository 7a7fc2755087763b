"""TT format: dense value, canonical forms, rounding, arithmetic, TensorLy round trip."""

import numpy as np
import pytest
import tensorly as tl

import tnkit as tk
from tnkit.formats.tt import TT


def _tt(rng, shape=(3, 4, 5, 3), ranks=(2, 3, 2), dtype=np.float64):
    r = (1, *ranks, 1)
    cores = [rng.standard_normal((r[k], n, r[k + 1])) for k, n in enumerate(shape)]
    if np.dtype(dtype).kind == "c":
        cores = [c + 1j * rng.standard_normal(c.shape) for c in cores]
    return TT(cores)


def _dense(t):
    return np.einsum("aib,bjc,ckd,dle->ijkl", *t.cores)


def test_to_tensor_matches_contract_and_einsum():
    t = _tt(np.random.default_rng(0))
    np.testing.assert_allclose(t.to_tensor(), _dense(t), atol=1e-12)
    np.testing.assert_allclose(t.contract(), _dense(t), atol=1e-12)
    assert t.rank == (2, 3, 2) and t.shape == (3, 4, 5, 3)
    assert [c.ndim for c in t.cores] == [3, 3, 3, 3]


@pytest.mark.parametrize("center", [0, 2, 3])
def test_orthogonalize(center):
    t = _tt(np.random.default_rng(1))
    o = t.orthogonalize(center)
    np.testing.assert_allclose(o.to_tensor(), t.to_tensor(), atol=1e-10)
    for k, c in enumerate(o.cores):
        r, n, s = c.shape
        if k < center:
            m = c.reshape(r * n, s)
            np.testing.assert_allclose(m.T @ m, np.eye(s), atol=1e-12)
        elif k > center:
            m = c.reshape(r, n * s)
            np.testing.assert_allclose(m @ m.T, np.eye(r), atol=1e-12)


def test_round_recovers_ranks_after_addition_and_meets_tol():
    rng = np.random.default_rng(2)
    t = _tt(rng)
    s = (t + t).round(tol=1e-10)
    assert s.rank == t.rank
    np.testing.assert_allclose(s.to_tensor(), 2 * t.to_tensor(), atol=1e-9)
    noisy = t + _tt(rng, ranks=(3, 4, 3)) * 0.05
    for tol in (0.01, 0.1, 0.3):
        r = noisy.round(tol=tol)
        err = np.linalg.norm(r.to_tensor() - noisy.to_tensor()) / noisy.norm()
        assert err <= tol
    assert max(noisy.round(rank=2).rank) <= 2


def test_arithmetic_and_dot():
    rng = np.random.default_rng(3)
    a, b = _tt(rng), _tt(rng, ranks=(1, 2, 2))
    da, db = a.to_tensor(), b.to_tensor()
    np.testing.assert_allclose((a + b).to_tensor(), da + db, atol=1e-10)
    np.testing.assert_allclose((a - b).to_tensor(), da - db, atol=1e-10)
    np.testing.assert_allclose((2.5 * a).to_tensor(), 2.5 * da, atol=1e-10)
    np.testing.assert_allclose((a * b).to_tensor(), da * db, atol=1e-10)
    assert (a * b).rank == (2, 6, 4)
    assert np.isclose(a.dot(b), np.sum(da * db))
    assert np.isclose(a.norm(), np.linalg.norm(da))


def test_complex_dot_conjugates_self():
    rng = np.random.default_rng(4)
    a, b = _tt(rng, dtype=complex), _tt(rng, dtype=complex)
    assert np.isclose(a.dot(b), np.vdot(a.to_tensor(), b.to_tensor()))
    r = (a + a).round(tol=1e-10)
    np.testing.assert_allclose(r.to_tensor(), 2 * a.to_tensor(), atol=1e-9)


def test_tensorly_round_trip_and_save(tmp_path):
    t = _tt(np.random.default_rng(5))
    np.testing.assert_allclose(tl.tt_to_tensor(t.to_tensorly()), t.to_tensor(), atol=1e-12)
    np.testing.assert_allclose(TT.from_tensorly(t.to_tensorly()).to_tensor(), t.to_tensor())
    t.save(tmp_path / "t.npz")
    back = tk.load(tmp_path / "t.npz")
    assert isinstance(back, TT) and back.rank == t.rank


def test_bad_input():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="boundary"):
        TT([rng.standard_normal((2, 3, 1))])
    with pytest.raises(ValueError, match="mismatch"):
        TT([rng.standard_normal((1, 3, 2)), rng.standard_normal((3, 3, 1))])
    t = _tt(rng)
    with pytest.raises(ValueError, match="center"):
        t.orthogonalize(4)
    with pytest.raises(ValueError, match="tol= or rank="):
        t.round()
    with pytest.raises(ValueError, match="shapes differ"):
        t + _tt(rng, shape=(3, 4, 5, 4))
    with pytest.raises(TypeError):
        t + 1.0


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda t: TT(None), TypeError, "cores"),
        (lambda t: TT(5), TypeError, "cores"),
        (lambda t: TT([np.full((1, 3, 1), np.nan)]), ValueError, r"cores\[0\] contains NaN"),
        (lambda t: TT([np.ones((1, 3, 1), dtype=object)]), TypeError, r"cores\[0\]"),
        (lambda t: TT([np.ones((1, 0, 1))]), ValueError, r"cores\[0\] has an empty axis"),
        (lambda t: t.round(tol="a"), ValueError, "tol"),
        (lambda t: t.round(tol=float("nan")), ValueError, "tol"),
        (lambda t: t.round(rank=True), ValueError, "rank"),
        (lambda t: t.round(rank=[True, 2, 2]), ValueError, r"rank\[0\]"),
        (lambda t: t.round(rank="2"), ValueError, "rank"),
        (lambda t: t.orthogonalize(True), ValueError, "center"),
        (lambda t: t.orthogonalize("1"), ValueError, "center"),
        (lambda t: t * float("nan"), ValueError, "finite"),
    ],
)
def test_bad_input_is_named(call, exc, match):
    t = _tt(np.random.default_rng(7))
    with pytest.raises(exc, match=match):
        call(t)


def test_numpy_integers_are_accepted():
    t = _tt(np.random.default_rng(8))
    assert t.round(rank=np.int64(1)).rank == (1, 1, 1)
    assert t.orthogonalize(np.int64(1)).shape == t.shape
    assert TT([np.ones((1, 3, 1), dtype=int)]).dtype == np.float64


def test_arithmetic_refuses_mixed_libraries():
    torch = pytest.importorskip("torch")
    t = _tt(np.random.default_rng(9))
    with pytest.raises(TypeError, match="the other TT holds torch arrays"):
        t + t.to("torch")
    with pytest.raises(TypeError, match="the other TT holds torch arrays"):
        t.dot(t.to("torch"))
    assert torch.is_tensor(t.to("torch").dot(t.to("torch")))
