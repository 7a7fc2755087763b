"""Every algorithm on cupy arrays and torch CUDA tensors: numpy's numbers, arrays on the device.

The cases (decompositions, ALS sweeps and their transfer allowances) are those of
tests/test_torch_paths.py, run here on a real GPU (see conftest.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import tnkit as tk
from tnkit import backend, contract
from tnkit.sparse import SparseTensor

pytestmark = pytest.mark.gpu

# loose enough for cuSOLVER against LAPACK after a few ALS sweeps, tight enough to catch a bug
RTOL = 1e-7


def test_contraction_on_device(device, cases):
    ops = [np.random.default_rng(k).standard_normal(s) for k, s in enumerate([(9, 8), (8, 7, 6)])]
    ops.append(np.random.default_rng(5).standard_normal((6, 9)))
    eq = "ab,bcd,da->c"
    out = contract.einsum(eq, *device.put(ops))
    assert device.holds([out])
    cases.assert_close(np.einsum(eq, *ops), out)
    sliced = contract.einsum(eq, *device.put(ops), memory_limit=100)
    assert device.holds([sliced])
    cases.assert_close(np.einsum(eq, *ops), sliced)


def test_network_moves_and_operations_on_device(device, cases):
    ref = cases._chain(np.asarray)
    net = ref.to(device.backend, device.device)
    assert device.holds(net.arrays)
    cases.assert_close(ref.contract(), net.contract())
    assert net.norm() == pytest.approx(ref.norm(), rel=1e-12)
    split = net.split_node("B", ("a",), ("j", "b"), rank=3)
    assert device.holds(split.arrays)
    cases.assert_close(ref.split_node("B", ("a",), ("j", "b"), rank=3).contract(), split.contract())
    back = net.to("numpy")
    cases.assert_close(ref.contract(), back.contract())


@pytest.mark.parametrize(
    "name",
    [
        "tucker-hooi",
        "tucker-tol",
        "tucker-nonnegative",
        "tt-rank",
        "tt-tol",
        "tr-als",
        "tr-svd",
        "fit_network",
    ],
)
def test_decomposition_on_device_matches_numpy(device, cases, name):
    fit = cases.DECOMPOSITIONS[name]
    x = cases.low_rank_ring()
    ref, out = fit(x), fit(device.put(x))
    assert device.holds(out.arrays)
    cases.assert_close(ref.contract(), out.contract(), rtol=RTOL)


def test_cp_on_device_matches_numpy(device, cases):
    if not cases.HAS_CP:
        pytest.skip("tnkit.decompose.cp has not landed yet")
    x = cases.low_rank_ring()
    ref, out = tk.cp(x, rank=3, max_iter=5), tk.cp(device.put(x), rank=3, max_iter=5)
    assert device.holds(out.arrays)
    cases.assert_close(ref.to_tensor(), out.to_tensor(), rtol=RTOL)


@pytest.mark.parametrize("unlisted", ["zero", "missing"])
def test_sparse_cp_on_device_matches_numpy(device, cases, unlisted):
    """The scatter-adds (cupyx sparse matrices, torch index_add_) on the device."""
    x = cases.low_rank_ring()
    mask = np.random.default_rng(3).random(x.shape) < 0.5
    keep = None if unlisted == "zero" else mask
    ref = tk.cp(SparseTensor.from_dense(x * mask, mask=keep), 3, max_iter=5)
    out = tk.cp(SparseTensor.from_dense(device.put(x * mask), mask=keep), 3, max_iter=5)
    assert device.holds(out.arrays)
    cases.assert_close(ref.to_tensor(), out.to_tensor(), rtol=RTOL)


SPARSE_FITS = {  # fit(x, mask) of a sparse tensor made from dense data
    "tucker": lambda d, m: tk.tucker(SparseTensor.from_dense(d * m), [2, 2, 2], max_iter=4),
    "tucker-missing": lambda d, m: tk.tucker(
        SparseTensor.from_dense(d, mask=m), [2, 2, 2], max_iter=4
    ),
    "tt": lambda d, m: tk.tt(SparseTensor.from_dense(d, mask=m), rank=2, max_iter=4),
    "tr": lambda d, m: tk.tr(SparseTensor.from_dense(d, mask=m), rank=2, max_iter=4),
}


@pytest.mark.parametrize("fmt", sorted(SPARSE_FITS))
def test_sparse_tucker_tt_and_tr_on_device_match_numpy(device, cases, fmt):
    x = cases.low_rank_ring()
    mask = np.random.default_rng(4).random(x.shape) < 0.5
    ref, out = SPARSE_FITS[fmt](x, mask), SPARSE_FITS[fmt](device.put(x), mask)
    assert device.holds(out.arrays)
    cases.assert_close(ref.to_tensor(), out.to_tensor(), rtol=RTOL)


def test_masked_fit_network_on_device(device, cases):
    x = cases.low_rank_ring(1)
    mask = np.random.default_rng(2).random(x.shape) < 0.7
    net = cases.Structure.topology("ring", [2, 2, 2]).to_network(x.shape, 0)
    ref = tk.fit_network(x, net, mask=mask, max_iter=4)
    out = tk.fit_network(device.put(x), net, mask=device.put(mask), max_iter=4)
    assert device.holds(out.arrays)
    cases.assert_close(ref.contract(), out.contract(), rtol=RTOL)


@pytest.mark.parametrize("fmt", ["tt", "tr", "cp", "tucker"])
def test_completion_on_device_matches_numpy(device, cases, fmt):
    x = cases.low_rank_ring(5)
    mask = np.random.default_rng(6).random(x.shape) < 0.6
    fits = {
        "tt": lambda d, m: tk.tt(d, rank=2, mask=m, max_iter=4, improvement_tol=0),
        "tr": lambda d, m: tk.tr(d, 2, mask=m, max_iter=4, improvement_tol=0),
        "cp": lambda d, m: tk.cp(d, 3, mask=m, max_iter=4),
        "tucker": lambda d, m: tk.tucker(d, rank=2, mask=m, max_iter=4),
    }
    ref = fits[fmt](np.where(mask, x, np.nan), mask)
    out = fits[fmt](device.put(np.where(mask, x, np.nan)), device.put(mask))
    assert device.holds(out.arrays)
    cases.assert_close(ref.to_tensor(), out.to_tensor(), rtol=RTOL)


def test_tt_algebra_on_device(device, cases):
    a, b = tk.tt(cases.low_rank_ring(7), rank=2), tk.tt(cases.low_rank_ring(8), rank=3)
    da, db = (t.to(device.backend, device.device) for t in (a, b))
    out = (da + db).round(rank=3)
    assert device.holds(out.arrays)
    cases.assert_close((a + b).round(rank=3).to_tensor(), out.to_tensor(), rtol=RTOL)
    cases.assert_close(a.dot(b), da.dot(db), rtol=RTOL)


def test_entries_on_device(device, cases):
    """Values at device-held indices come back on the device; on a GPU the only copies to
    the host are the range check's two scalars per open leg (on the CPU, entries sharing an
    index value are grouped on the host)."""
    tt = tk.tt(cases.low_rank_ring(9), rank=3)
    rows = np.stack([np.arange(40) % n for n in tt.shape], axis=1)
    on_device = tt.to(device.backend, device.device)
    idx = device.put(rows)
    with backend.watch_transfers() as log:
        values = on_device.entries(idx, memory_limit=4000)  # several chunks
    assert device.holds([values])
    if device.real_gpu:
        assert log.summary() == {"d2h_scalars": 2 * tt.ndim, "d2h_arrays": 0, "h2d": 0}
    cases.assert_close(tt.entries(rows), values, rtol=RTOL)


def test_fit_network_from_a_network_on_device(device, cases):
    x = cases.low_rank_ring(4)
    net = cases.Structure.topology("ring", [2, 2, 2]).to_network(x.shape, 0)
    ref = tk.fit_network(x, net, max_iter=3)
    out = tk.fit_network(device.put(x), net.to(device.backend, device.device), max_iter=3)
    assert device.holds(out.arrays)
    cases.assert_close(ref.contract(), out.contract(), rtol=RTOL)


def test_structure_search_evaluation_on_device(device, cases):
    x = cases.low_rank_ring(2)
    ref = cases.fit_job(cases._fit_payload(x, 5))
    out = cases.fit_job(cases._fit_payload(device.put(x), 5))
    assert device.holds(out["arrays"].values())
    assert out["rse"] == pytest.approx(ref["rse"], rel=RTOL)


SEARCH = dict(target_rse=1e-2, budget=30, seed=0)


def _assert_found_on_device(device, cases, ref, out):
    assert device.holds(out.network.arrays)
    assert out.structure == ref.structure
    cases.assert_close(ref.network.contract(), out.network.contract(), rtol=RTOL)


def test_structure_search_on_device(device, cases):
    x = cases._search_target()
    ref = cases.search.greedy(x, **SEARCH)
    _assert_found_on_device(device, cases, ref, cases.search.greedy(device.put(x), **SEARCH))
    if device.real_gpu:  # device="gpu" moves numpy data to a GPU (cupy first)
        moved = cases.search.greedy(x, device="gpu", **SEARCH)
        assert backend.device_of_kind(moved.network.arrays[0]) == "cuda"
        assert moved.structure == ref.structure


def test_structure_search_in_worker_processes_on_device(device, cases):
    """Workers (spawned on a GPU) receive numpy and fit on the device; the result comes back
    to the input's device."""
    x = cases._search_target()
    ref = cases.search.greedy(x, **SEARCH)
    out = cases.search.greedy(device.put(x), workers=2, **SEARCH)
    _assert_found_on_device(device, cases, ref, out)


@pytest.mark.parametrize("method", ["fixed", "adaptive", "parallel"])
def test_bug_step_on_device(device, cases, method):
    problems, bug = cases.problems, cases.bug
    op = problems.matrix_schrodinger(20)
    y0 = problems.matrix_initial(20, rank=2, seed=2)
    ref, _ = bug.integrate(op, y0, 0.05, dt=0.05, method=method, tol=1e-8)
    out, _ = bug.integrate(op, cases.LowRank(*device.put(list(y0))), 0.05, dt=0.05, method=method)
    assert device.holds(out)
    cases.assert_close(cases.to_dense(ref), cases.to_dense(out), rtol=1e-9)


def test_ttn_bug_step_on_device(device, cases):
    problems, bug = cases.problems, cases.bug
    tree = problems.binary_tree(4)
    op, y0 = problems.transverse_field_ising(4), problems.all_up(tree, rank=2)
    ref, _ = bug.integrate(op, y0, 0.1, dt=0.05, method="adaptive", tol=1e-8)
    out, _ = bug.integrate(op, y0.to(device.backend, device.device), 0.1, dt=0.05, tol=1e-8)
    assert device.holds(out.arrays)
    cases.assert_close(ref.to_tensor(), out.to_tensor(), rtol=1e-9)


@pytest.mark.parametrize(
    "name",
    [
        "cp-als",
        "cp-nonnegative",
        "cp-sparse-missing",
        "tt-sparse",
        "tucker-sparse",
        "tucker-sparse-missing",
        "tr-sparse",
        "fit_network",
        "tucker-hooi",
        "tucker-nonnegative",
        "tr-als",
    ],
)
def test_als_sweep_keeps_arrays_on_device(device, cases, name):
    """No array crosses to the host inside a sweep (counted by backend.watch_transfers).

    Scalar syncs are held to twice the one error of tests/test_torch_paths.py: the GPU
    library's own Python code may add a status check per factorisation, but a sync per
    element or per row would still fail."""
    if name not in cases.SWEEPS:
        pytest.skip(f"{name} has not landed yet")
    x = device.put(cases.low_rank_ring(3))
    per = cases.per_sweep_transfers(lambda n: cases.SWEEPS[name](x, n))
    assert per["d2h_arrays"] == 0, per
    assert per["d2h_scalars"] <= 2, per


def test_dlpack_moves_stay_on_the_gpu(device):
    if device.kind != "cupy" or not backend.cuda_available("torch"):
        pytest.skip("needs cupy and torch CUDA together")
    a = device.put(np.arange(12.0).reshape(3, 4))
    with backend.watch_transfers() as log:
        t = backend.to_backend(a, "torch")
        b = backend.to_backend(t, "cupy")
    assert log.events == []
    assert backend.device_of_kind(t) == "cuda" and backend.backend_name(b) == "cupy"
    np.testing.assert_array_equal(backend.to_numpy(b), np.arange(12.0).reshape(3, 4))
