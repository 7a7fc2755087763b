"""TR arithmetic, inner product and rounding on cupy arrays and torch CUDA tensors: numpy's
numbers, arrays on the device (see conftest.py; TNKIT_GPU_DRY_RUN=1 runs them on torch CPU)."""

from __future__ import annotations

import numpy as np
import pytest

import tnkit as tk

pytestmark = pytest.mark.gpu

RTOL = 1e-9  # no iterations: one SVD per bond, cuSOLVER against LAPACK


def _ring(seed, ranks, dtype=float):
    rng = np.random.default_rng(seed)
    cores = [rng.standard_normal((ranks[k - 1], n, ranks[k])) for k, n in enumerate((3, 4, 5, 3))]
    if dtype is complex:
        cores = [g + 1j * rng.standard_normal(g.shape) for g in cores]
    return tk.TR(cores)


@pytest.mark.parametrize("dtype", [float, complex])
def test_tr_algebra_on_device(device, cases, dtype):
    a, b = _ring(1, (2, 3, 2, 2), dtype), _ring(2, (3, 2, 2, 1), dtype)
    t = tk.tt(b.to_tensor(), rank=2)  # any TT of the same shape and dtype
    da, db, dt = (x.to(device.backend, device.device) for x in (a, b, t))
    for ref, out in [(a + b, da + db), (a - 2.0 * b, da - 2.0 * db), (a * b, da * db)]:
        assert device.holds(out.arrays)
        cases.assert_close(ref.to_tensor(), out.to_tensor(), rtol=RTOL)
    mixed = da + dt
    assert isinstance(mixed, tk.TR) and device.holds(mixed.arrays)
    cases.assert_close((a + t).to_tensor(), mixed.to_tensor(), rtol=RTOL)
    cases.assert_close(a.dot(b), da.dot(db), rtol=RTOL)
    assert da.norm() == pytest.approx(a.norm(), rel=RTOL)
    ref, out = (a + 1e-9 * b).round(1e-4), (da + 1e-9 * db).round(1e-4)
    assert device.holds(out.arrays) and out.rank == ref.rank
    cases.assert_close(ref.to_tensor(), out.to_tensor(), rtol=RTOL)
