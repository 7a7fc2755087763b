"""fit_network: ALS on any topology, with and without a mask."""

import numpy as np
import pytest

import tnkit as tk
from tnkit.decompose.network import fit_network


def triangle_with_pendant(rng, n=5, dtype=float):
    """Triangle A-B-C plus pendant D on C (a non-chain, non-tree topology)."""

    def draw(*shape):
        a = rng.standard_normal(shape)
        if np.dtype(dtype).kind == "c":
            a = a + 1j * rng.standard_normal(shape)
        return a.astype(dtype)

    net = tk.TensorNetwork()
    net.add_node("A", draw(n, 3, 2), ("i0", "ab", "ac"))
    net.add_node("B", draw(n, 3, 2), ("i1", "ab", "bc"))
    net.add_node("C", draw(n, 2, 2, 3), ("i2", "ac", "bc", "cd"))
    net.add_node("D", draw(n, 3), ("i3", "cd"))
    return net


def chain(rng, n=8, r=2, order=4):
    net = tk.TensorNetwork()
    for k in range(order):
        legs = ([f"b{k}"] if k else []) + [f"i{k}"] + ([f"b{k + 1}"] if k < order - 1 else [])
        shape = [r if g.startswith("b") else n for g in legs]
        net.add_node(f"c{k}", rng.standard_normal(shape), legs)
    return net


@pytest.mark.parametrize("seed", [1, 2])
def test_recovers_triangle_with_pendant(seed):
    # ALS on a loop can stall in a local minimum: like CP-ALS, allow up to 5 random restarts
    rng = np.random.default_rng(seed)
    x = triangle_with_pendant(rng).contract()
    x /= np.linalg.norm(x)
    shape = triangle_with_pendant(rng)
    for restart in range(5):
        fitted = fit_network(x, shape, max_iter=300, tol=1e-9, init="random", seed=100 + restart)
        if fitted.history[-1] <= 1e-6:
            break
    err = np.linalg.norm(fitted.contract() - x) / np.linalg.norm(x)
    assert err <= 1e-6
    assert fitted.history[-1] == pytest.approx(err, rel=1e-6, abs=1e-12)
    assert fitted.nodes == ("A", "B", "C", "D")


def test_complex_triangle():
    rng = np.random.default_rng(3)
    x = triangle_with_pendant(rng, n=4, dtype=complex).contract()
    start = triangle_with_pendant(rng, n=4, dtype=complex)
    fitted = fit_network(x, start, max_iter=600, tol=1e-9, stall=0)
    assert np.linalg.norm(fitted.contract() - x) / np.linalg.norm(x) <= 1e-6


def test_history_decreases_and_matches_dense_error():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 5, 5, 5))
    fitted = fit_network(x, triangle_with_pendant(rng), max_iter=15, stall=0)
    h = np.array(fitted.history)
    assert len(h) == 15 and np.all(np.diff(h) <= 1e-12)
    err = np.linalg.norm(fitted.contract() - x) / np.linalg.norm(x)
    assert h[-1] == pytest.approx(err, rel=1e-9)


def test_completion_of_low_rank_tt():
    rng = np.random.default_rng(5)
    x = chain(rng).contract()
    mask = rng.random(x.shape) < 0.3
    fitted = fit_network(x, chain(rng), mask=mask, max_iter=500, tol=1e-12, stall=0)
    y = fitted.contract()
    missing = np.linalg.norm((y - x)[~mask]) / np.linalg.norm(x[~mask])
    assert missing <= 1e-4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(mask=3), "mask must be an array"),
        (dict(init="random", seed=-1), "seed"),
        (dict(init="random", seed=True), "seed"),
        (dict(ridge=float("nan")), "ridge"),
        (dict(stall="a"), "stall"),
        (dict(progress=5), "progress"),
    ],
)
def test_bad_options_are_named(kwargs, match):
    x = np.random.default_rng(0).random((4, 5, 6))
    with pytest.raises((TypeError, ValueError), match=match):
        fit_network(x, tk.tt(x, rank=2), **kwargs)


def test_nan_at_unobserved_entries_is_ignored():
    rng = np.random.default_rng(3)
    x = chain(rng).contract()
    mask = rng.random(x.shape) < 0.5
    start = chain(np.random.default_rng(4))
    a = fit_network(np.where(mask, x, np.nan), start, mask=mask, max_iter=5, stall=0)
    b = fit_network(np.where(mask, x, 0.0), start, mask=mask, max_iter=5, stall=0)
    np.testing.assert_array_equal(a.contract(), b.contract())
    with pytest.raises(ValueError, match="x has NaN or Inf entries where mask is True"):
        fit_network(np.where(mask, np.nan, x), start, mask=mask)
    with pytest.raises(ValueError, match="x"):
        fit_network(np.where(mask, x, np.nan), start)


def test_masked_with_full_mask_equals_unmasked():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 8, 8, 8))
    start = chain(rng)
    a = fit_network(x, start, max_iter=5, stall=0)
    b = fit_network(x, start, max_iter=5, stall=0, mask=np.ones(x.shape, bool))
    np.testing.assert_allclose(a.history, b.history, rtol=1e-8)


def test_only_selected_nodes_change_and_random_init():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 5, 5, 5))
    start = triangle_with_pendant(rng)
    fitted = fit_network(x, start, max_iter=3, nodes=("A", "D"))
    assert np.array_equal(fitted["B"], start["B"]) and np.array_equal(fitted["C"], start["C"])
    assert not np.array_equal(fitted["A"], start["A"])
    r1 = fit_network(x, start, max_iter=3, init="random", seed=3)
    r2 = fit_network(x, start, max_iter=3, init="random", seed=3)
    assert r1.history == r2.history


def test_keeps_subclass_and_options():
    class MyNet(tk.TensorNetwork):
        pass

    rng = np.random.default_rng(8)
    net = MyNet()
    base = chain(rng, order=3)
    for name in base.nodes:
        net.add_node(name, base[name], base.legs(name))
    fitted = fit_network(base.contract(), net, max_iter=200, tol=1e-10)
    assert type(fitted) is MyNet
    assert fitted.options["max_iter"] == 200 and fitted.history[-1] <= 1e-10


def test_progress_callable_gets_each_sweep():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 8, 8, 8))
    seen = []
    fitted = fit_network(x, chain(rng), max_iter=4, stall=0, progress=lambda s, e: seen.append(s))
    assert seen == [0, 1, 2, 3] and len(fitted.history) == 4


def test_bad_inputs():
    rng = np.random.default_rng(10)
    net = chain(rng)
    x = net.contract()
    with pytest.raises(ValueError, match="open legs"):
        fit_network(x[..., 0], net)
    with pytest.raises(ValueError, match="shape"):
        fit_network(np.ones((8, 8, 8, 7)), net)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_network(bad, net)
    with pytest.raises(ValueError, match="mask"):
        fit_network(x, net, mask=np.ones((8, 8, 8)))
    with pytest.raises(ValueError, match="no entry"):
        fit_network(x, net, mask=np.zeros(x.shape))
    with pytest.raises(ValueError, match="max_iter"):
        fit_network(x, net, max_iter=0)
    with pytest.raises(ValueError, match="tol"):
        fit_network(x, net, tol=1.5)
    with pytest.raises(ValueError, match="init"):
        fit_network(x, net, init="svd")
    with pytest.raises(ValueError, match="nodes"):
        fit_network(x, net, nodes=("zz",))
    with pytest.raises(ValueError, match="zero"):
        fit_network(np.zeros(x.shape), net)
    with pytest.raises(TypeError, match="net"):
        fit_network(x, "net")


def test_public_name():
    assert tk.fit_network is fit_network


def test_tucker_network_from_a_random_start_fits_to_round_off():
    """The core's normal equations are a Kronecker product of the factors' Grams: the leaf QR
    gauge keeps them well conditioned (without it: 1.4e-4, then 8.2e-3, then a stop)."""
    rng = np.random.default_rng(0)
    shape, ranks = (7, 7, 7, 7, 7), (2, 3, 4, 3, 2)
    factors = [rng.standard_normal((n, r)) for n, r in zip(shape, ranks)]
    x = tk.Tucker(rng.standard_normal(ranks), factors).to_tensor()
    x /= np.linalg.norm(x)
    start = tk.Tucker(rng.standard_normal(ranks), [rng.standard_normal(f.shape) for f in factors])
    fit = fit_network(x, start, max_iter=50, tol=1e-10, stall=0)
    assert fit.history[-1] <= 1e-10 and len(fit.history) <= 5
    np.testing.assert_allclose(fit.contract(), x, atol=1e-9)
