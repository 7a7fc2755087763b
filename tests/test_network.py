import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tnkit as tk


def _random_network(draw_data, n_nodes, n_labels, rng):
    """A random network over labels a, b, c...: each node gets 1-4 labels (repeats = traces)."""
    labels = [chr(ord("a") + k) for k in range(n_labels)]
    dims = {g: int(rng.integers(1, 4)) for g in labels}
    net = tk.TensorNetwork()
    for n in range(n_nodes):
        legs = list(rng.choice(labels, size=int(rng.integers(1, 5))))
        net.add_node(f"N{n}", rng.standard_normal([dims[g] for g in legs]), legs)
    return net


@given(st.integers(1, 6), st.integers(1, 7), st.integers(0, 10_000))
def test_contract_equals_numpy_einsum(n_nodes, n_labels, seed):
    rng = np.random.default_rng(seed)
    net = _random_network(None, n_nodes, n_labels, rng)
    eq = net.equation()
    ref = np.einsum(eq, *net.arrays) if len(set(eq)) < 53 else None
    np.testing.assert_allclose(net.contract(), ref, rtol=1e-10, atol=1e-10)


def test_hyper_bond_and_trace_classification():
    rng = np.random.default_rng(0)
    net = tk.TensorNetwork()
    net.add_node("A", rng.standard_normal((2, 3)), ("i", "r"))
    net.add_node("B", rng.standard_normal((4, 3)), ("j", "r"))
    net.add_node("C", rng.standard_normal((5, 3)), ("k", "r"))
    net.add_node("D", rng.standard_normal((6, 6, 2)), ("t", "t", "b"))
    net.add_node("E", rng.standard_normal((2,)), ("b",))
    assert net.open_legs == ("i", "j", "k")
    assert net.hyper_bonds == ("r",)
    assert net.bonds == ("b",)
    assert net.traces == ("t",)
    ref = np.einsum("ir,jr,kr,ttb,b->ijk", *net.arrays)
    np.testing.assert_allclose(net.contract(), ref, rtol=1e-12)
    np.testing.assert_allclose(net.contract(output="kji"), ref.transpose(2, 1, 0), rtol=1e-12)


def _chain(rng, dtype=np.float64):
    net = tk.TensorNetwork()
    net.add_node("A", rng.standard_normal((3, 4, 5)).astype(dtype), ("i", "j", "b"))
    net.add_node("B", rng.standard_normal((5, 6, 2)).astype(dtype), ("b", "k", "c"))
    net.add_node("C", rng.standard_normal((2, 3)).astype(dtype), ("c", "l"))
    return net


@pytest.mark.parametrize("absorb", ["both", "left", "right", None])
def test_split_full_rank_reproduces_node(absorb):
    net = _chain(np.random.default_rng(1))
    split = net.split_node("B", ["b"], ["k", "c"], absorb=absorb)
    merged = split.contract_nodes("B_L", "B_R") if absorb else None
    dense = net.contract()
    assert np.linalg.norm(split.contract() - dense) <= 1e-12 * np.linalg.norm(dense)
    if merged is not None:
        assert set(merged.nodes) == {"A", "B_L", "C"}


def test_split_truncation_error_is_discarded_singular_values():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 7, 8))
    net = tk.TensorNetwork().add_node("X", a, ("i", "j", "k"))
    s = np.linalg.svd(a.reshape(6, 56), compute_uv=False)
    for rank in (1, 3, 5):
        split, err = net.split_node("X", ["i"], rank=rank, return_error=True)
        assert err == pytest.approx(np.sqrt(np.sum(s[rank:] ** 2)), rel=1e-12)
        assert np.linalg.norm(split.contract() - a) == pytest.approx(err, rel=1e-10)
    split, err = net.split_node("X", ["i", "j"], tol=0.3, return_error=True)
    assert err <= 0.3 * np.linalg.norm(a)


def test_split_qr_is_exact():
    net = _chain(np.random.default_rng(3))
    q = net.split_node("A", ["i", "j"], method="qr", names=("Q", "R"))
    np.testing.assert_allclose(q.contract(), net.contract(), rtol=1e-12, atol=1e-12)
    qm = q["Q"].reshape(12, -1)
    np.testing.assert_allclose(qm.T @ qm, np.eye(qm.shape[1]), atol=1e-12)


def test_complex_norm_inner_conj():
    rng = np.random.default_rng(4)
    net = _chain(rng, np.complex128)
    net = net.with_arrays({"A": net["A"] * (1 + 2j)})
    dense = net.contract()
    assert net.norm() == pytest.approx(np.linalg.norm(dense), rel=1e-12)
    other = _chain(np.random.default_rng(5), np.complex128)
    assert complex(net.inner(other)) == pytest.approx(np.vdot(dense, other.contract()), rel=1e-12)
    np.testing.assert_allclose(net.conj().contract(), dense.conj(), rtol=1e-12)


def test_fuse_and_rename_legs():
    net = _chain(np.random.default_rng(6))
    fused = net.fuse_legs(["i", "j"], "ij")
    np.testing.assert_allclose(fused.contract(), net.contract().reshape(12, 6, 3), rtol=1e-12)
    bond = net.fuse_legs(["b"], "bb")
    np.testing.assert_allclose(bond.contract(), net.contract(), rtol=1e-12)
    renamed = net.rename_legs({"i": "x"})
    assert renamed.open_legs == ("x", "j", "k", "l")


def test_numpy_and_torch_agree():
    torch = pytest.importorskip("torch")
    net = _chain(np.random.default_rng(7))
    tnet = net.to("torch")
    assert tnet.backend == "torch"
    assert isinstance(tnet.contract(), torch.Tensor)
    np.testing.assert_allclose(tnet.contract().numpy(), net.contract(), rtol=1e-12)
    assert tnet.norm() == pytest.approx(net.norm(), rel=1e-12)
    split, err = tnet.split_node("B", ["b"], rank=2, return_error=True)
    nsplit, nerr = net.split_node("B", ["b"], rank=2, return_error=True)
    assert err == pytest.approx(nerr, rel=1e-10)
    np.testing.assert_allclose(split.contract().numpy(), nsplit.contract(), rtol=1e-10)
    assert tnet.to("numpy").backend == "numpy"


def test_contract_plan_is_cached_and_refreshed_on_shape_change():
    net = _chain(np.random.default_rng(8))
    first = net.contract()
    assert len(net._plans) == 1
    net.set_array("A", net["A"] * 2)
    np.testing.assert_allclose(net.contract(), 2 * first)
    with pytest.raises(ValueError, match="leg 'b' of node 'A'"):
        net.set_array("A", np.ones((3, 4, 7)))
    np.testing.assert_allclose(net.contract(), 2 * first)


def test_memory_limit_slices_or_raises():
    rng = np.random.default_rng(9)
    net = tk.TensorNetwork()
    for name, legs in (("A", "ab"), ("B", "bc"), ("C", "cd"), ("D", "da")):
        net.add_node(name, rng.standard_normal((8, 8)), tuple(legs))
    ref = net.contract()
    assert net.path_info().largest_intermediate * 8 > 300
    np.testing.assert_allclose(net.contract(memory_limit=300), ref, rtol=1e-12)
    with pytest.raises(MemoryError, match="memory_limit"):
        tk.contract.einsum(net.equation(), *net.arrays, memory_limit=8, on_exceed="raise")


def test_summary_and_repr():
    net = _chain(np.random.default_rng(10))
    text = net.summary()
    assert "parameters: 126" in text and "b=5" in text
    assert "n_params=126" in repr(net)
    assert net.n_params == 60 + 60 + 6
    assert net.shape == (3, 4, 6, 3) and net.bond_dims == {"b": 5, "c": 2}


def test_notebook_html_shows_the_summary_escaped():
    net = _chain(np.random.default_rng(10))
    page = net._repr_html_()
    assert page.count("<tr>") == len(net) + 1 and "parameters: 126" in page
    fit = tk.tt(np.random.default_rng(0).standard_normal((4, 5, 6)), tol=0.5)
    fit.history = [0.5, 0.25]
    assert "fit: 2 sweeps, relative error 0.25" in fit._repr_html_()
    odd = tk.TensorNetwork()
    odd.add_node("<A&B>", np.ones((2, 3)), ("i", "j"))
    assert "&lt;A&amp;B&gt;" in odd._repr_html_() and "<A&B>" not in odd._repr_html_()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda n: n.add_node("A", np.ones(2), ("z",)), "already exists"),
        (lambda n: n.add_node("Z", np.ones((2, 2)), ("i",)), "2 axes but 1 legs"),
        (lambda n: n.add_node("Z", np.ones((9,)), ("b",)), "leg 'b' of node 'Z' has dimension 9"),
        (lambda n: n.add_node("Z", np.ones((2, 3)), ("q", "q")), "in itself"),
        (lambda n: n.add_node("Z", "text", ("q",)), "numpy, torch or cupy"),
        (lambda n: n.remove_node("nope"), "no node named 'nope'"),
        (lambda n: n.split_node("A", ["x"]), "partition the legs"),
        (lambda n: n.split_node("A", ["i"], method="lu"), "method must be one of"),
        (lambda n: n.split_node("A", ["i"], method="qr", rank=2), "does not truncate"),
        (lambda n: n.rename_legs({"nope": "x"}), "no legs named"),
        (lambda n: n.contract(output=["zz"]), "not in the network"),
        (lambda n: n.fuse_legs(["i", "k"], "ik"), "carries only"),
        (lambda n: n.to("jax"), "backend must be one of"),
        (lambda n: n.inner(3), "must be a TensorNetwork"),
    ],
)
def test_bad_input_is_named(call, match):
    net = _chain(np.random.default_rng(11))
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        call(net)


def test_empty_network_cannot_contract():
    with pytest.raises(ValueError, match="empty network"):
        tk.TensorNetwork().contract()


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda n: n.add_node("Z", np.array([[1.0, np.nan]]), ("p", "q")), ValueError, "NaN"),
        (lambda n: n.add_node("Z", np.empty((2, 2), dtype=object), ("p", "q")), TypeError, "'Z'"),
        (lambda n: n.add_node("Z", np.array(["a", "b"]), ("p",)), TypeError, "'Z'"),
        (lambda n: n.add_node("Z", np.ones((0, 2)), ("p", "q")), ValueError, "empty axis"),
        (lambda n: n.add_node("Z", np.ones(2), None), TypeError, "legs"),
        (lambda n: n.add_node("Z", np.ones(2), 5), TypeError, "legs"),
        (lambda n: n.set_array("A", np.full((3, 4, 5), np.inf)), ValueError, "NaN or Inf"),
        (lambda n: n.contract(output=5), TypeError, "output"),
        (lambda n: n.contract(output=("i", "i", "j", "k", "l")), ValueError, "output"),
        (lambda n: n.contract(optimize="bogus"), ValueError, "optimize"),
        (lambda n: n.contract(optimize=5), TypeError, "optimize"),
        (lambda n: n.contract(memory_limit=True), TypeError, "memory_limit"),
        (lambda n: n.contract(memory_limit=float("nan")), ValueError, "memory_limit"),
        (lambda n: n.path_info(optimize="bogus"), ValueError, "optimize"),
        (lambda n: n.split_node("A", 5), TypeError, "left_legs"),
        (lambda n: n.split_node("A", ["i"], rank=True), ValueError, "rank"),
        (lambda n: n.split_node("A", ["i"], rank="2"), ValueError, "rank"),
        (lambda n: n.split_node("A", ["i"], tol="a"), ValueError, "tol"),
        (lambda n: n.split_node("A", ["i"], tol=float("nan")), ValueError, "tol"),
        (lambda n: n.split_node("A", ["i"], bond="k"), ValueError, "bond"),
        (lambda n: n.split_node("A", ["i"], bond=5), TypeError, "bond"),
        (lambda n: n.split_node("A", ["i"], names=("B", "C")), ValueError, "names"),
        (lambda n: n.split_node("A", ["i"], names=("X",)), ValueError, "names"),
        (lambda n: n.split_node("A", ["i"], names=("X", "X")), ValueError, "names"),
        (lambda n: n.contract_nodes("A", "B", name=5), TypeError, "name"),
        (lambda n: n.fuse_legs([], "m"), ValueError, "legs"),
        (lambda n: n.fuse_legs(["i", "i"], "m"), ValueError, "legs"),
        (lambda n: n.fuse_legs(["i", "j"], 5), TypeError, "new_label"),
        (lambda n: n.rename_legs(["i"]), TypeError, "mapping"),
        (lambda n: n.rename_legs({"i": 5}), TypeError, "mapping"),
        (lambda n: n.with_arrays([1]), TypeError, "arrays"),
        (lambda n: n.with_arrays({"A": "abc"}), TypeError, "arrays"),
        (lambda n: n.to("numpy", device="cuda"), ValueError, "device"),
        (lambda n: n.astype("int32"), ValueError, "dtype"),
        (lambda n: n.scale("a"), TypeError, "factor"),
        (lambda n: n.scale(float("nan")), ValueError, "factor"),
        (lambda n: n.scale(np.ones(3)), TypeError, "factor"),
        (lambda n: n.remove_node(5), TypeError, "node names"),
        (lambda n: n.copy(deep="x"), TypeError, "deep"),
    ],
)
def test_bad_input_raises_named_errors(call, exc, match):
    net = _chain(np.random.default_rng(12))
    with pytest.raises(exc, match=match):
        call(net)


def test_nodes_must_share_one_array_library():
    torch = pytest.importorskip("torch")
    net = _chain(np.random.default_rng(13))
    with pytest.raises(TypeError, match="torch array but the network holds numpy"):
        net.add_node("D", torch.ones(3, 2, dtype=torch.float64), ("l", "z"))
    with pytest.raises(TypeError, match="node 'A'"):
        net.set_array("A", torch.ones(3, 4, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match="other holds torch arrays"):
        net.inner(net.to("torch"))


def test_friendly_inputs_still_work():
    net = _chain(np.random.default_rng(14))
    assert net.astype(np.float32).dtype == np.float32
    ints = tk.TensorNetwork().add_node("A", np.arange(4).reshape(2, 2), ("a", "b"))
    assert ints.dtype == np.float64
    x = net.contract(memory_limit=float("inf"))
    np.testing.assert_allclose(x, net.contract())


@pytest.mark.parametrize(
    "call", [lambda n: n.scale(2.0), lambda n: n.dtype, lambda n: n.path_info()]
)
def test_empty_network_errors_are_value_errors(call):
    with pytest.raises(ValueError, match="empty network"):
        call(tk.TensorNetwork())
