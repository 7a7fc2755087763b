"""TR arithmetic (shared with TT): +, -, scalar and Hadamard *, dot/inner/norm against the
dense tensors; TT and TR operands together; rounding a sum; bad operands."""

import numpy as np
import pytest

from tnkit.formats.tr import TR
from tnkit.formats.tt import TT


def ring(shape, ranks, seed=0, dtype=float):
    rng = np.random.default_rng(seed)
    cores = []
    for k, n in enumerate(shape):
        g = rng.standard_normal((ranks[k - 1], n, ranks[k]))
        if dtype is complex:
            g = g + 1j * rng.standard_normal(g.shape)
        cores.append(g)
    return TR(cores)


def train(shape, ranks, seed=0):
    rng = np.random.default_rng(seed)
    r = (1, *ranks, 1)
    return TT([rng.standard_normal((r[k], n, r[k + 1])) for k, n in enumerate(shape)])


def close(got, want):
    """Relative Frobenius distance <= 1e-10."""
    got = np.asarray(got)
    assert np.linalg.norm(got - want) <= 1e-10 * np.linalg.norm(want)


SHAPE = (3, 4, 2, 3)


@pytest.mark.parametrize("dtype", [float, complex])
def test_sum_difference_negation_and_scalars(dtype):
    a, b = ring(SHAPE, (2, 3, 1, 2), 1, dtype), ring(SHAPE, (3, 1, 2, 2), 2, dtype)
    xa, xb = a.to_tensor(), b.to_tensor()
    s = a + b
    assert isinstance(s, TR) and s.rank == (5, 4, 3, 4)
    close(s.to_tensor(), xa + xb)
    close((a - b).to_tensor(), xa - xb)
    close((-a).to_tensor(), -xa)
    close((2.5 * a).to_tensor(), 2.5 * xa)
    close((a * (1 - 2j)).to_tensor(), (1 - 2j) * xa)
    close((a * np.float32(3)).to_tensor(), 3 * xa)
    assert (a + b).history == [] and (-a).rank == a.rank


@pytest.mark.parametrize("dtype", [float, complex])
def test_hadamard_product(dtype):
    a, b = ring(SHAPE, (2, 3, 1, 2), 3, dtype), ring(SHAPE, (3, 1, 2, 2), 4, dtype)
    h = a * b
    assert isinstance(h, TR) and h.rank == (6, 3, 2, 4)
    close(h.to_tensor(), a.to_tensor() * b.to_tensor())


@pytest.mark.parametrize("dtype", [float, complex])
def test_dot_inner_norm(dtype):
    a, b = ring(SHAPE, (2, 3, 1, 2), 5, dtype), ring(SHAPE, (3, 1, 2, 2), 6, dtype)
    xa, xb = a.to_tensor(), b.to_tensor()
    want = np.vdot(xa, xb)  # conjugates a
    assert abs(a.dot(b) - want) <= 1e-10 * abs(want)
    assert abs(a.inner(b) - want) <= 1e-10 * abs(want)
    assert a.norm() == pytest.approx(np.linalg.norm(xa), rel=1e-10)
    assert (a - a).norm() <= 1e-6 * a.norm()  # sqrt of a cancelled square: ~sqrt(eps)
    two = ring((4, 5), (3, 2), 7, dtype)
    assert two.norm() == pytest.approx(np.linalg.norm(two.to_tensor()), rel=1e-10)


def test_tt_operand_is_a_ring_with_closing_bond_one():
    a, t = ring(SHAPE, (2, 3, 1, 2), 8), train(SHAPE, (2, 2, 3), 9)
    xa, xt = a.to_tensor(), t.to_tensor()
    for got, want in [
        (a + t, xa + xt),
        (t + a, xt + xa),
        (t - a, xt - xa),
        (a * t, xa * xt),
        (t * a, xt * xa),
    ]:
        assert isinstance(got, TR)
        close(got.to_tensor(), want)
    assert (a + t).rank == (4, 5, 4, 3)  # (2, 3, 1, 2) + (2, 2, 3, 1): closing bond 2 + 1
    assert t.dot(a) == pytest.approx(np.sum(xt * xa), rel=1e-10)
    assert a.inner(t) == pytest.approx(np.sum(xa * xt), rel=1e-10)
    assert isinstance(t + t, TT) and isinstance(t * t, TT)  # two TTs stay a TT


def test_torch_arithmetic_matches_numpy():
    torch = pytest.importorskip("torch")
    a, b = ring(SHAPE, (2, 3, 1, 2), 10), ring(SHAPE, (3, 1, 2, 2), 11)
    ta, tb = a.to("torch"), b.to("torch")
    for got, want in [(ta + tb, a + b), (ta - tb, a - b), (ta * tb, a * b), (2.0 * ta, 2.0 * a)]:
        assert isinstance(got, TR) and got.backend == "torch"
        x = got.to_tensor()
        assert isinstance(x, torch.Tensor)
        close(x.numpy(), want.to_tensor())
    d = ta.dot(tb)
    assert torch.is_tensor(d)
    assert float(d) == pytest.approx(float(a.dot(b)), rel=1e-10)
    assert ta.norm() == pytest.approx(np.linalg.norm(a.to_tensor()), rel=1e-10)
    r, want = (ta + 1e-9 * tb).round(1e-4), (a + 1e-9 * b).round(1e-4)
    assert r.backend == "torch" and r.rank == want.rank
    close(r.to_tensor().numpy(), want.to_tensor())


@pytest.mark.parametrize("tol", [1e-6, 1e-3, 0.1])
def test_round_a_perturbed_sum_back_to_the_original_ranks(tol):
    a, b = ring((4, 5, 3, 4, 3), (3, 2, 4, 2, 3), 12), ring((4, 5, 3, 4, 3), (2, 2, 3, 2, 2), 13)
    s = a + 1e-9 * (b * (a.norm() / b.norm()))
    assert s.rank == (5, 4, 7, 4, 5)
    r = s.round(tol)
    assert r.rank == a.rank
    x = s.to_tensor()
    assert np.linalg.norm(r.to_tensor() - x) <= tol * np.linalg.norm(x)
    if tol <= 1e-6:
        close(r.to_tensor(), a.to_tensor())


def test_round_of_a_sum_meets_tol_and_never_grows_ranks():
    # a + b: every cut sees the two terms' ranks add, so rounding keeps what matters
    a, b = ring((4, 3, 5, 4), (2, 3, 2, 2), 14), ring((4, 3, 5, 4), (3, 2, 2, 1), 15)
    s = a + 0.3 * b
    x = s.to_tensor()
    for tol in (1e-8, 0.05, 0.3):
        r = s.round(tol)
        assert np.linalg.norm(r.to_tensor() - x) <= tol * np.linalg.norm(x)
        assert all(p <= q for p, q in zip(r.rank, s.rank))


@pytest.mark.parametrize("op", ["+", "-", "*", "dot"])
def test_bad_operands_are_named(op):
    a = ring(SHAPE, (2, 3, 1, 2), 16)
    apply = {
        "+": lambda x, y: x + y,
        "-": lambda x, y: x - y,
        "*": lambda x, y: x * y,
        "dot": lambda x, y: x.dot(y),
    }[op]
    with pytest.raises(ValueError, match=r"shapes differ, this TR has \(3, 4, 2, 3\), the other"):
        apply(a, ring((3, 4, 2, 4), (2, 3, 1, 2)))
    with pytest.raises(ValueError, match=r"the other operand \(TT\)"):
        apply(a, train((3, 4, 2), (2, 2)))
    with pytest.raises(TypeError, match="the other operand must be a TT or TR, got ndarray"):
        apply(a, a.to_tensor())
    with pytest.raises(TypeError, match="must be a TT or TR, got bool"):
        apply(a, True)


def test_bad_scalars_and_libraries():
    pytest.importorskip("torch")
    a = ring(SHAPE, (2, 3, 1, 2), 17)
    with pytest.raises(ValueError, match="finite"):
        a * float("inf")
    with pytest.raises(TypeError, match="the other TR holds torch arrays, this one numpy"):
        a + a.to("torch")
    with pytest.raises(TypeError, match="the other TT holds torch arrays"):
        a.dot(train(SHAPE, (2, 2, 3)).to("torch"))
