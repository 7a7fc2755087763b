"""Tests of the tree tensor network format."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tnkit as tk

TREE = ((0, 1), (2, (3, 4)))


def _random_ttn(tree, dims, rank, seed=0, dtype=complex):
    return tk.TTN.random(
        tree, dims, rank, seed=seed, dtype="complex128" if dtype is complex else "float64"
    )


def test_from_tensor_recovers_a_low_rank_tree_tensor():
    x = _random_ttn(TREE, (3, 4, 3, 2, 3), rank=2, dtype=float).to_tensor()
    t = tk.TTN.from_tensor(x, TREE, tol=1e-10)
    assert np.linalg.norm(t.to_tensor() - x) < 1e-10 * np.linalg.norm(x)
    assert t.max_rank == 2
    assert t.is_orthonormal()
    # a rank cap gives the best-effort truncation, a tolerance bounds the error
    noisy = x + 1e-3 * np.random.default_rng(1).standard_normal(x.shape)
    t2 = tk.TTN.from_tensor(noisy, TREE, tol=0.05)
    assert np.linalg.norm(t2.to_tensor() - noisy) <= 0.05 * np.linalg.norm(noisy)
    assert tk.TTN.from_tensor(noisy, TREE, rank=1).max_rank == 1


def test_product_state_is_padded_with_exact_zeros():
    vecs = [np.array([1.0, 2.0]), np.array([0.0, 1.0, 1.0]), np.ones(2), np.array([3.0, 4.0])]
    p = tk.TTN.product_state(((0, 1), (2, 3)), vecs, rank=2)
    dense = np.einsum("a,b,c,d->abcd", *vecs)
    assert np.abs(p.to_tensor() - dense).max() < 1e-14
    assert p.is_orthonormal() and set(p.rank.values()) == {2}
    root = p["node"]
    assert root[0, 0] == pytest.approx(np.linalg.norm(dense)) and np.count_nonzero(root) == 1


def test_orthonormalize_inner_norm_match_dense():
    a = _random_ttn(TREE, (3, 4, 3, 2, 3), rank=3, seed=1)
    b = _random_ttn(TREE, (3, 4, 3, 2, 3), rank=2, seed=2)
    o = a.orthonormalize()
    assert o.is_orthonormal() and not a.is_orthonormal()
    assert np.linalg.norm(o.to_tensor() - a.to_tensor()) < 1e-12 * np.linalg.norm(a.to_tensor())
    assert np.linalg.norm(o["node"]) == pytest.approx(a.norm(), rel=1e-12)
    assert complex(a.inner(b)) == pytest.approx(np.vdot(a.to_tensor(), b.to_tensor()), rel=1e-12)


def test_tucker_and_matrix_are_special_cases():
    rng = np.random.default_rng(3)
    u, s, v = rng.standard_normal((5, 2)), rng.standard_normal((2, 2)), rng.standard_normal((4, 2))
    m = tk.TTN.from_lowrank(u, s, v)
    assert m.tree == (0, 1) and np.allclose(m.to_tensor(), u @ s @ v.T)
    core, fs = (
        rng.standard_normal((2, 3, 2)),
        [rng.standard_normal((n, r)) for n, r in ((4, 2), (5, 3), (3, 2))],
    )
    t = tk.TTN.from_tucker(core, fs)
    assert np.allclose(t.to_tensor(), np.einsum("abc,ia,jb,kc->ijk", core, *fs))


def test_save_load_round_trip(tmp_path):
    a = _random_ttn(TREE, (3, 4, 3, 2, 3), rank=2)
    a.save(str(tmp_path / "t.npz"))
    b = tk.load(tmp_path / "t.npz")
    assert isinstance(b, tk.TTN) and b.tree == TREE
    assert np.allclose(b.to_tensor(), a.to_tensor())


@pytest.mark.parametrize("tree", [((0, 1), (2, 2)), ((0, 1), 3), ((0,), (1, 2)), (0, "a"), 5])
def test_bad_trees_raise(tree):
    with pytest.raises((ValueError, TypeError)):
        tk.TTN.from_tensor(np.ones((2, 2, 2)), tree)


@st.composite
def _trees(draw):
    n = draw(st.integers(2, 5))
    order = draw(st.permutations(range(n)))

    def split(items):
        if len(items) == 1:
            return items[0]
        k = draw(st.integers(2, min(3, len(items))))
        cuts = sorted(draw(st.sets(st.integers(1, len(items) - 1), min_size=k - 1, max_size=k - 1)))
        parts = [items[a:b] for a, b in zip([0, *cuts], [*cuts, len(items)])]
        return tuple(split(p) for p in parts)

    dims = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    return split(list(order)), dims


@given(_trees(), st.integers(1, 3), st.integers(0, 10))
def test_orthonormalize_and_hsvd_keep_the_tensor(spec, rank, seed):
    tree, dims = spec
    a = tk.TTN.random(tree, dims, rank, seed=seed)
    x = a.to_tensor()
    o = a.orthonormalize()
    assert o.is_orthonormal()
    assert np.allclose(o.to_tensor(), x, atol=1e-12 * max(1.0, np.abs(x).max()))
    h = tk.TTN.from_tensor(x, tree)
    assert np.allclose(h.to_tensor(), x, atol=1e-10 * max(1.0, np.abs(x).max()))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (((0, 1, 2), (2, 2, 2), 0), {}, "rank"),
        (((0, 1, 2), (2, 2, 2), True), {}, "rank"),
        (((0, 1, 2), (2, 0, 2), 2), {}, r"dims\[1\]"),
        (((0, 1, 2), (2, 2, 2), 2), {"seed": -1}, "seed"),
    ],
)
def test_random_names_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tk.TTN.random(*args, **kwargs)
