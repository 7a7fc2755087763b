import numpy as np
import opt_einsum
from opt_einsum.testing import rand_equation

from tnkit.paths import ReconfiguredPath


def test_reconfigured_path_is_valid_and_no_worse_than_its_greedy_start():
    eq, shapes = rand_equation(40, 3, seed=4, d_min=2, d_max=3)
    greedy = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="greedy")[1]
    path, info = opt_einsum.contract_path(
        eq, *shapes, shapes=True, optimize=ReconfiguredPath(max_time=0.3)
    )
    assert float(info.opt_cost) <= float(greedy.opt_cost)
    rng = np.random.default_rng(0)
    ops = [rng.standard_normal(s) for s in shapes]
    ref = opt_einsum.contract(eq, *ops, optimize="greedy")
    np.testing.assert_allclose(opt_einsum.contract(eq, *ops, optimize=path), ref, rtol=1e-8)


def test_reconfiguration_finds_the_optimum_of_a_small_network():
    eq, shapes = rand_equation(8, 3, seed=1, d_min=2, d_max=6)
    best = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="optimal")[1]
    ours = opt_einsum.contract_path(
        eq, *shapes, shapes=True, optimize=ReconfiguredPath(max_time=0.5, k=8)
    )[1]
    assert float(ours.opt_cost) <= 1.05 * float(best.opt_cost)


def test_disconnected_network_gets_an_outer_product():
    shapes = [(2, 3), (3,), (4, 5), (5,)]
    path, info = opt_einsum.contract_path(
        "ab,b,cd,d->ac", *shapes, shapes=True, optimize=ReconfiguredPath(max_time=0.1)
    )
    rng = np.random.default_rng(0)
    ops = [rng.standard_normal(s) for s in shapes]
    ref = np.einsum("ab,b,cd,d->ac", *ops)
    np.testing.assert_allclose(opt_einsum.contract("ab,b,cd,d->ac", *ops, optimize=path), ref)
