"""``tnkit search DATA`` — find a tensor-network structure (greedy, TnALE or TNLS) for a tensor.

Shows a live bar (best f, RSE, parameters, evaluations/s) and ends with a table comparing the
found network with TT-SVD, Tucker and TR-SVD at the same relative error. ``--device gpu`` runs
the fits on a CUDA GPU (cupy, else torch).
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

METHODS = ("greedy", "tnale", "tnls")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "search",
        help="search a tensor-network structure (greedy, TnALE, TNLS) for a data tensor",
        description=(
            "DATA is .npy/.npz/.mat/.h5 or an image; --key picks an array in a multi-array file "
            "and --reshape folds it (e.g. a 256x256 image to 4,4,4,4,4,4,4,4)."
        ),
    )
    p.add_argument("data", help="data tensor file")
    p.add_argument("--key", help="array name inside .npz/.mat/.h5 files")
    p.add_argument("--reshape", help="comma-separated new shape, e.g. 4,4,4,4,4,4,4,4")
    p.add_argument("--method", choices=METHODS, default="greedy")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--target-rse", type=float, help="fewest parameters with RSE <= E")
    goal.add_argument("--lam", type=float, help="penalised objective n_params/size + L*RSE^2")
    p.add_argument("--budget", type=int, default=500, help="maximum number of evaluations")
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    p.add_argument("--checkpoint", help="JSON-lines log of every evaluation")
    p.add_argument("--resume", action="store_true", help="continue the --checkpoint log")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        default="cpu",
        help="where the fits run: numpy on the CPU, or a CUDA GPU (cupy, else torch)",
    )
    p.add_argument(
        "--topology",
        choices=("ring", "chain", "full"),
        default="ring",
        help="tnale/tnls: topology whose ranks are searched",
    )
    p.add_argument("--max-rank", type=int, default=7, help="tnale/tnls: largest bond rank")
    p.add_argument("--max-arity", type=int, help="greedy: most bonds per node")
    p.add_argument(
        "--internal-nodes",
        action="store_true",
        help="greedy: also split nodes by SVD, creating internal nodes (Tucker cores, trees)",
    )
    p.add_argument("--no-compare", action="store_true", help="skip the TT/Tucker/TR table")
    p.add_argument("--quiet", action="store_true", help="no live progress bar")
    p.add_argument("-o", "--output", help="save the result (.npz; read with SearchResult.load)")
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from solvers import search

    from .. import io
    from . import check_output

    if args.internal_nodes and args.method != "greedy":
        raise ValueError("--internal-nodes needs --method greedy")
    check_output(args.output, "-o")
    check_output(args.checkpoint, "--checkpoint")
    x = np.asarray(io.load_tensor(args.data, key=args.key))
    if args.reshape:
        x = _reshape(x, args.reshape)
    kwargs: dict[str, Any] = dict(
        lam=args.lam,
        target_rse=args.target_rse,
        budget=args.budget,
        workers=args.workers,
        scheduler=args.scheduler,
        checkpoint=args.checkpoint,
        resume=args.resume,
        seed=args.seed,
        progress=not args.quiet,
        device=args.device,
    )
    if args.method == "greedy":
        kwargs["max_arity"] = args.max_arity
        kwargs["internal_nodes"] = args.internal_nodes
    else:
        kwargs.update(topology=args.topology, max_rank=args.max_rank)
    result = getattr(search, args.method)(x, **kwargs)
    print(result.summary())
    if args.output:
        result.save(args.output)
        print(f"saved to {args.output}")
    if not args.no_compare:
        print()
        print(comparison_table(x, result))
    return 130 if result.interrupted else 0


def _reshape(x: Any, spec: str) -> Any:
    try:
        shape = tuple(int(n) for n in spec.split(","))
    except ValueError as err:
        raise ValueError(f"--reshape must be integers like 4,4,4,4: {err}") from err
    if math.prod(shape) != x.size:
        raise ValueError(f"--reshape {shape} has {math.prod(shape)} entries, the data {x.size}")
    return x.reshape(shape)


def comparison_table(x: Any, result: Any) -> str:
    """Rows: the found network, TT-SVD, Tucker and TR-SVD, each asked for the found RSE."""
    import numpy as np

    import tnkit as tk

    x = np.asarray(x, dtype=np.float64)
    tol = min(max(result.rse, 1e-12), 0.999)
    norm = np.linalg.norm(x)
    rows = [("found network", result.n_params, result.rse, result.wall_time)]
    for label, name, kw in (
        ("TT-SVD", "tt", {}),
        ("Tucker (ST-HOSVD)", "tucker", {"method": "sthosvd"}),
        ("TR-SVD", "tr", {"method": "svd"}),
    ):
        started = time.perf_counter()
        try:
            fmt = getattr(tk, name)(x, tol=tol, **kw)
        except (AttributeError, ImportError) as err:
            rows.append((label, None, f"unavailable ({type(err).__name__})", None))
            continue
        rse = float(np.linalg.norm(np.asarray(fmt.to_tensor()) - x) / norm)
        rows.append((label, fmt.n_params, rse, time.perf_counter() - started))
    lines = [f"{'method':<20} {'params':>10} {'RSE':>10} {'compression':>12} {'seconds':>8}"]
    for label, params, rse, secs in rows:
        if params is None:
            lines.append(f"{label:<20} {rse}")
            continue
        lines.append(
            f"{label:<20} {params:>10,} {rse:>10.2e} {x.size / params:>11.2f}x {secs:>8.2f}"
        )
    return "\n".join(lines)
