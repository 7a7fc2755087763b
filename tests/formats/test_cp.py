"""CP format: construction, dense value, norms, save/load, TensorLy round trip."""

import numpy as np
import pytest
import tensorly as tl

import tnkit as tk
from tnkit.formats.cp import CP


def _cp(rng, shape=(3, 4, 5), rank=2, dtype=np.float64):
    factors = [rng.standard_normal((n, rank)).astype(dtype) for n in shape]
    return CP(rng.standard_normal(rank).astype(dtype), factors)


def test_to_tensor_matches_einsum():
    rng = np.random.default_rng(0)
    c = _cp(rng)
    a, b, d = c.factors
    want = np.einsum("r,ir,jr,kr->ijk", c.weights, a, b, d)
    np.testing.assert_allclose(c.to_tensor(), want, atol=1e-12)
    assert c.rank == 2 and c.shape == (3, 4, 5) and c.n_params == 2 + 2 * 12
    assert c.open_legs == ("i0", "i1", "i2")
    assert np.isclose(c.norm(), np.linalg.norm(want))


def test_weights_default_to_ones_and_inner_with_other_format():
    rng = np.random.default_rng(1)
    factors = [rng.standard_normal((n, 3)) for n in (4, 5)]
    c = CP(None, factors)
    np.testing.assert_allclose(c.to_tensor(), factors[0] @ factors[1].T, atol=1e-12)
    t = tk.TT([c.to_tensor()[None, :, :1] * 0 + c.to_tensor()[None, :, :1], np.ones((1, 5, 1))])
    assert np.isclose(c.inner(t), np.sum(c.to_tensor() * t.to_tensor()))


def test_save_load_keeps_class_and_history(tmp_path):
    rng = np.random.default_rng(2)
    c = _cp(rng)
    c.history = [0.5, 0.25]
    c.save(tmp_path / "c.npz")
    back = tk.load(tmp_path / "c.npz")
    assert isinstance(back, CP) and back.history == [0.5, 0.25]
    np.testing.assert_allclose(back.to_tensor(), c.to_tensor())


def test_tensorly_round_trip():
    rng = np.random.default_rng(3)
    c = _cp(rng)
    tlc = c.to_tensorly()
    np.testing.assert_allclose(tl.cp_to_tensor(tlc), c.to_tensor(), atol=1e-12)
    back = CP.from_tensorly(tlc)
    np.testing.assert_allclose(back.to_tensor(), c.to_tensor(), atol=1e-12)


def test_bad_construction():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="rank"):
        CP(None, [rng.standard_normal((3, 2)), rng.standard_normal((4, 3))])
    with pytest.raises(ValueError, match="2-D"):
        CP(None, [rng.standard_normal((3, 2, 1))])
    with pytest.raises(ValueError, match="weights"):
        CP(np.ones(3), [rng.standard_normal((3, 2))])
    with pytest.raises(ValueError, match="at least one"):
        CP(None, [])


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: CP(None, None), TypeError, "factors"),
        (lambda: CP(None, "ab"), TypeError, "factors"),
        (lambda: CP("a", [np.ones((4, 2))]), TypeError, "weights"),
        (lambda: CP(None, [np.full((4, 2), np.nan)]), ValueError, r"factors\[0\] contains NaN"),
        (lambda: CP(None, [np.ones((4, 0))]), ValueError, r"factors\[0\] has an empty axis"),
    ],
)
def test_bad_arrays_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_weights_may_be_a_list():
    c = CP([1.0, 2.0], [np.ones((4, 2)), np.ones((5, 2))])
    np.testing.assert_allclose(c.to_tensor(), np.full((4, 5), 3.0))
