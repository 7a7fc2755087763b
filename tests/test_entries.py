"""TensorNetwork.entries: values at listed multi-indices, checked against the dense tensor."""

import numpy as np
import pytest

import tnkit as tk

rng = np.random.default_rng(7)
X = rng.standard_normal((5, 6, 4, 7))


def _rows(shape, m, seed=0):
    g = np.random.default_rng(seed)
    return np.stack([g.integers(0, n, m) for n in shape], axis=1)


@pytest.mark.parametrize(
    "model",
    [
        tk.cp(X, 3, max_iter=5),
        tk.tucker(X, rank=[2, 3, 2, 3]),
        tk.tt(X, rank=3),
        tk.tr(X, rank=2, max_iter=3),
        tk.TTN.random(((0, 1), (2, 3)), X.shape, 3, seed=1),
    ],
    ids=["cp", "tucker", "tt", "tr", "ttn"],
)
def test_every_format_matches_its_dense_tensor(model):
    dense = tk.backend.to_numpy(model.to_tensor())
    idx = _rows(X.shape, 500)
    got = model.entries(idx)
    np.testing.assert_allclose(got, dense[tuple(idx.T)], rtol=1e-12, atol=1e-12)
    # numpy's tuple convention gives the same values
    np.testing.assert_allclose(model.entries(tuple(idx.T)), got, rtol=0, atol=0)


def test_network_with_two_open_legs_on_a_node_a_hyper_bond_and_a_trace():
    net = tk.TensorNetwork()
    net.add_node("A", rng.standard_normal((3, 4, 2, 5, 5)), ["i", "j", "h", "t", "t"])
    net.add_node("B", rng.standard_normal((2, 6)), ["h", "k"])
    net.add_node("C", rng.standard_normal((2,)), ["h"])
    net.add_node("D", rng.standard_normal((2, 3)), ["h", "b"])
    net.add_node("E", rng.standard_normal((3,)), ["b"])  # no open leg at all
    dense = net.contract()
    idx = _rows(net.shape, 300, seed=3)
    np.testing.assert_allclose(net.entries(idx), dense[tuple(idx.T)], rtol=1e-12, atol=1e-13)


def test_chunks_give_the_same_values():
    tt = tk.tt(X, rank=3)
    idx = _rows(X.shape, 1000, seed=4)
    whole = tt.entries(idx)
    np.testing.assert_allclose(tt.entries(idx, memory_limit=2000), whole, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(tt.entries(idx, memory_limit=1), whole, rtol=1e-14, atol=1e-14)


def test_lists_empty_input_and_complex_values():
    tt = tk.tt(X, rank=3)
    dense = tt.to_tensor()
    assert tt.entries([[1, 2, 3, 4]])[0] == pytest.approx(dense[1, 2, 3, 4], abs=1e-13)
    assert tt.entries(np.zeros((0, 4), np.int64)).shape == (0,)
    z = tt.astype("complex128").scale(1j)
    assert z.entries([[1, 2, 3, 4]])[0] == pytest.approx(1j * dense[1, 2, 3, 4], abs=1e-13)


def test_torch_network_gives_torch_values_from_numpy_or_torch_indices():
    torch = pytest.importorskip("torch")
    tt = tk.tt(X, rank=3)
    idx = _rows(X.shape, 200, seed=5)
    want = tt.entries(idx)
    on_torch = tt.to("torch")
    for index in (idx, torch.as_tensor(idx), tuple(torch.as_tensor(c) for c in idx.T)):
        got = on_torch.entries(index)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    ("indices", "error", "message"),
    [
        (np.zeros((3, 3), np.int64), ValueError, r"shape \(m, 4\)"),
        (np.zeros(4, np.int64), ValueError, r"shape \(m, 4\)"),
        (np.zeros((3, 4)), TypeError, "must hold integers"),
        ("abc", TypeError, "integer array"),
        (np.array([[0, 0, 0, 7]]), ValueError, r"open leg 3 must lie in 0..6"),
        (np.array([[0, -1, 0, 0]]), ValueError, r"open leg 1 must lie in 0..5"),
        ((np.zeros(3, np.int64),) * 3, ValueError, "4 index arrays"),
        ((np.zeros(3, np.int64),) * 3 + (np.zeros(2, np.int64),), ValueError, "one length"),
    ],
)
def test_bad_indices_are_named(indices, error, message):
    with pytest.raises(error, match=message):
        tk.tt(X, rank=2).entries(indices)


def test_networks_without_entries_raise():
    with pytest.raises(ValueError, match="empty network"):
        tk.TensorNetwork().entries([[0]])
    closed = tk.TensorNetwork()
    closed.add_node("A", np.ones((2, 3)), ["a", "b"])
    closed.add_node("B", np.ones((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="no open legs"):
        closed.entries(np.zeros((1, 0), np.int64))
    with pytest.raises(ValueError, match="memory_limit"):
        tk.tt(X, rank=2).entries([[0, 0, 0, 0]], memory_limit=0)
