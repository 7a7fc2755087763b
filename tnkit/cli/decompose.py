"""``tnkit decompose DATA`` — CP, Tucker, TT or TR decomposition of a data tensor."""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

FORMATS = ("cp", "tucker", "tt", "tr")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "decompose",
        help="decompose a data tensor (.npy .npz .mat .h5 or image) into CP/Tucker/TT/TR, "
        "or recompress a saved TT or TR model",
    )
    p.add_argument(
        "data",
        help="data tensor file, sparse tensor file, or a TT/TR model saved by tnkit "
        "(--format tt: TT rounding; tr: a ring fitted to it, the tensor never formed)",
    )
    p.add_argument("--format", choices=FORMATS, required=True, help="the tensor format")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--rank", help="one rank, or comma-separated ranks (e.g. 5 or 4,6,3)")
    size.add_argument("--tol", type=float, help="relative error target in (0, 1)")
    size.add_argument(
        "--scan-ranks",
        metavar="A-B",
        help="cp: fit every rank from A to B, print their errors and core consistency, "
        "and keep the suggested rank",
    )
    p.add_argument("--key", help="array name inside .npz/.mat/.h5 files")
    p.add_argument("--method", help="tucker: hooi|sthosvd; tr: als|svd")
    p.add_argument("--max-iter", type=int, help="maximum sweeps of iterative methods")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--restarts",
        type=int,
        help="tt, tr of a sparse file, tr of a model: fit from this many starts, keep the best",
    )
    p.add_argument(
        "--nan-missing",
        action="store_true",
        help="treat NaN entries as missing and fit the others (tensor completion; needs --rank)",
    )
    p.add_argument(
        "--nonnegative",
        action="store_true",
        help="cp, tucker: constrain the factors (and the Tucker core) to be >= 0",
    )
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="--scan-ranks: save the fits to FILE (.npz) after each rank",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="--scan-ranks: take the ranks already in the --checkpoint file from it",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", help="save the result as a tnkit network (.npz)")
    return p


def _parse_rank(text: str | None) -> int | list[int] | None:
    if text is None:
        return None
    try:
        ranks = [int(t) for t in text.split(",")]
    except ValueError:
        msg = f"--rank must be an integer or comma-separated integers, got {text!r}"
        raise ValueError(msg) from None
    return ranks[0] if len(ranks) == 1 else ranks


def _only_for(flag: str, formats: tuple[str, ...], fmt: str) -> None:
    """``ValueError`` unless the option ``flag`` applies to the format ``fmt``."""
    if fmt not in formats:
        raise ValueError(f"{flag} applies to {' and '.join(formats)}, not {fmt}")


def _parse_span(text: str) -> range:
    try:
        low, high = (int(t) for t in text.split("-"))
    except ValueError:
        raise ValueError(f"--scan-ranks must look like 1-6, got {text!r}") from None
    if not 1 <= low <= high:
        raise ValueError(f"--scan-ranks needs 1 <= A <= B, got {text!r}")
    return range(low, high + 1)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import tnkit as tk

    from . import check_output
    from .info import file_kind

    check_output(args.output, "-o")
    check_output(args.checkpoint, "--checkpoint")
    if (args.checkpoint or args.resume) and args.scan_ranks is None:
        raise ValueError("--checkpoint and --resume apply to --scan-ranks")
    from tnkit import sparse

    if sparse.holds_sparse(args.data):
        return _run_sparse(args)
    if file_kind(args.data) == "network":
        return _run_model(args)
    if args.restarts is not None:
        raise ValueError("--restarts applies to tt and tr of a sparse tensor file")
    x = tk.load_tensor(args.data, key=args.key)
    rank = _parse_rank(args.rank)
    kw: dict = {}
    if args.max_iter is not None:
        kw["max_iter"] = args.max_iter
    if args.method is not None:
        _only_for("--method", ("tucker", "tr"), args.format)
        kw["method"] = args.method
    if args.nonnegative:
        _only_for("--nonnegative", ("cp", "tucker"), args.format)
        kw["nonnegative"] = True
    progress = not args.quiet
    observed = None
    if args.nan_missing:
        observed = ~np.isnan(np.asarray(x))
        if rank is None and args.scan_ranks is None:
            raise ValueError(
                "--nan-missing needs --rank (the ranks to fit to the observed entries)"
            )
        kw["mask"] = observed
    start = time.perf_counter()
    if args.scan_ranks is not None:
        result = _scan(args, x, progress, kw)
    elif args.format == "cp":
        if rank is None or isinstance(rank, list):
            raise ValueError("--format cp needs one integer --rank")
        result = tk.cp(x, rank, seed=args.seed, progress=progress, **kw)
    elif args.format == "tucker":
        result = tk.tucker(x, rank=rank, tol=args.tol, seed=args.seed, progress=progress, **kw)
    elif args.format == "tt":
        if "max_iter" in kw and observed is None:
            raise ValueError("--format tt (TT-SVD) takes no --max-iter (only with --nan-missing)")
        result = tk.tt(x, rank=rank, tol=args.tol, progress=progress and bool(kw), **kw)
    else:
        result = tk.tr(x, rank=rank, tol=args.tol, seed=args.seed, progress=progress, **kw)
    elapsed = time.perf_counter() - start
    xf = np.asarray(x, dtype=np.result_type(x.dtype, np.float64))
    approx = tk.backend.to_numpy(result.to_tensor())
    seen = np.ones(xf.shape, bool) if observed is None else observed
    error = float(np.linalg.norm((approx - xf)[seen]) / max(np.linalg.norm(xf[seen]), 1e-300))
    print(f"{args.format} of {args.data}: shape {tuple(x.shape)}, rank {result.rank}")
    if observed is not None:
        print(f"observed        {seen.mean():.1%} of the entries (NaN ones are missing)")
    print(
        f"relative error  {error:.6g}"
        + (" (on the observed entries)" if observed is not None else "")
    )
    return _finish(args, result, x.size, elapsed)


def _finish(args: argparse.Namespace, result: Any, size: int, elapsed: float) -> int:
    """The report's closing lines (sizes, time) and the ``-o`` file."""
    import numpy as np

    import tnkit as tk

    print(f"parameters      {result.n_params:,} (dense {size:,})")
    print(f"compression     {size / result.n_params:.2f}x")
    if args.nonnegative:
        low = min(float(np.min(tk.backend.to_numpy(a))) for a in result.arrays)
        print(f"smallest entry  {low:.3g} (nonnegative fit)")
    print(f"time            {elapsed:.3f} s")
    if args.output:
        tk.save(result, args.output)
        print(f"saved to {args.output}")
    return 0


def _scan(args: argparse.Namespace, x: Any, progress: bool, kw: dict) -> Any:
    """``--scan-ranks``: the CP rank scan's table, and its suggested model."""
    import tnkit as tk

    _only_for("--scan-ranks", ("cp",), args.format)
    scan = tk.cp_rank_scan(
        x,
        _parse_span(args.scan_ranks),
        seed=args.seed,
        progress=progress,
        checkpoint=args.checkpoint,
        resume=args.resume,
        **kw,
    )
    if scan.resumed:
        print(f"resumed {len(scan.resumed)} ranks from {args.checkpoint}")
    print(scan.table())
    if not scan.validation:
        return scan.model()
    print(f"refitting rank {scan.suggested} to every observed entry (the scan held some out)")
    return scan.refit(x, **kw)


def _run_sparse(args: argparse.Namespace) -> int:
    """CP, Tucker, TT or TR of a sparse tensor file (``SparseTensor.save``), from its listed
    entries."""
    import tnkit as tk
    from tnkit import sparse

    x = sparse.load(args.data)
    if args.nonnegative:
        _only_for("--nonnegative", ("cp", "tucker"), args.format)
    if args.tol is not None:
        raise ValueError("--tol does not apply to a sparse tensor (give --rank)")
    if args.nan_missing or args.method is not None:
        raise ValueError("--nan-missing and --method do not apply to a sparse tensor")
    rank = _parse_rank(args.rank)
    if isinstance(rank, list) and args.format == "cp":
        raise ValueError("--format cp needs one integer --rank")
    kw: dict = {"nonnegative": True} if args.nonnegative else {}
    if args.max_iter is not None:
        kw["max_iter"] = args.max_iter
    if args.restarts is not None:
        _only_for("--restarts", ("tt", "tr"), args.format)
        kw["restarts"] = args.restarts
    start = time.perf_counter()
    if args.scan_ranks is not None:
        result = _scan(args, x, not args.quiet, kw)
    else:
        fit = {"cp": tk.cp, "tucker": tk.tucker, "tt": tk.tt, "tr": tk.tr}[args.format]
        result = fit(x, rank=rank, seed=args.seed, progress=not args.quiet, **kw)
    elapsed = time.perf_counter() - start
    where = "the listed entries" if x.unlisted == "missing" else "the whole tensor"
    print(f"{args.format} of {args.data}: shape {x.shape}, rank {result.rank}")
    print(f"listed entries  {x.nnz:,} ({x.density:.3%}; unlisted = {x.unlisted})")
    print(f"relative error  {result.history[-1]:.6g} (on {where})")
    return _finish(args, result, math.prod(x.shape), elapsed)


def _run_model(args: argparse.Namespace) -> int:
    """Recompress a saved TT or TR without forming its tensor: ``--format tt`` TT-rounds it
    (a TR through its exact TT), ``--format tr`` fits a ring to it (``tk.tr`` of the model)."""
    import tnkit as tk

    model = tk.load(args.data)
    if not isinstance(model, (tk.TT, tk.TR)):
        raise ValueError(
            f"{args.data} holds a {type(model).__name__}; a saved model is recompressed only "
            "when it is a TT or TR"
        )
    _only_for("--format of a saved model", ("tt", "tr"), args.format)
    for flag, given in (
        ("--nan-missing", args.nan_missing),
        ("--nonnegative", args.nonnegative),
        ("--scan-ranks", args.scan_ranks is not None),
        ("--key", args.key is not None),
    ):
        if given:
            raise ValueError(f"{flag} does not apply to a saved model")
    rank = _parse_rank(args.rank)
    start = time.perf_counter()
    if args.format == "tt":
        for flag, given in (
            ("--method", args.method),
            ("--max-iter", args.max_iter),
            ("--restarts", args.restarts),
        ):
            if given is not None:
                raise ValueError(f"{flag} does not apply to --format tt of a saved model")
        chain = model.to_tt() if isinstance(model, tk.TR) else model
        result = chain.round(tol=args.tol, rank=rank)
    else:
        kw: dict = {"method": args.method} if args.method is not None else {}
        if args.max_iter is not None:
            kw["max_iter"] = args.max_iter
        if args.restarts is not None:
            kw["restarts"] = args.restarts
        result = tk.tr(
            model, rank=rank, tol=args.tol, seed=args.seed, progress=not args.quiet, **kw
        )
    elapsed = time.perf_counter() - start
    error = float((result - model).norm()) / max(float(model.norm()), 1e-300)
    print(
        f"{args.format} of {args.data} ({type(model).__name__}, rank {model.rank}, "
        f"{model.n_params:,} parameters): shape {model.shape}, rank {result.rank}"
    )
    print(f"relative error  {error:.6g} (against the saved model)")
    return _finish(args, result, math.prod(model.shape), elapsed)
