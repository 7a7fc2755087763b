"""``tnkit evolve PROBLEM`` — run a BUG time integration of a named problem.

Writes the history (JSON: times, norm, energy, ranks, magnetisation) and a plot. With
``--checkpoint FILE`` the run's state is saved as it goes (and on Ctrl-C); ``--resume`` goes on
from that file.
"""

from __future__ import annotations

import argparse
import json

PROBLEMS = ("ising", "long-range-ising", "matrix-schrodinger")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("evolve", help="time-evolve a named problem with a BUG integrator")
    p.add_argument("problem", choices=PROBLEMS, help="which problem")
    p.add_argument(
        "--sites",
        type=int,
        default=None,
        help="spins on a balanced binary tree (default 8), or the matrix size (100)",
    )
    p.add_argument("--t-final", type=float, default=1.0, help="final time (default 1)")
    p.add_argument("--dt", type=float, default=1 / 32, help="step size (default 1/32)")
    p.add_argument("--method", default="adaptive", help="fixed, adaptive or parallel")
    p.add_argument("--tol", type=float, default=1e-8, help="relative truncation tolerance")
    p.add_argument(
        "--rank",
        type=int,
        default=None,
        help="initial rank (spins: padding, default 2; matrix: default 4)",
    )
    p.add_argument("--rank-max", type=int, default=None, help="cap on every bond rank")
    p.add_argument("--substep", default="rk4", help="rk4 or expm")
    p.add_argument("--workers", type=int, default=1, help="threads for concurrent substeps")
    p.add_argument("-o", "--output", default="evolution.json", help="history file (JSON)")
    p.add_argument("--plot", default="evolution.png", help="plot file ('' for none)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoint file (.npz), rewritten every --checkpoint-seconds and on Ctrl-C",
    )
    p.add_argument(
        "--checkpoint-seconds",
        type=float,
        default=60.0,
        help="seconds between checkpoint writes (default 60)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="go on from --checkpoint when it exists (same options; --t-final may grow)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    from solvers import bug
    from solvers.bug import problems

    observables = {}
    if args.problem == "matrix-schrodinger":
        n = args.sites or 100
        op = problems.matrix_schrodinger(n)
        y0 = problems.matrix_initial(n, rank=args.rank or 4)
    else:
        n = args.sites or 8
        make = problems.PROBLEMS[args.problem]
        op = make(n)
        y0 = problems.all_up(problems.binary_tree(n), rank=args.rank or 2)
        observables = {"magnetization_z": problems.magnetization(n, "z")}
    _, history = bug.integrate(
        op,
        y0,
        args.t_final,
        dt=args.dt,
        method=args.method,
        tol=args.tol,
        rank_max=args.rank_max,
        substep=args.substep,
        observables=observables,
        progress=args.progress,
        workers=args.workers,
        checkpoint=args.checkpoint,
        checkpoint_seconds=args.checkpoint_seconds,
        resume=args.resume,
    )
    with open(args.output, "w") as fh:
        json.dump(history, fh)
    print(
        f"wrote {args.output}: {len(history['time']) - 1} steps, final max rank "
        f"{history['max_rank'][-1]}, norm {history['norm'][-1]:.12f}"
    )
    if args.plot:
        from solvers.bug.plot import plot_history

        plot_history(history, args.plot)
        print(f"wrote {args.plot}")
    return 0
