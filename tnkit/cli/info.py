"""``tnkit info FILE`` (alias ``tnkit inspect``) — describe what a file holds.

A network saved by tnkit (its nodes, bonds and size; for a decomposition its fit history and
options; for a structure-search result the search record), a checkpoint (of a BUG run, a CP
rank scan, a TT-cross or a layer compression), a structure-search checkpoint log, a sparse
tensor or a data tensor. ``--devices`` lists the compute devices.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "info",
        aliases=["inspect"],
        help="describe a saved network, search result, checkpoint or data tensor; list devices",
    )
    p.add_argument(
        "file",
        nargs="?",
        help="a network or search result saved by tnkit (.npz), a checkpoint (BUG, rank scan, "
        "TT-cross: .npz; compression: .pt), a search checkpoint (.jsonl) or a data tensor",
    )
    p.add_argument("--key", help="array name inside .npz/.mat/.h5 data files")
    p.add_argument(
        "--data",
        metavar="DATA",
        help="a data tensor (NaN entries count as missing) or a sparse tensor file: print the "
        "saved network's relative error and RMSE against it",
    )
    p.add_argument("--devices", action="store_true", help="list the compute devices available")
    return p


def run(args: argparse.Namespace) -> int:
    from .. import backend, io

    if args.devices:
        for line in backend.describe_devices():
            print(line)
        if not args.file:
            return 0
    if not args.file:
        raise ValueError("give a FILE (a saved network or a data tensor) or --devices")
    kind = file_kind(args.file)
    if args.data and kind != "network":
        raise ValueError(f"--data measures a saved network, but {args.file} holds a {kind}")
    if kind == "network":
        import solvers.search.result  # noqa: F401 - registers the search-result class with io

        net = io.load(args.file)
        _describe_network(net, args.file)
        if args.data:
            _measure(net, args.data, args.key)
    elif kind == "bug checkpoint":
        _describe_bug_checkpoint(args.file)
    elif kind == "rank scan checkpoint":
        _describe_rank_scan(args.file)
    elif kind == "cross checkpoint":
        _describe_cross(args.file)
    elif kind == "compress checkpoint":
        _describe_compress(args.file)
    elif kind == "search log":
        _describe_search_log(args.file)
    elif kind == "sparse tensor":
        _describe_sparse(args.file)
    else:
        _describe_tensor(np.asarray(io.load_tensor(args.file, key=args.key)), args.file)
    return 0


def file_kind(path: str) -> str:
    """What the file at ``path`` holds, from its first bytes (never unpickling)."""
    if path.endswith(".jsonl") and os.path.isfile(path):
        return "search log"
    if path.endswith((".pt", ".pth")) and os.path.isfile(path):
        return "compress checkpoint"
    if not path.endswith(".npz") or not os.path.isfile(path):
        return "tensor"
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
    except Exception:  # noqa: BLE001 - not a readable archive: load_tensor says why
        return "tensor"
    if "structure" in files:
        return "network"
    if "meta" in files:
        from ..decompose import cp_rank, tt_cross

        formats = {
            "tnkit.bug.checkpoint/1": "bug checkpoint",
            cp_rank.CHECKPOINT_FORMAT: "rank scan checkpoint",
            tt_cross.CHECKPOINT_FORMAT: "cross checkpoint",
        }
        meta, _ = _record(path)
        return formats.get(meta.get("format"), "tensor")
    from ..sparse import FILE_KEYS

    if set(FILE_KEYS) <= files:
        return "sparse tensor"
    return "tensor"


def _describe_network(net: Any, path: str) -> None:
    print(f"{type(net).__name__} from {path}")
    print(net.summary())
    history = getattr(net, "history", None)
    if history:
        print(f"fit: {len(history)} sweeps, relative error {history[0]:.4g} -> {history[-1]:.4g}")
    options = getattr(net, "options", None)
    if options:
        print("options: " + ", ".join(f"{k}={v}" for k, v in options.items()))
    record = getattr(net, "search", None)
    if record:
        print(
            f"search: {record['method']}, {record['n_evaluations']} evaluations "
            f"(best at #{record['best_evaluation']}), rse {record['rse']:.4g}, "
            f"{record['n_params']} parameters, {record['wall_time']:.1f} s"
        )


def _measure(net: Any, path: str, key: str | None) -> None:
    """The network's relative error and RMSE against the data in ``path`` (``--data``)."""
    from .. import io, metrics, sparse

    if sparse.holds_sparse(path):
        data, mask = sparse.load(path), None
        where = f"{data.nnz:,} listed entries" if data.unlisted == "missing" else "every entry"
    else:
        data = np.asarray(io.load_tensor(path, key=key))
        seen = ~np.isnan(data) if np.issubdtype(data.dtype, np.floating) else None
        mask = None if seen is None or seen.all() else seen
        where = "every entry" if mask is None else f"{int(mask.sum()):,} non-NaN entries"
    error = metrics.relative_error(net, data, mask)
    print(
        f"against {path} ({where}): relative error {error:.6g}, "
        f"RMSE {metrics.rmse(net, data, mask):.6g}"
    )


def _record(path: str) -> tuple[dict, dict]:
    """The JSON meta and the arrays of a checkpoint ``.npz`` (never unpickled)."""
    from .. import io

    return io.load_record(path, "tnkit checkpoint")


def _describe_rank_scan(path: str) -> None:
    from ..decompose.cp_rank import RankScan

    meta, _ = _record(path)
    scan = RankScan()
    for row in meta["ranks"]:
        scan.ranks.append(row["rank"])
        scan.errors.append(row["error"])
        scan.consistency.append(row["consistency"])
        scan.norm_ratio.append(row["norm_ratio"])
        if row.get("held_out") is not None:
            scan.validation.append(row["held_out"])
    settings = meta["settings"]
    print(f"CP rank scan checkpoint {path}: data shape {tuple(settings['shape'])}")
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items() if k != "shape"))
    print(scan.table())
    print("resume with cp_rank_scan(..., checkpoint=..., resume=True) or --resume")


def _describe_cross(path: str) -> None:
    meta, arrays = _record(path)
    values = arrays["values"]
    shape = tuple(meta["shape"])
    print(f"TT-cross checkpoint {path}: grid shape {shape}")
    print(f"entries evaluated: {values.size:,} of {float(np.prod(shape, dtype=float)):.3g}")
    if values.size:
        print(f"values: {np.min(np.abs(values)):.4g} <= |f| <= {np.max(np.abs(values)):.4g}")
    print("resume with tt_cross(..., checkpoint=..., resume=True)")


def _describe_compress(path: str) -> None:
    try:
        from ..nn.factorizations import read_checkpoint
    except ImportError:
        raise ValueError(f"{path}: reading a .pt file needs PyTorch") from None
    state = read_checkpoint(path)
    entries = state["entries"]
    print(f"compress checkpoint {path}: {len(entries)} factorization(s)")
    print("fit options: " + ", ".join(f"{k}={v}" for k, v in state["fit"].items()))
    for e in entries:
        ranks = ",".join(map(str, e["ranks"]))
        print(f"  {e['name']}: {e['method']} ranks {ranks}, weight error {e['error']:.4g}")
    print("resume with compress(..., checkpoint=..., resume=True) or --resume")


def _describe_bug_checkpoint(path: str) -> None:
    meta, arrays = _record(path)
    shapes = {k.split(".", 1)[1]: a.shape for k, a in arrays.items() if k.startswith("state.")}
    settings, hist = meta["settings"], meta["history"]
    kind = "low-rank matrix" if meta["kind"] == "matrix" else f"tree {meta['kind']}"
    print(f"BUG checkpoint {path}: {kind}")
    print(f"steps done: {meta['steps_done']}, t = {meta['time']:.6g}")
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(
        f"last step: norm {hist['norm'][-1]:.12g}, max rank {hist['max_rank'][-1]}, "
        f"ranks {hist['ranks'][-1]}"
    )
    print("arrays: " + ", ".join(f"{k} {'x'.join(map(str, s))}" for k, s in shapes.items()))


def _describe_search_log(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    try:
        header = json.loads(lines[0])["header"]
    except (IndexError, KeyError, json.JSONDecodeError):
        raise ValueError(f"{path} is not a tnkit search checkpoint") from None
    fits = []
    for line in lines[1:]:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by an interruption
            break
        if record.get("kind") == "fit":
            fits.append(record)
    print(f"search checkpoint {path}: {header['method']}, data shape {tuple(header['shape'])}")
    print(f"evaluations logged: {len(fits)} fits, {len(lines) - 1 - len(fits)} other records")
    if fits:
        best = min(fits, key=lambda r: r["f"])
        print(
            f"best so far: #{best['index']} rse {best['rse']:.4g}, {best['n_params']} "
            f"parameters, ranks {best['structure']['ranks']}"
        )
    print("resume with the same command (or call) and --resume / resume=True")


def _describe_sparse(path: str) -> None:
    from ..sparse import load

    x = load(path)
    values = np.asarray(x.values)
    print(f"sparse tensor from {path}: shape {x.shape}, dtype {values.dtype}")
    print(f"listed entries {x.nnz:,} of {np.prod(x.shape, dtype=float):.4g} ({x.density:.3%})")
    print(f"unlisted entries are {'zeros' if x.unlisted == 'zero' else 'missing'}")
    if x.nnz:
        real = values.real
        print(f"norm {x.norm():.6g}  min {real.min():.6g}  max {real.max():.6g}")


def _describe_tensor(x: np.ndarray, path: str) -> None:
    print(f"tensor from {path}: shape {x.shape}, dtype {x.dtype}, {x.size:,} entries")
    if x.dtype.kind in "fciu":
        xf = x.astype(np.float64) if x.dtype.kind != "c" else x
        norm = np.linalg.norm(xf.ravel())
        print(f"norm {norm:.6g}  min {xf.real.min():.6g}  max {xf.real.max():.6g}")
