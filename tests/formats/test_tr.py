"""TR format: construction, dense value, rounding guarantee, io, TensorLy and TT conversion."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tnkit as tk
from tnkit.formats.tr import TR


def ring(shape, ranks, seed=0, dtype=float):
    rng = np.random.default_rng(seed)
    n = len(shape)
    cores = []
    for k in range(n):
        g = rng.standard_normal((ranks[k - 1], shape[k], ranks[k]))
        if dtype is complex:
            g = g + 1j * rng.standard_normal(g.shape)
        cores.append(g)
    return TR(cores)


def dense(t):
    """Reference value: trace of the product of the core slices, entry by entry."""
    cores = t.cores
    out = np.zeros(t.shape, dtype=cores[0].dtype)
    for idx in np.ndindex(*t.shape):
        m = np.eye(cores[0].shape[0])
        for g, i in zip(cores, idx):
            m = m @ g[:, i, :]
        out[idx] = np.trace(m)
    return out


def test_structure_and_rank():
    t = ring((3, 4, 5), (2, 3, 4))
    assert t.shape == (3, 4, 5)
    assert t.rank == (2, 3, 4)
    assert t.open_legs == ("i0", "i1", "i2")
    assert [g.shape for g in t.cores] == [(4, 3, 2), (2, 4, 3), (3, 5, 4)]
    assert t.n_params == 4 * 3 * 2 + 2 * 4 * 3 + 3 * 5 * 4
    assert t.history == [] and t.options == {}


@pytest.mark.parametrize("dtype", [float, complex])
def test_to_tensor_matches_trace_formula(dtype):
    t = ring((3, 4, 2, 3), (2, 3, 1, 2), dtype=dtype)
    np.testing.assert_allclose(t.to_tensor(), dense(t), rtol=1e-12, atol=1e-12)


def test_two_cores():
    t = ring((4, 5), (3, 2))
    np.testing.assert_allclose(t.to_tensor(), dense(t), atol=1e-12)


def test_norm_and_inner_agree_with_dense():
    a, b = ring((3, 4, 5), (2, 2, 3), 1), ring((3, 4, 5), (3, 1, 2), 2)
    xa, xb = a.to_tensor(), b.to_tensor()
    assert a.norm() == pytest.approx(np.linalg.norm(xa), rel=1e-12)
    assert float(a.inner(b)) == pytest.approx(float(np.sum(xa * xb)), rel=1e-10)


def test_bad_cores():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least 2 cores"):
        TR([rng.standard_normal((2, 3, 2))])
    with pytest.raises(ValueError, match="bond 0"):
        TR([rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 2))])
    with pytest.raises(ValueError, match="3-D"):
        TR([rng.standard_normal((2, 3)), rng.standard_normal((2, 3, 2))])
    with pytest.raises(TypeError):
        TR("abc")


def test_round_meets_tol_and_compresses():
    # a rank-(2,2,2,2) ring written with padded rank 4 bonds (redundant directions)
    small = ring((6, 7, 8, 5), (2, 2, 2, 2), 3)
    rng = np.random.default_rng(4)
    # G_k -> M_{k-1} G_k M_k^+ with M_k of shape (4, 2): an equal ring with bonds of size 4
    mats = [rng.standard_normal((4, 2)) for _ in range(4)]
    pinvs = [np.linalg.pinv(m) for m in mats]
    big = [np.einsum("ab,bic,cd->aid", mats[k - 1], g, pinvs[k]) for k, g in enumerate(small.cores)]
    t = TR(big)
    x = t.to_tensor()
    np.testing.assert_allclose(x, small.to_tensor(), atol=1e-9 * np.linalg.norm(x))
    for tol in (1e-8, 1e-2, 0.3):
        r = t.round(tol)
        err = np.linalg.norm(r.to_tensor() - x) / np.linalg.norm(x)
        assert err <= tol
        assert all(k <= 4 for k in r.rank)
    assert t.round(1e-8).rank == (2, 2, 2, 2)


def test_round_noisy_ring_guarantee():
    t = ring((5, 6, 7), (3, 4, 3), 5)
    x = t.to_tensor()
    for tol in (0.05, 0.2, 0.6):
        r = t.round(tol)
        assert np.linalg.norm(r.to_tensor() - x) / np.linalg.norm(x) <= tol
    with pytest.raises(ValueError, match="tol"):
        t.round(0)
    with pytest.raises(ValueError, match="tol"):
        t.round(1.5)


def test_save_load_roundtrip(tmp_path):
    t = ring((3, 4, 5), (2, 3, 2))
    t.history, t.options = [0.5, 0.1], {"method": "als"}
    t.save(tmp_path / "ring.npz")
    u = tk.load(tmp_path / "ring.npz")
    assert isinstance(u, TR)
    assert u.rank == t.rank and u.history == [0.5, 0.1] and u.options == {"method": "als"}
    np.testing.assert_allclose(u.to_tensor(), t.to_tensor())


def test_structure_ops_keep_class():
    t = ring((3, 4, 5), (2, 3, 2))
    assert isinstance(t.copy(), TR)
    assert isinstance(t.scale(2.0), TR)
    np.testing.assert_allclose(t.scale(2.0).to_tensor(), 2 * t.to_tensor())


def test_tensorly_roundtrip():
    tl = pytest.importorskip("tensorly")
    t = ring((3, 4, 5), (2, 3, 2))
    trt = t.to_tensorly()
    np.testing.assert_allclose(tl.to_numpy(trt.to_tensor()), t.to_tensor(), atol=1e-12)
    back = TR.from_tensorly(trt)
    np.testing.assert_allclose(back.to_tensor(), t.to_tensor(), atol=1e-12)


def test_torch_backend():
    torch = pytest.importorskip("torch")
    t = ring((3, 4, 5), (2, 3, 2))
    tt = t.to("torch")
    assert isinstance(tt, TR)
    assert isinstance(tt.to_tensor(), torch.Tensor)
    np.testing.assert_allclose(tt.to_tensor().numpy(), t.to_tensor(), atol=1e-12)


def test_to_tt_is_exact():
    tt_mod = pytest.importorskip("tnkit.formats.tt")
    t = ring((3, 4, 5, 2), (2, 3, 2, 3))
    tt = t.to_tt()
    assert isinstance(tt, tt_mod.TT)
    assert tt.rank == (3 * 2, 3 * 3, 3 * 2)
    np.testing.assert_allclose(tt.to_tensor(), t.to_tensor(), atol=1e-12)
    two = ring((4, 5), (2, 3))
    np.testing.assert_allclose(two.to_tt().to_tensor(), two.to_tensor(), atol=1e-12)


@settings(max_examples=15)
@given(
    shape=st.lists(st.integers(2, 5), min_size=2, max_size=4),
    rank_seed=st.integers(0, 10**6),
    tol=st.floats(0.01, 0.9),
)
def test_round_guarantee_and_dense_invariants(shape, rank_seed, tol):
    rng = np.random.default_rng(rank_seed)
    ranks = tuple(int(r) for r in rng.integers(1, 4, size=len(shape)))
    t = ring(tuple(shape), ranks, rank_seed)
    x = t.to_tensor()
    assert x.flags.c_contiguous
    np.testing.assert_allclose(x, t.contract(), atol=1e-10 * max(np.linalg.norm(x), 1.0))
    r = t.round(tol)
    assert np.linalg.norm(r.to_tensor() - x) <= tol * np.linalg.norm(x) * (1 + 1e-9)
    assert all(a <= b for a, b in zip(r.rank, t.rank))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: TR([np.full((2, 3, 2), np.nan), np.ones((2, 3, 2))]), ValueError, r"cores\[0\]"),
        (lambda: TR([np.ones((2, 3, 2), dtype=object)] * 2), TypeError, r"cores\[0\]"),
        (lambda: TR([np.ones((2, 0, 2))] * 2), ValueError, r"cores\[0\] has an empty axis"),
    ],
)
def test_bad_core_arrays_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("tol", ["a", None, float("nan"), -1, 2, True])
def test_round_tol_is_validated(tol):
    ring = TR([np.ones((2, 3, 2)), np.ones((2, 4, 2))])
    with pytest.raises(ValueError, match="tol"):
        ring.round(tol)
