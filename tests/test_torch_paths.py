"""Every algorithm on torch (CPU) tensors: same numbers as numpy, arrays stay torch tensors.

Torch CPU tensors take the same non-numpy code paths as torch CUDA tensors and cupy arrays, so
these tests are the CPU-side proof of GPU readiness (issue 7). ``backend.watch_transfers``
counts torch tensors on the CPU as if they lived on a GPU, which lets the transfer audits at
the end run here too; ``tests/gpu`` repeats them on a real device.

Per-sweep transfer counts are measured as the difference between a run of ``n2`` and one of
``n1`` sweeps, so set-up (random starts, rank decisions) cancels out.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import tnkit as tk
from tnkit import backend, contract

torch = pytest.importorskip("torch")

from solvers import bug, search  # noqa: E402
from solvers.bug import problems  # noqa: E402
from solvers.search.objective import FitOptions, fit_job  # noqa: E402
from solvers.search.structure import Structure  # noqa: E402
from tnkit.lowrank import LowRank, to_dense  # noqa: E402
from tnkit.sparse import SparseTensor  # noqa: E402

HAS_CP = importlib.util.find_spec("tnkit.decompose.cp") is not None
needs_cp = pytest.mark.skipif(not HAS_CP, reason="tnkit.decompose.cp has not landed yet")
SHAPE = (6, 7, 8)


def _data(shape=SHAPE, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def low_rank_ring(seed=0):
    """A noisy ring of rank 2 (ALS converges but not in one sweep)."""
    rng = np.random.default_rng(seed)
    cores = [rng.standard_normal((2, n, 2)) for n in SHAPE]
    x = np.einsum("aib,bjc,cka->ijk", *cores)
    return x + 1e-3 * rng.standard_normal(SHAPE)


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def gpu_strict():
    """Refuse ``np.asarray(tensor)`` inside the block, as CUDA tensors and cupy arrays do."""
    return backend.watch_transfers(implicit=False)


def _assert_torch(arrays):
    for a in arrays:
        assert isinstance(a, torch.Tensor), type(a)


def assert_close(a, b, rtol=1e-9):
    a, b = backend.to_numpy(a), backend.to_numpy(b)
    assert np.linalg.norm(a - b) <= rtol * max(np.linalg.norm(a), 1e-300)


# ------------------------------------------------------------------------ contraction, networks
def test_einsum_and_sliced_einsum_match_numpy():
    ops = [_data((5, 6), 1), _data((6, 7), 2), _data((7, 5), 3)]
    ref = np.einsum("ab,bc,ca->", *ops)
    out = contract.einsum("ab,bc,ca->", *map(_t, ops))
    assert isinstance(out, torch.Tensor)
    assert_close(ref, out)
    sliced = contract.einsum("ab,bc,cd->ad", *map(_t, ops), memory_limit=220)
    assert isinstance(sliced, torch.Tensor)
    assert_close(np.einsum("ab,bc,cd->ad", *ops), sliced)


def _chain(like):
    net = tk.TensorNetwork()
    net.add_node("A", like(_data((4, 3), 1)), ("i", "a"))
    net.add_node("B", like(_data((3, 5, 2), 2)), ("a", "j", "b"))
    net.add_node("C", like(_data((2, 6), 3)), ("b", "k"))
    return net


def test_network_operations_stay_torch_and_match_numpy():
    ref, net = _chain(np.asarray), _chain(_t)
    assert net.backend == "torch"
    assert_close(ref.contract(), net.contract())
    assert net.norm() == pytest.approx(ref.norm(), rel=1e-12)
    assert_close(ref.inner(ref), net.inner(net))
    for op in (
        lambda n: n.conj(),
        lambda n: n.copy(deep=True),
        lambda n: n.scale(2.5),
        lambda n: n.contract_nodes("A", "B"),
        lambda n: n.rename_legs({"i": "x"}),
        lambda n: n.split_node("B", ("a", "j"), ("b",), method="qr"),
        lambda n: n.split_node("B", ("a",), ("j", "b"), rank=3),
    ):
        a, b = op(ref), op(net)
        _assert_torch(b.arrays)
        assert_close(a.contract(), b.contract())
    half = net.astype("float32")
    assert half["A"].dtype == torch.float32
    back = net.to("numpy").to("torch")
    _assert_torch(back.arrays)
    assert_close(ref.contract(), back.contract())


def test_fuse_legs_on_torch():
    net = tk.TensorNetwork()
    net.add_node("A", _t(_data((2, 3, 4), 1)), ("i", "j", "b"))
    net.add_node("B", _t(_data((4, 5), 2)), ("b", "k"))
    fused = net.fuse_legs(("i", "j"), "ij")
    _assert_torch(fused.arrays)
    assert_close(net.contract().reshape(6, 5), fused.contract(output=("ij", "k")))


# ------------------------------------------------------------------------ decompositions
DECOMPOSITIONS = {
    "tucker-hooi": lambda x: tk.tucker(x, rank=[3, 3, 3], max_iter=4),
    "tucker-tol": lambda x: tk.tucker(x, tol=0.5, method="sthosvd"),
    "tucker-nonnegative": lambda x: tk.tucker(
        x * x, rank=[2, 2, 2], nonnegative=True, max_iter=4, stop_tol=None
    ),
    "tt-rank": lambda x: tk.tt(x, rank=3),
    "tt-tol": lambda x: tk.tt(x, tol=0.4),
    "tr-als": lambda x: tk.tr(x, rank=2, max_iter=4),
    "tr-svd": lambda x: tk.tr(x, rank=2, method="svd"),
    "fit_network": lambda x: tk.fit_network(
        x, Structure.topology("ring", [2, 2, 2]).to_network(SHAPE, 0), max_iter=4
    ),
}


@pytest.mark.parametrize("name", sorted(DECOMPOSITIONS))
def test_decomposition_on_torch_matches_numpy(name):
    x = low_rank_ring()
    ref, xt = DECOMPOSITIONS[name](x), _t(x)
    with gpu_strict():
        out = DECOMPOSITIONS[name](xt)
    _assert_torch(out.arrays)
    assert type(out) is type(ref)
    assert_close(ref.contract(), out.contract(), rtol=1e-8)
    np.testing.assert_allclose(out.history, ref.history, rtol=1e-7, atol=1e-12)


def test_masked_cp_on_torch_matches_numpy():
    """The SVD start's column phases are fixed, so torch's LAPACK gives numpy's start."""
    x, seen = low_rank_ring(5), np.random.default_rng(6).random(SHAPE) < 0.6
    ref = tk.cp(x, 3, mask=seen, max_iter=4)
    out = tk.cp(_t(x), 3, mask=_t(seen), max_iter=4)
    _assert_torch(out.arrays)
    assert_close(ref.to_tensor(), out.to_tensor(), rtol=1e-8)


def test_tt_completion_on_torch_matches_numpy():
    x, seen = low_rank_ring(4), np.random.default_rng(4).random(SHAPE) < 0.6
    ref = tk.tt(x, rank=2, mask=seen, max_iter=4, improvement_tol=0)
    with gpu_strict():
        out = tk.tt(_t(x), rank=2, mask=_t(seen), max_iter=4, improvement_tol=0)
    _assert_torch(out.arrays)
    assert_close(ref.to_tensor(), out.to_tensor(), rtol=1e-8)
    np.testing.assert_allclose(out.history, ref.history, rtol=1e-8)


def test_tt_algebra_on_torch_matches_numpy():
    a, b = tk.tt(_data((4, 5, 6, 3), 5), rank=3), tk.tt(_data((4, 5, 6, 3), 6), rank=2)
    ta, tb = a.to("torch"), b.to("torch")
    with gpu_strict():
        results = {
            "sum": (ta + tb).round(rank=4),
            "difference": (ta - 2.0 * tb).orthogonalize(2),
            "hadamard": ta * tb,
            "rounded": (ta + ta).round(tol=1e-10),
        }
        dot = ta.dot(tb)
    refs = {
        "sum": (a + b).round(rank=4),
        "difference": (a - 2.0 * b).orthogonalize(2),
        "hadamard": a * b,
        "rounded": (a + a).round(tol=1e-10),
    }
    for key, out in results.items():
        _assert_torch(out.arrays)
        assert_close(refs[key].to_tensor(), out.to_tensor())
    assert results["rounded"].rank == a.rank
    assert_close(a.dot(b), dot)


@pytest.mark.parametrize("dtype", ["float32", "complex128"])
def test_tucker_and_tt_keep_dtype_on_torch(dtype):
    x = _data(SHAPE, 4, dtype)
    for fit in (lambda d: tk.tucker(d, rank=3, max_iter=3), lambda d: tk.tt(d, rank=3)):
        ref, xt = fit(x), _t(x)
        with gpu_strict():
            out = fit(xt)
        assert all(str(a.dtype) == f"torch.{dtype}" for a in out.arrays)
        assert_close(ref.contract(), out.contract(), rtol=1e-4 if dtype == "float32" else 1e-9)


def test_masked_fit_network_on_torch_matches_numpy():
    x = low_rank_ring(1)
    mask = np.random.default_rng(2).random(SHAPE) < 0.7
    net = Structure.topology("ring", [2, 2, 2]).to_network(SHAPE, 0)
    ref = tk.fit_network(x, net, mask=mask, max_iter=4)
    xt, mt = _t(x), _t(mask)
    with gpu_strict():
        out = tk.fit_network(xt, net, mask=mt, max_iter=4)
    _assert_torch(out.arrays)
    assert_close(ref.contract(), out.contract(), rtol=1e-8)


def test_fit_network_starts_from_a_network_already_on_the_backend():
    x = low_rank_ring(4)
    net = Structure.topology("ring", [2, 2, 2]).to_network(SHAPE, 0)
    ref = tk.fit_network(x, net, max_iter=3)
    xt, nett = _t(x), net.to("torch")
    with backend.watch_transfers() as log:
        out = tk.fit_network(xt, nett, max_iter=3)
    assert log.summary()["h2d"] == 0
    assert_close(ref.contract(), out.contract(), rtol=1e-8)


@needs_cp
def test_cp_on_torch_matches_numpy():
    x = low_rank_ring()
    ref, xt = tk.cp(x, rank=3, max_iter=5), _t(x)
    with gpu_strict():
        out = tk.cp(xt, rank=3, max_iter=5)
    _assert_torch(out.arrays)
    assert_close(ref.to_tensor(), out.to_tensor(), rtol=1e-8)


# ------------------------------------------------------------------------ search and BUG
def _fit_payload(x, sweeps):
    return {
        "x": x,
        "mask": None,
        "options": FitOptions(max_iter=sweeps, restarts=1, tol=0.0, stall=0.0),
        "structure": Structure.topology("ring", [2, 2, 2]),
        "seed": 3,
        "parent": None,
    }


def test_structure_search_evaluation_on_torch_matches_numpy():
    x = low_rank_ring(2)
    ref, out = fit_job(_fit_payload(x, 5)), fit_job(_fit_payload(_t(x), 5))
    assert out["rse"] == pytest.approx(ref["rse"], rel=1e-9)
    assert out["sweeps"] == ref["sweeps"] == 5
    _assert_torch(out["arrays"].values())  # fitted nodes stay on the data's device
    for name, a in ref["arrays"].items():
        assert_close(a, out["arrays"][name], rtol=1e-8)


def test_structure_search_evaluation_copies_no_array_to_the_host():
    xt = _t(low_rank_ring(2))
    with gpu_strict() as log:
        fit_job(_fit_payload(xt, 2))
    assert log.summary()["d2h_arrays"] == 0


def _search_target():
    """A chain of ranks (2, 3, 2) plus noise: greedy grows, scores edges and prunes on it."""
    rng = np.random.default_rng(5)
    x = Structure.from_bonds(4, {(0, 1): 2, (1, 2): 3, (2, 3): 2}).to_network((4,) * 4).contract()
    return x / np.linalg.norm(x) + 1e-3 * rng.standard_normal(x.shape)


def _assert_same_search(ref, out):
    assert out.structure == ref.structure
    assert [h["n_params"] for h in out.history] == [h["n_params"] for h in ref.history]
    np.testing.assert_allclose(
        [h["rse"] for h in out.history], [h["rse"] for h in ref.history], rtol=1e-8
    )
    assert_close(ref.network.contract(), out.network.contract(), rtol=1e-10)


@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
def test_structure_search_keeps_the_input_backend(masked):
    x = _search_target()
    kw = dict(target_rse=1e-2, budget=30, seed=0)
    if masked:
        kw["mask"] = np.random.default_rng(1).random(x.shape) < 0.7
    ref = search.greedy(x, **kw)
    with gpu_strict() as log:
        out = search.greedy(_t(x), **kw)
    _assert_torch(out.network.arrays)
    assert log.summary()["d2h_arrays"] == 0
    _assert_same_search(ref, out)


def test_structure_search_in_worker_processes_returns_to_the_input_backend():
    x = _search_target()
    kw = dict(target_rse=1e-2, budget=30, seed=0)
    ref = search.greedy(x, **kw)
    out = search.greedy(_t(x), workers=2, **kw)
    _assert_torch(out.network.arrays)
    _assert_same_search(ref, out)


def test_structure_search_device_cpu_moves_torch_data_to_numpy():
    x = low_rank_ring(2)
    kw = dict(lam=200, budget=6, seed=0, max_rank=3)
    ref, out = search.tnale(x, **kw), search.tnale(_t(x), device="cpu", **kw)
    assert all(isinstance(a, np.ndarray) for a in out.network.arrays)
    assert out.history == ref.history


def test_structure_search_checkpoints_torch_fits_as_host_records(tmp_path):
    x = _t(low_rank_ring(2))
    kw = dict(lam=200, budget=8, seed=1, max_rank=3)
    log = tmp_path / "run.jsonl"
    cut = search.tnale(x, checkpoint=str(log), progress=lambda st: st["n_evaluations"] >= 4, **kw)
    with gpu_strict():
        resumed = search.tnale(x, checkpoint=str(log), resume=True, **kw)
    full = search.tnale(x, **kw)
    assert cut.n_evaluations < full.n_evaluations and resumed.history == full.history
    _assert_torch(resumed.network.arrays)
    saved = search.SearchResult.load(f"{log}.best.npz")  # .npz + JSON, numpy arrays
    assert saved.structure == resumed.structure


@pytest.mark.parametrize("method", bug.METHODS)
def test_matrix_bug_on_torch_matches_numpy(method):
    op = problems.matrix_schrodinger(20)
    y0 = problems.matrix_initial(20, rank=2, seed=2)
    ref, _ = bug.integrate(op, y0, 0.1, dt=0.05, method=method, tol=1e-8)
    yt = LowRank(*map(_t, y0))
    with gpu_strict():
        out, hist = bug.integrate(op, yt, 0.1, dt=0.05, method=method, tol=1e-8)
    _assert_torch(out)
    assert_close(to_dense(ref), to_dense(out), rtol=1e-10)
    assert hist["time"][-1] == pytest.approx(0.1)


def test_ttn_bug_on_torch_matches_numpy():
    tree = problems.binary_tree(4)
    op, y0 = problems.transverse_field_ising(4), problems.all_up(tree, rank=2)
    ref, _ = bug.integrate(op, y0, 0.1, dt=0.05, method="adaptive", tol=1e-8)
    yt = y0.to("torch")
    with gpu_strict():
        out, _ = bug.integrate(op, yt, 0.1, dt=0.05, method="adaptive", tol=1e-8)
    _assert_torch(out.arrays)
    assert_close(ref.to_tensor(), out.to_tensor(), rtol=1e-10)


# ------------------------------------------------------------------------ transfer audits
def per_sweep_transfers(run, n1=2, n2=4):
    """(per-sweep transfer summary, sweeps done) from runs of ``n1`` and ``n2`` sweeps."""
    logs = []
    for n in (n1, n2):
        with backend.watch_transfers() as log:
            result = run(n)
        logs.append((log.summary(), len(result.history)))
    (a, sa), (b, sb) = logs
    assert sb > sa, "the longer run must do more sweeps"
    return {k: (b[k] - a[k]) / (sb - sa) for k in a}


_RING = Structure.topology("ring", [2, 2, 2])
_MASK = np.random.default_rng(9).random(SHAPE) < 0.5
SWEEPS = {  # name: run(n_sweeps); each sweep may bring one scalar (its error) to the host
    "fit_network": lambda x, n: tk.fit_network(
        x, _RING.to_network(SHAPE, 0), max_iter=n, tol=0, stall=0
    ),
    "tucker-hooi": lambda x, n: tk.tucker(x, rank=2, max_iter=n, stop_tol=-1.0),
    "tucker-nonnegative": lambda x, n: tk.tucker(
        x * x, rank=2, nonnegative=True, max_iter=n, stop_tol=None
    ),
    "tr-als": lambda x, n: tk.tr(x, rank=2, max_iter=n, improvement_tol=0.0),
    "tr-als-masked": lambda x, n: tk.tr(x, rank=2, mask=_t(_MASK), max_iter=n, improvement_tol=0.0),
    "tt-masked": lambda x, n: tk.tt(x, rank=2, mask=_t(_MASK), max_iter=n, improvement_tol=0.0),
    "tt-sparse": lambda x, n: tk.tt(
        SparseTensor.from_dense(x, mask=_t(_MASK)), rank=1, max_iter=n, improvement_tol=0.0
    ),
    "tucker-sparse": lambda x, n: tk.tucker(
        SparseTensor.from_dense(x), rank=2, max_iter=n, stop_tol=None
    ),
    "tucker-sparse-missing": lambda x, n: tk.tucker(
        SparseTensor.from_dense(x, mask=_t(_MASK)), rank=2, max_iter=n, stop_tol=None
    ),
    "tr-sparse": lambda x, n: tk.tr(
        SparseTensor.from_dense(x, mask=_t(_MASK)), rank=1, max_iter=n, improvement_tol=0.0
    ),
    "fit_network-masked": lambda x, n: tk.fit_network(
        x, _RING.to_network(SHAPE, 0), max_iter=n, tol=0, stall=0, mask=_t(_MASK)
    ),
    "tr-of-a-ring": lambda x, n: tk.tr(
        tk.tr(x, rank=2, method="svd") * 1.5, rank=1, init="random", max_iter=n, improvement_tol=0.0
    ),
}
if HAS_CP:  # with the line search: the trial's verdict rides on the same scalar
    SWEEPS["cp-als"] = lambda x, n: tk.cp(x, rank=3, max_iter=n, stop_tol=None)
    SWEEPS["cp-sparse-missing"] = lambda x, n: tk.cp(
        SparseTensor.from_dense(x, mask=_t(_MASK)), rank=3, max_iter=n, stop_tol=None
    )
    SWEEPS["cp-nonnegative"] = lambda x, n: tk.cp(
        x * x, rank=3, nonnegative=True, max_iter=n, stop_tol=None
    )


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_als_sweep_copies_no_array_to_the_host(name):
    x = _t(low_rank_ring(3))
    assert per_sweep_transfers(lambda n: SWEEPS[name](x, n))["d2h_arrays"] == 0


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_als_sweep_uploads_nothing_from_the_host(name):
    x = _t(low_rank_ring(3))
    assert per_sweep_transfers(lambda n: SWEEPS[name](x, n))["h2d"] == 0


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_als_sweep_syncs_one_error_norm(name):
    """The goal of issue 7: one scalar (the error) per sweep reaches the host."""
    x = _t(low_rank_ring(3))
    assert per_sweep_transfers(lambda n: SWEEPS[name](x, n))["d2h_scalars"] <= 1


@pytest.mark.parametrize("method", bug.METHODS)
def test_bug_steps_copy_only_rank_decisions_to_the_host(method):
    """Per step: the history's norm and energy (2 scalars); adaptive/parallel also copy the
    singular values of each truncation (1-D, for the rank decision) — never a state array."""
    tree = problems.binary_tree(4)
    op, y0 = problems.transverse_field_ising(4), problems.all_up(tree, rank=2).to("torch")
    logs = []
    for steps in (2, 4):
        with backend.watch_transfers() as log:
            bug.integrate(op, y0, 0.05 * steps, dt=0.05, method=method, tol=1e-8)
        logs.append(log)
    a, b = (log.summary() for log in logs)
    assert (b["d2h_scalars"] - a["d2h_scalars"]) / 2 <= 3
    assert b["h2d"] == a["h2d"]
    assert all(len(e.shape) == 1 for e in logs[1].d2h(scalars=False)), logs[1].d2h(scalars=False)


def test_rejected_parallel_bug_steps_upload_nothing():
    op = problems.matrix_schrodinger(20)
    y0 = LowRank(*map(_t, problems.matrix_initial(20, rank=2, seed=2)))
    uploads, rejected = [], []
    for steps in (2, 4):
        with backend.watch_transfers() as log:
            _, hist = bug.integrate(op, y0, 0.05 * steps, dt=0.05, method="parallel", tol=1e-8)
        uploads.append(log.summary()["h2d"])
        rejected.append(sum(hist["rejected"]))
    assert rejected[1] > rejected[0]  # the last two steps reject, so they pad the bases
    assert uploads[1] == uploads[0]
