import numpy as np
import opt_einsum
import pytest
from opt_einsum.testing import rand_equation

from tnkit import contract


def test_expression_is_cached_per_shapes():
    a = contract.expression("ab,bc->ac", (2, 3), (3, 4))
    b = contract.expression("ab,bc->ac", (2, 3), (3, 4))
    c = contract.expression("ab,bc->ac", (2, 5), (5, 4))
    assert a is b and a is not c


def test_auto_is_exact_for_small_networks():
    eq, shapes = rand_equation(6, 3, seed=1)
    ours = contract.flops(eq, *shapes)
    best = float(opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="optimal")[1].opt_cost)
    assert ours == pytest.approx(best)


def test_auto_beats_greedy_on_large_networks():
    eq, shapes = rand_equation(60, 3, seed=3, d_min=2, d_max=2)
    greedy = float(
        opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="greedy")[1].opt_cost
    )
    assert contract.flops(eq, *shapes) <= greedy


def test_einsum_with_slicing_equals_direct():
    rng = np.random.default_rng(0)
    ops = [rng.standard_normal((6, 6)) for _ in range(4)]
    eq = "ab,bc,cd,da->"
    ref = np.einsum(eq, *ops)
    assert contract.einsum(eq, *ops, memory_limit=100) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(MemoryError, match="largest intermediate needs"):
        contract.einsum(eq, *ops, memory_limit=100, on_exceed="raise")


@pytest.mark.parametrize("text, value", [("2GiB", 2 * 2**30), ("500 MB", 500 * 10**6), (1e3, 1000)])
def test_parse_bytes(text, value):
    assert contract.parse_bytes(text) == value


@pytest.mark.parametrize("bad", ["lots", "-1", 0, "3 parsecs"])
def test_parse_bytes_rejects_garbage(bad):
    with pytest.raises(ValueError, match="memory_limit"):
        contract.parse_bytes(bad)


def test_cotengra_preset_when_installed():
    pytest.importorskip("cotengra")
    eq, shapes = rand_equation(20, 3, seed=2, d_min=2, d_max=2)
    rng = np.random.default_rng(0)
    ops = [rng.standard_normal(s) for s in shapes]
    ref = contract.einsum(eq, *ops)
    np.testing.assert_allclose(contract.einsum(eq, *ops, optimize="cotengra"), ref, rtol=1e-8)


@pytest.mark.parametrize(
    "bad, exc",
    [
        (True, TypeError),
        (0.5, ValueError),
        (float("nan"), ValueError),
        ("1.2.3GB", ValueError),
        (None, TypeError),
    ],
)
def test_parse_bytes_names_memory_limit(bad, exc):
    with pytest.raises(exc, match="memory_limit"):
        contract.parse_bytes(bad)


def test_infinite_memory_limit_means_no_limit():
    a, b = np.ones((2, 3)), np.ones((3, 4))
    np.testing.assert_allclose(contract.einsum("ab,bc->ac", a, b, memory_limit=float("inf")), a @ b)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda a: contract.einsum(5, a), TypeError, "eq"),
        (lambda a: contract.einsum("ab,bc->ad", a, a.T), ValueError, "eq 'ab,bc->ad'"),
        (lambda a: contract.einsum("ab,bc->ac", a, a), ValueError, "eq 'ab,bc->ac'"),
        (lambda a: contract.einsum("ab,bc->ac", a, a.T, optimize="bogus"), ValueError, "optimize"),
        (lambda a: contract.einsum("ab->a", a, on_exceed="explode"), ValueError, "on_exceed"),
        (lambda a: contract.einsum("ab->a", "text"), TypeError, r"operands\[0\]"),
        (lambda a: contract.expression("ab,bc->ac", (2, 3), (4, 5)), ValueError, "eq"),
        (lambda a: contract.path_info("ab->a", (2, 3), optimize=7), TypeError, "optimize"),
    ],
)
def test_bad_einsum_arguments_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call(np.ones((2, 3)))


def test_einsum_refuses_mixed_libraries_and_accepts_lists():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="operands must be arrays of one library"):
        contract.einsum("ab,bc->ac", np.ones((2, 3)), torch.ones(3, 2, dtype=torch.float64))
    np.testing.assert_allclose(contract.einsum("ab->a", [[1.0, 2.0]]), [3.0])
