"""``tnkit info FILE`` — describe a saved network or a data tensor; ``--devices`` lists GPUs."""

from __future__ import annotations

import argparse
import os

import numpy as np


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("info", help="describe a saved network or data tensor, or list devices")
    p.add_argument("file", nargs="?", help="a network saved by tnkit (.npz) or a data tensor")
    p.add_argument("--key", help="array name inside .npz/.mat/.h5 data files")
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
    if _is_network_file(args.file):
        net = io.load(args.file)
        print(f"{type(net).__name__} from {args.file}")
        print(net.summary())
        return 0
    x = io.load_tensor(args.file, key=args.key)
    x = np.asarray(x)
    print(f"tensor from {args.file}: shape {x.shape}, dtype {x.dtype}, {x.size:,} entries")
    if x.dtype.kind in "fc" or x.dtype.kind in "iu":
        xf = x.astype(np.float64) if x.dtype.kind != "c" else x
        norm = np.linalg.norm(xf.ravel())
        print(f"norm {norm:.6g}  min {xf.real.min():.6g}  max {xf.real.max():.6g}")
    return 0


def _is_network_file(path: str) -> bool:
    if not path.endswith(".npz") or not os.path.isfile(path):
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "structure" in data.files
    except Exception:  # noqa: BLE001 - not a readable archive: load_tensor says why
        return False
