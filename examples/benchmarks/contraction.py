"""Contraction benchmark: warm-cache overhead on small networks, path quality on large ones.

1. Small networks (3-6 tensors, dims 4-32, as an ALS sweep contracts them): time of
   ``TensorNetwork.contract()`` with a warm plan cache against a direct call of a prebuilt
   ``opt_einsum.ContractExpression`` on the same arrays (goal: ratio <= 1.3).
2. Random 3-regular networks of 50, 100, 200 tensors, bond dimension 2: path flops of tnkit's
   default ``"auto"`` optimizer against opt_einsum ``"greedy"`` (goal: >= 5x fewer at 100) and
   against cotengra's ``HyperOptimizer`` given the same time budget (goal: within 2x).

Run: ``python examples/benchmarks/contraction.py [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import numpy as np
import opt_einsum
from opt_einsum.testing import rand_equation

import tnkit as tk
from tnkit import contract


def small_networks(rng: np.random.Generator) -> list[tk.TensorNetwork]:
    """Chains, rings, a star and a tree of 3-6 nodes with dimensions 4-32."""
    nets = []
    for n_nodes, topology in [(3, "chain"), (4, "ring"), (5, "star"), (6, "tree")]:
        net = tk.TensorNetwork()
        if topology == "star":
            edges = [(0, k) for k in range(1, n_nodes)]
        elif topology == "tree":
            edges = [(0, 1), (0, 2), (1, 3), (1, 4), (2, 5)]
        else:
            edges = [(k, k + 1) for k in range(n_nodes - 1)]
            if topology == "ring":
                edges.append((n_nodes - 1, 0))
        for k in range(n_nodes):
            legs = [f"i{k}"] + [f"b{a}_{b}" for a, b in edges if k in (a, b)]
            dims = [int(rng.integers(4, 33))] + [8] * (len(legs) - 1)
            net.add_node(f"N{k}", rng.standard_normal(dims), legs)
        nets.append((f"{topology} of {n_nodes}", net))
    return nets


def time_call(fn, repeats: int, number: int) -> float:
    """Median over ``repeats`` of the mean time of ``number`` calls (seconds)."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def bench_small(repeats: int, number: int) -> list[tuple]:
    rng = np.random.default_rng(0)
    rows = []
    for label, net in small_networks(rng):
        arrays = net.arrays
        expr = opt_einsum.contract_expression(
            net.equation(), *[a.shape for a in arrays], optimize="auto"
        )
        net.contract()  # warm the plan cache
        ours = time_call(net.contract, repeats, number)
        direct = time_call(lambda: expr(*arrays), repeats, number)
        rows.append((label, ours * 1e6, direct * 1e6, ours / direct))
    return rows


def bench_large(sizes: list[int], seeds: list[int]) -> list[tuple]:
    rows = []
    for n in sizes:
        for seed in seeds:
            eq, shapes = rand_equation(n, 3, seed=seed, d_min=2, d_max=2)
            t0 = time.perf_counter()
            ours = contract.path_info(eq, *shapes, optimize="auto")
            plan_time = time.perf_counter() - t0
            greedy = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize="greedy")[1]
            ctg = cotengra_flops(eq, shapes, plan_time)
            rows.append(
                (
                    n,
                    seed,
                    math.log10(float(ours.opt_cost)),
                    plan_time,
                    math.log10(float(greedy.opt_cost)),
                    ctg,
                )
            )
    return rows


def cotengra_flops(eq: str, shapes, budget: float) -> float | None:
    try:
        import cotengra
    except ImportError:
        return None
    inputs, output = eq.split("->")
    size_dict = {c: d for t, s in zip(inputs.split(","), shapes) for c, d in zip(t, s)}
    opt = cotengra.HyperOptimizer(
        max_time=budget, max_repeats=10**6, minimize="flops", progbar=False
    )
    tree = opt.search([list(t) for t in inputs.split(",")], list(output), size_dict)
    return math.log10(float(tree.total_flops()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    args = parser.parse_args()
    repeats, number = (3, 200) if args.quick else (7, 2000)
    sizes, seeds = ([50, 100], [0]) if args.quick else ([50, 100, 200], [0, 1, 2])
    print(
        f"machine: {platform.machine()}, {platform.python_version()}, numpy {np.__version__}, "
        f"opt_einsum {opt_einsum.__version__}"
    )
    print("\nSmall networks: warm TensorNetwork.contract vs prebuilt ContractExpression")
    print(f"{'network':<12} {'tnkit us':>9} {'direct us':>10} {'ratio':>6}")
    small = bench_small(repeats, number)
    for label, ours, direct, ratio in small:
        print(f"{label:<12} {ours:9.1f} {direct:10.1f} {ratio:6.2f}")
    print(f"median ratio: {statistics.median(r[3] for r in small):.3f} (goal <= 1.3)")
    print("\nRandom 3-regular networks, bond dim 2: log10 path flops")
    print(
        f"{'tensors':>7} {'seed':>4} {'auto':>7} {'plan s':>7} {'greedy':>7} {'cotengra':>8} "
        f"{'greedy/auto':>11} {'auto/ctg':>8}"
    )
    for n, seed, ours, plan, greedy, ctg in bench_large(sizes, seeds):
        vs_ctg = f"{10 ** (ours - ctg):8.2f}" if ctg is not None else "     n/a"
        ctg_s = f"{ctg:8.2f}" if ctg is not None else "     n/a"
        print(
            f"{n:7d} {seed:4d} {ours:7.2f} {plan:7.2f} {greedy:7.2f} {ctg_s} "
            f"{10 ** (greedy - ours):11.1f} {vs_ctg}"
        )


if __name__ == "__main__":
    main()
