"""``tnkit compress MODEL`` — low-rank compression of a PyTorch model's Linear/Conv layers."""

from __future__ import annotations

import argparse
import json

METHODS = ("svd", "tucker", "cp", "cp4", "tt")

ACCEPTED = (
    "MODEL is a torch.export archive (.pt2), or a TorchScript archive or a state dict saved by "
    "torch.save, both together with --factory package.module:function that builds the "
    "architecture. Files are never unpickled (state dicts are read with weights_only=True)."
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "compress",
        help="compress a PyTorch model's Linear/Conv layers by SVD, Tucker-2, CP or TT",
        description=ACCEPTED,
    )
    p.add_argument("model", help="torch.export archive, TorchScript archive or state dict")
    p.add_argument("--method", choices=METHODS, default="svd", help="factorization of k×k convs")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--ratio", type=float, help="fraction of the layers' parameters kept")
    size.add_argument("--tol", type=float, help="relative weight-error tolerance per layer")
    p.add_argument("--budget", choices=("global", "per_layer"), default="global")
    p.add_argument(
        "--rank-multiple",
        type=int,
        default=1,
        metavar="M",
        help="every rank of at least M is a multiple of M (16 suits oneDNN's AVX-512 CPU "
        "convolutions, which compute output channels in blocks of 16)",
    )
    p.add_argument("--layers", help="comma-separated layer names (default: all Linear/Conv)")
    p.add_argument("--factory", help="package.module:function building the architecture")
    p.add_argument("--input-shape", help="example input shape, e.g. 1,3,32,32 (MACs, saving)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="save every layer factorization to FILE as it is done (no pickled objects)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="take the factorizations already in the --checkpoint file from it",
    )
    p.add_argument(
        "-o",
        "--output",
        help="save the compressed model (.pt2: torch.export, otherwise TorchScript)",
    )
    p.add_argument("--report", help="write the report as JSON to this file")
    return p


def run(args: argparse.Namespace) -> int:
    import torch

    from ..nn import compress
    from ..nn.modelio import load_model, save_model
    from . import check_output

    check_output(args.output, "-o")
    check_output(args.report, "--report")
    check_output(args.checkpoint, "--checkpoint")
    model, example = load_model(args.model, args.factory)
    if args.input_shape:
        try:
            shape = tuple(int(n) for n in args.input_shape.split(","))
        except ValueError as err:
            raise ValueError(f"--input-shape must be integers like 1,3,32,32: {err}") from err
        if any(n < 1 for n in shape):
            raise ValueError(f"--input-shape must be positive integers, got {args.input_shape}")
        example = (torch.randn(shape, generator=torch.Generator().manual_seed(args.seed)),)
    layers = args.layers.split(",") if args.layers else None
    small, report = compress(
        model,
        args.method,
        ratio=args.ratio,
        tol=args.tol,
        layers=layers,
        budget=args.budget,
        rank_multiple=args.rank_multiple,
        calibration=None if example is None else example[0],
        seed=args.seed,
        checkpoint=args.checkpoint,
        resume=args.resume,
    )
    print(report)
    if example is not None:
        print("(MACs per sample and output errors measured on a random input)")
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report.to_dict(), f, indent=2)
    if args.output:
        if example is None:
            raise ValueError("saving needs an example input: give --input-shape")
        kind = save_model(small, args.output, example)
        print(f"saved {kind} model to {args.output}")
    return 0
