"""Tucker format: dense value, rank, save/load, TensorLy round trip, validation."""

import numpy as np
import pytest
import tensorly as tl

import tnkit as tk
from tnkit.formats.tucker import Tucker


def _tucker(rng):
    core = rng.standard_normal((2, 3, 2))
    factors = [rng.standard_normal((n, r)) for n, r in zip((4, 5, 6), core.shape)]
    return Tucker(core, factors)


def test_to_tensor_matches_einsum():
    rng = np.random.default_rng(0)
    t = _tucker(rng)
    want = np.einsum("abc,ia,jb,kc->ijk", t.core, *t.factors)
    np.testing.assert_allclose(t.to_tensor(), want, atol=1e-12)
    assert t.rank == (2, 3, 2) and t.shape == (4, 5, 6)
    assert np.isclose(t.norm(), np.linalg.norm(want))


def test_save_load_and_tensorly():
    rng = np.random.default_rng(1)
    t = _tucker(rng)
    np.testing.assert_allclose(tl.tucker_to_tensor(t.to_tensorly()), t.to_tensor(), atol=1e-12)
    np.testing.assert_allclose(
        Tucker.from_tensorly(t.to_tensorly()).to_tensor(), t.to_tensor(), atol=1e-12
    )


def test_save_load(tmp_path):
    t = _tucker(np.random.default_rng(2))
    t.options = {"method": "hooi"}
    t.save(tmp_path / "t.npz")
    back = tk.load(tmp_path / "t.npz")
    assert isinstance(back, Tucker) and back.options == {"method": "hooi"}
    np.testing.assert_allclose(back.to_tensor(), t.to_tensor())


def test_bad_construction():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="factors"):
        Tucker(rng.standard_normal((2, 3)), [rng.standard_normal((4, 2))])
    with pytest.raises(ValueError, match=r"factors\[1\]"):
        Tucker(
            rng.standard_normal((2, 3)), [rng.standard_normal((4, 2)), rng.standard_normal((4, 2))]
        )


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: Tucker(None, [np.ones((4, 2))]), TypeError, "core"),
        (lambda: Tucker(np.ones((2, 2)), None), TypeError, "factors"),
        (lambda: Tucker(np.full((2, 2), np.nan), [np.ones((4, 2))] * 2), ValueError, "core"),
    ],
)
def test_bad_arrays_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
