"""Structure: analytic parameter count, identity up to mode placement, JSON, warm starts."""

import json

import numpy as np
import pytest

from solvers.search import Structure
from solvers.search.objective import grow, shrink


def test_n_params_matches_network():
    s = Structure.topology("ring", (3, 4, 2, 2, 3, 2), (0, 3, 2, 1, 4, 5))
    assert s.n_params((3,) * 6) == 126
    net = s.to_network((3,) * 6, seed=1)
    assert net.n_params == 126
    assert net.open_legs == tuple(f"i{k}" for k in range(6))
    assert net.shape == (3,) * 6


def test_equal_when_modes_see_the_same_ranks():
    a = Structure.topology("ring", (2, 3, 4), (0, 1, 2))
    # the same ring read from another vertex: the mode-level ranks agree
    b = Structure.topology("ring", (3, 4, 2), (1, 2, 0))
    c = Structure.topology("ring", (2, 3, 4), (1, 0, 2))
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert np.array_equal(a.to_network((2, 3, 4), 0)["n1"], b.to_network((2, 3, 4), 0)["n1"])


def test_json_round_trip():
    s = Structure.from_bonds(5, {(0, 1): 5, (1, 2): 2, (2, 3): 5, (1, 4): 2, (2, 4): 2})
    again = Structure.from_json(json.loads(json.dumps(s.to_json())))
    assert again == s and again.n_params((7,) * 5) == 378


def test_grow_and_shrink_keep_the_tensor():
    s = Structure.from_bonds(3, {(0, 1): 2, (1, 2): 2})
    shape = (4, 4, 4)
    net = s.to_network(shape, 0)
    bigger = s.with_rank(0, 1, 3)
    zeros = {"n0": np.zeros(4), "n1": np.zeros((4, 2))}  # slices without the grown bond
    grown = grow(net, bigger, 0, 1, zeros, shape)
    np.testing.assert_allclose(grown.contract(), net.contract(), atol=1e-12)
    back = s.to_network(shape, 0).with_arrays(shrink(grown, s, 0, 1, shape))
    np.testing.assert_allclose(back.contract(), net.contract(), atol=1e-10)


def test_bad_structures():
    with pytest.raises(ValueError, match=">= 1"):
        Structure([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="symmetric"):
        Structure([[1, 2], [3, 1]])
    with pytest.raises(ValueError, match="permutation"):
        Structure([[1, 2], [2, 1]], perm=(0, 0))
    with pytest.raises(ValueError, match="topology"):
        Structure.topology("star", (2, 2, 2))
    with pytest.raises(ValueError, match="shape"):
        Structure.from_bonds(3, {(0, 1): 2}).to_network((2, 2))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: Structure([[1, 2], [2]]), ValueError, "ranks"),
        (lambda: Structure([[True, True], [True, True]]), TypeError, "ranks"),
        (lambda: Structure([["a", "b"], ["b", "a"]]), TypeError, "ranks"),
        (lambda: Structure([[1, 2], [2, 1]], perm="ab"), TypeError, "perm"),
        (lambda: Structure([[1, 2], [2, 1]], perm=[0.5, 1]), ValueError, r"perm\[0\]"),
        (lambda: Structure.from_bonds(3, {(0, 5): 2}), ValueError, "bonds"),
        (lambda: Structure.from_bonds(3, {(1, 1): 2}), ValueError, "bonds"),
        (lambda: Structure.from_bonds(3, {(0, 1): 0}), ValueError, "bonds"),
        (lambda: Structure.from_bonds(0, {}), ValueError, "n must be"),
        (lambda: Structure.from_bonds(3, [(0, 1)]), TypeError, "bonds"),
        (lambda: Structure.topology("full", [2, 2]), ValueError, "values"),
        (lambda: Structure.topology("ring", [2, 2]), ValueError, "values"),
        (lambda: Structure.topology("ring", [2, 2, 2]).with_rank(0, 5, 2), ValueError, "u, v"),
        (lambda: Structure.topology("ring", [2, 2, 2]).with_rank(0, 0, 2), ValueError, "u, v"),
        (lambda: Structure.topology("ring", [2, 2, 2]).with_rank(0, 1, 0), ValueError, "rank"),
        (lambda: Structure.topology("ring", [2, 2, 2]).n_params((3, 3)), ValueError, "shape"),
        (lambda: Structure.topology("ring", [2, 2, 2]).n_params(3), TypeError, "shape"),
        (lambda: Structure.from_json({"x": 1}), ValueError, "record"),
    ],
)
def test_bad_structures_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
