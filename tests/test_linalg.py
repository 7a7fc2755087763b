import numpy as np
import pytest

from tnkit import linalg


def _low_rank(rng, m, n, r, noise=0.0):
    a = rng.standard_normal((m, r)) @ rng.standard_normal((r, n))
    return a + noise * rng.standard_normal((m, n))


def test_rank_rule_is_smallest_rank_meeting_the_error():
    s = np.array([4.0, 3.0, 2.0, 1.0])
    # tails: ||s[1:]||=sqrt(14), ||s[2:]||=sqrt(5), ||s[3:]||=1, ||s[4:]||=0
    assert linalg.rank_for_error(s, 1.0) == 3
    assert linalg.rank_for_error(s, 0.99) == 4
    assert linalg.rank_for_error(s, np.sqrt(5)) == 2
    assert linalg.rank_for_error(s, 100.0) == 1
    assert linalg.rank_from_tol(s, 1.001 / np.sqrt(30)) == 3


@pytest.mark.parametrize("method", ["lapack", "gram", "auto"])
@pytest.mark.parametrize("shape", [(200, 30), (30, 200), (40, 40)])
def test_truncated_svd_matches_lapack(method, shape):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape)
    u, s, vh, err = linalg.truncated_svd(a, rank=10, method=method)
    s_ref = np.linalg.svd(a, compute_uv=False)
    np.testing.assert_allclose(s, s_ref[:10], rtol=1e-10)
    assert err == pytest.approx(np.sqrt(np.sum(s_ref[10:] ** 2)), rel=1e-10)
    assert np.linalg.norm(a - (u * s) @ vh) == pytest.approx(err, rel=1e-9)
    np.testing.assert_allclose(u.T @ u, np.eye(10), atol=1e-10)


@pytest.mark.parametrize("method", ["lapack", "gram", "auto"])
def test_tol_guarantee(method):
    rng = np.random.default_rng(1)
    a = _low_rank(rng, 300, 50, 8, noise=1e-3)
    for tol in (0.3, 1e-2, 1e-5):
        u, s, vh, err = linalg.truncated_svd(a, tol=tol, method=method)
        assert np.linalg.norm(a - (u * s) @ vh) <= tol * np.linalg.norm(a) * (1 + 1e-12)


def test_exact_low_rank_recovered_to_1e_12_by_every_method():
    rng = np.random.default_rng(2)
    a = _low_rank(rng, 600, 500, 5)
    for method in ("lapack", "gram", "randomized", "auto"):
        u, s, vh, _ = linalg.truncated_svd(a, rank=5, method=method)
        assert np.linalg.norm(a - (u * s) @ vh) <= 1e-12 * np.linalg.norm(a), method


def test_gram_handles_zero_singular_values():
    rng = np.random.default_rng(3)
    a = np.zeros((100, 6))
    a[:, :2] = rng.standard_normal((100, 2))
    u, s, vh, err = linalg.truncated_svd(a, rank=6, method="gram")
    np.testing.assert_allclose(u.T @ u, np.eye(6), atol=1e-12)
    np.testing.assert_allclose((u * s) @ vh, a, atol=1e-12)
    assert err == 0.0


def test_complex_and_float32():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((80, 20)) + 1j * rng.standard_normal((80, 20))
    for method in ("lapack", "gram"):
        u, s, vh, _ = linalg.truncated_svd(a, rank=20, method=method)
        np.testing.assert_allclose((u * s) @ vh, a, atol=1e-10)
    b = rng.standard_normal((50, 20)).astype(np.float32)
    u, s, vh, _ = linalg.truncated_svd(b, rank=20)
    assert u.dtype == np.float32
    np.testing.assert_allclose((u * s) @ vh, b, atol=1e-4)


def test_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a = rng.standard_normal((60, 25))
    for method in ("lapack", "gram", "randomized"):
        u, s, vh, err = linalg.truncated_svd(torch.from_numpy(a), rank=7, method=method)
        assert isinstance(u, torch.Tensor)
        ref = linalg.truncated_svd(a, rank=7, method=method)  # same seed -> same sketch
        np.testing.assert_allclose(s.numpy(), ref.s, rtol=1e-10)
    q, r = linalg.qr(torch.from_numpy(a))
    np.testing.assert_allclose((q @ r).numpy(), a, atol=1e-12)


def test_randomized_range_spans_the_range():
    rng = np.random.default_rng(6)
    a = _low_rank(rng, 400, 300, 6)
    q = linalg.randomized_range(a, 10, seed=1)
    assert np.linalg.norm(a - q @ (q.T @ a)) <= 1e-12 * np.linalg.norm(a)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rank": 0}, "rank must be a positive integer"),
        ({"rank": 2.5}, "rank must be a positive integer"),
        ({"tol": 1.5}, "tol must be in"),
        ({"method": "magic"}, "method must be one of"),
        ({"method": "randomized"}, "needs rank="),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        linalg.truncated_svd(np.ones((4, 4)), **kwargs)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: linalg.truncated_svd(np.ones((2, 3, 4))), "a must be a 2-D matrix"),
        (lambda: linalg.truncated_svd(np.full((3, 3), np.nan)), "a contains NaN or Inf"),
        (lambda: linalg.truncated_svd(np.zeros((0, 3))), "a has an empty axis"),
        (lambda: linalg.truncated_svd(np.ones((3, 3)), rank=True), "rank"),
        (lambda: linalg.truncated_svd(np.ones((3, 3)), rank=float("nan")), "rank"),
        (lambda: linalg.truncated_svd(np.ones((3, 3)), tol="a"), "tol"),
        (lambda: linalg.truncated_svd(np.ones((3, 3)), max_error=-1), "max_error"),
        (
            lambda: linalg.truncated_svd(np.ones((3, 3)), rank=2, method="randomized", seed="a"),
            "seed",
        ),
        (
            lambda: linalg.truncated_svd(np.ones((3, 3)), rank=2, method="randomized", seed=1.5),
            "seed",
        ),
        (lambda: linalg.qr(np.ones((2, 3, 4))), "a must be a 2-D matrix"),
        (lambda: linalg.qr(np.full((3, 3), np.inf)), "NaN or Inf"),
        (lambda: linalg.randomized_svd(np.ones((4, 3)), 0), "rank"),
        (lambda: linalg.randomized_svd(np.ones((4, 3)), 2, oversample=-5), "oversample"),
        (lambda: linalg.randomized_svd(np.ones((4, 3)), 2, n_iter=2.5), "n_iter"),
        (lambda: linalg.randomized_range(np.ones((4, 3)), 0), "size"),
        (lambda: linalg.rank_for_error(np.ones(3), "a"), "max_error"),
        (lambda: linalg.rank_for_error(np.ones(3), -1.0), "max_error"),
        (lambda: linalg.rank_from_tol(np.ones(3), 2), "tol"),
        (lambda: linalg.rank_from_tol(np.array([np.nan, 1.0]), 0.1), "s must be"),
    ],
)
def test_bad_matrices_and_options_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_lists_and_integer_matrices_are_accepted():
    u, s, vh, err = linalg.truncated_svd([[3.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(s, [3.0, 1.0])
    _, s_int, _, _ = linalg.truncated_svd(np.eye(3, dtype=int))
    np.testing.assert_allclose(s_int, np.ones(3))


def test_split_matrix_and_qr_r_match_the_full_factorisations():
    a = np.random.default_rng(5).standard_normal((7, 4))
    r = linalg.qr_r(a)
    np.testing.assert_allclose(np.abs(r), np.abs(np.linalg.qr(a)[1]), atol=1e-12)
    left, right, middle, err = linalg.split_matrix(a, "svd", 2, None, None)
    s = np.linalg.svd(a, compute_uv=False)
    np.testing.assert_allclose(np.diag(middle), s[:2], rtol=1e-12)
    assert err == pytest.approx(np.sqrt(np.sum(s[2:] ** 2)), rel=1e-10)
    np.testing.assert_allclose(left @ middle @ right, _best_rank(a, 2), atol=1e-12)
    q, rr, none, zero = linalg.split_matrix(a, "qr", None, None, "both")
    assert none is None and zero == 0.0 and np.allclose(q @ rr, a)
    with pytest.raises(ValueError, match="method must be one of"):
        linalg.split_matrix(a, "lu", None, None, "both")
    with pytest.raises(ValueError, match="absorb must be one of"):
        linalg.split_matrix(a, "svd", 2, None, "middle")
    with pytest.raises(ValueError, match="does not truncate"):
        linalg.split_matrix(a, "qr", 2, None, "both")


def _best_rank(a, r):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return (u[:, :r] * s[:r]) @ vh[:r]
