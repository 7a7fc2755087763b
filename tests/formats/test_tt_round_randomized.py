"""Randomized TT rounding (Randomize-then-Orthogonalize) of one TT and of sums of TTs."""

import numpy as np
import pytest

import tnkit as tk
from tnkit.formats.tt import TT, round_sum


def _tt(rng, shape=(3, 4, 5, 4, 3), rank=3, dtype=np.float64):
    r = [1] + [rank] * (len(shape) - 1) + [1]
    cores = [rng.standard_normal((r[k], n, r[k + 1])) for k, n in enumerate(shape)]
    if np.dtype(dtype).kind == "c":
        cores = [c + 1j * rng.standard_normal(c.shape) for c in cores]
    return TT([c.astype(dtype) for c in cores])


def _rel(x, approx):
    return np.linalg.norm(approx.to_tensor() - x) / np.linalg.norm(x)


def test_exact_recovery_of_low_rank_sum():
    rng = np.random.default_rng(0)
    t = _tt(rng, rank=3)
    x = 3 * t.to_tensor()
    y = round_sum([t, t, t], rank=3)
    assert y.rank == t.rank and _rel(x, y) < 1e-12
    z = (t + t + t).round(rank=[3, 3, 3, 3], method="randomized", oversample=2)
    assert z.rank == t.rank and _rel(x, z) < 1e-12
    for c in y.cores[1:]:  # right-orthonormal result
        q = c.reshape(c.shape[0], -1)
        np.testing.assert_allclose(q @ q.T, np.eye(q.shape[0]), atol=1e-12)


def test_coefficients_and_complex_terms():
    rng = np.random.default_rng(1)
    a, b = _tt(rng, rank=2, dtype=np.complex128), _tt(rng, rank=2)
    x = 2 * a.to_tensor() - 0.5j * b.to_tensor()
    y = tk.tt_round_sum([a, b], rank=4, coefficients=[2, -0.5j])
    assert y.dtype == np.complex128 and y.rank == (3, 4, 4, 3)
    assert _rel(x, y) < 1e-12


def test_terms_of_different_ranks_and_dtypes():
    rng = np.random.default_rng(4)
    a, b = _tt(rng, rank=2, dtype=np.float32), _tt(rng, rank=3)
    c = TT(
        [rng.standard_normal(s) for s in [(1, 3, 1), (1, 4, 4), (4, 5, 2), (2, 4, 1), (1, 3, 1)]]
    )
    x = a.to_tensor() + b.to_tensor() + c.to_tensor()
    y = round_sum([a, b, c], rank=9, oversample=0)
    assert y.dtype == np.float64 and y.rank == (3, 9, 7, 3)  # the sum's ranks
    assert _rel(x, y) < 1e-6  # a's float32 cores


def test_error_close_to_deterministic_rounding():
    terms = [_tt(np.random.default_rng(j), shape=(4,) * 7, rank=4) for j in range(5)]
    x = sum(t.to_tensor() for t in terms)
    det = _rel(x, round_sum(terms, rank=4, method="svd"))
    ran = [_rel(x, round_sum(terms, rank=4, seed=s)) for s in range(3)]
    assert 0.3 < det < max(ran) < 1.3 * det
    # with more oversampling the sketch catches more of the spectrum
    assert _rel(x, round_sum(terms, rank=4, oversample=16)) < 1.1 * det


def test_tol_truncates_the_sketch():
    rng = np.random.default_rng(2)
    t = _tt(rng, rank=3)
    noise = _tt(rng, rank=2)
    s = t + noise * (1e-6 * t.norm() / noise.norm())
    x = s.to_tensor()
    y = s.round(rank=5, tol=1e-3, method="randomized")  # the sketch (rank 5) holds s exactly
    assert y.rank == t.rank and _rel(x, y) <= 1e-3
    assert round_sum([s], rank=5).rank == (3, 5, 5, 3)


def test_reproducible_from_seed():
    terms = [_tt(np.random.default_rng(j), rank=3) for j in range(4)]
    a = round_sum(terms, rank=2, seed=5, oversample=1)
    b = round_sum(terms, rank=2, seed=np.random.default_rng(5), oversample=1)
    c = round_sum(terms, rank=2, seed=6, oversample=1)
    for ca, cb in zip(a.cores, b.cores):
        np.testing.assert_array_equal(ca, cb)
    assert np.abs(a.to_tensor() - c.to_tensor()).max() > 1e-6


def test_float32_and_single_core():
    rng = np.random.default_rng(3)
    t = _tt(rng, rank=2, dtype=np.float32)
    y = round_sum([t, t], rank=2)
    assert y.dtype == np.float32 and _rel(2 * t.to_tensor(), y) < 1e-5
    one = TT([rng.standard_normal((1, 5, 1))])
    np.testing.assert_allclose(round_sum([one, one], rank=[]).to_tensor(), 2 * one.to_tensor())


def test_torch_tensors():
    torch = pytest.importorskip("torch")
    terms = [_tt(np.random.default_rng(j), rank=3) for j in range(3)]
    ref = round_sum(terms, rank=3, seed=4)
    out = round_sum([t.to("torch") for t in terms], rank=3, seed=4)
    assert all(torch.is_tensor(c) for c in out.cores)
    np.testing.assert_allclose(out.to("numpy").to_tensor(), ref.to_tensor(), atol=1e-10)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda t: round_sum(t, rank=2), TypeError, "terms must be a list"),
        (lambda t: round_sum([], rank=2), ValueError, "terms must hold"),
        (lambda t: round_sum([t, 1.0], rank=2), TypeError, r"terms\[1\]"),
        (
            lambda t: round_sum([t, _tt(np.random.default_rng(0), (3, 4))], rank=2),
            ValueError,
            r"terms\[1\] has shape",
        ),
        (lambda t: round_sum([t]), ValueError, "rank="),
        (lambda t: round_sum([t], tol=0.1), ValueError, "needs rank="),
        (lambda t: round_sum([t], rank=0), ValueError, r"rank\[0\]"),
        (lambda t: round_sum([t], rank=[2, 2]), ValueError, "rank"),
        (lambda t: round_sum([t], rank=2, tol=1.5), ValueError, "tol"),
        (lambda t: round_sum([t], rank=2, method="qr"), ValueError, "method"),
        (lambda t: round_sum([t], rank=2, oversample=-1), ValueError, "oversample"),
        (lambda t: round_sum([t], rank=2, seed=-1), ValueError, "seed"),
        (lambda t: round_sum([t], rank=2, coefficients=[1, 2]), ValueError, "coefficients"),
        (lambda t: round_sum([t], rank=2, coefficients=["a"]), TypeError, r"coefficients\[0\]"),
        (lambda t: round_sum([t], rank=2, coefficients=[np.inf]), ValueError, "finite"),
        (lambda t: t.round(tol=0.1, method="randomized"), ValueError, "needs rank="),
        (lambda t: t.round(rank=2, method="SVD"), ValueError, "method"),
        (lambda t: t.round(rank=2, method="randomized", oversample=1.5), ValueError, "oversample"),
    ],
)
def test_bad_input_is_named(call, exc, match):
    t = _tt(np.random.default_rng(7))
    with pytest.raises(exc, match=match):
        call(t)


def test_mixed_libraries_are_refused():
    pytest.importorskip("torch")
    t = _tt(np.random.default_rng(8))
    with pytest.raises(TypeError, match=r"terms\[1\] holds torch"):
        round_sum([t, t.to("torch")], rank=2)
