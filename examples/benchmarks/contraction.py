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


def small_networks(rng: np.random.Generator) -> list[tuple[str, tk.TensorNetwork]]:
    """Chains, rings, a star and a tree of 3-6 nodes, bond dimensions 4-32, two open legs of
    size 8 — the shape of the environments an ALS sweep contracts."""
    layouts = {
        "chain of 3": [(0, 1), (1, 2)],
        "ring of 4": [(0, 1), (1, 2), (2, 3), (3, 0)],
        "star of 5": [(0, 1), (0, 2), (0, 3), (0, 4)],
        "tree of 6": [(0, 1), (0, 2), (1, 3), (1, 4), (2, 5)],
    }
    nets = []
    for label, edges in layouts.items():
        n_nodes = 1 + max(max(e) for e in edges)
        bond = {e: int(rng.integers(4, 33)) for e in edges}
        net = tk.TensorNetwork()
        for k in range(n_nodes):
            legs = [f"b{a}_{b}" for a, b in edges if k in (a, b)]
            dims = [bond[(a, b)] for a, b in edges if k in (a, b)]
            if k in (0, n_nodes - 1):
                legs, dims = legs + [f"i{k}"], dims + [8]
            net.add_node(f"N{k}", rng.standard_normal(dims), legs)
        nets.append((label, net))
    return nets


def time_pair(fn_a, fn_b, repeats: int, number: int) -> tuple[float, float]:
    """Median seconds per call of two functions, measured interleaved so load hits both."""
    a, b = [], []
    for _ in range(repeats):
        for fn, out in ((fn_a, a), (fn_b, b)):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            out.append((time.perf_counter() - start) / number)
    return statistics.median(a), statistics.median(b)


def bench_small(repeats: int, number: int) -> list[tuple]:
    rng = np.random.default_rng(0)
    rows = []
    for label, net in small_networks(rng):
        arrays = net.arrays
        expr = opt_einsum.contract_expression(
            net.equation(), *[a.shape for a in arrays], optimize="auto"
        )
        net.contract()  # warm the plan cache

        def direct(expr=expr, arrays=arrays):
            return expr(*arrays)

        ours, theirs = time_pair(net.contract, direct, repeats, number)
        rows.append((label, ours * 1e6, theirs * 1e6, ours / theirs))
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
    repeats, number = (5, 200) if args.quick else (9, 1000)
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
    large = bench_large(sizes, seeds)
    for n, seed, ours, plan, greedy, ctg in large:
        vs_ctg = f"{10 ** (ours - ctg):8.2f}" if ctg is not None else "     n/a"
        ctg_s = f"{ctg:8.2f}" if ctg is not None else "     n/a"
        print(
            f"{n:7d} {seed:4d} {ours:7.2f} {plan:7.2f} {greedy:7.2f} {ctg_s} "
            f"{10 ** (greedy - ours):11.1f} {vs_ctg}"
        )


if __name__ == "__main__":
    main()
