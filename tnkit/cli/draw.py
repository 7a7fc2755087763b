"""``tnkit draw FILE -o out.png`` — draw a saved network."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("draw", help="draw a saved network to an image file")
    p.add_argument("file", help="a network saved by tnkit (.npz)")
    p.add_argument("-o", "--output", default="network.png", help="image file to write")
    return p


def run(args: argparse.Namespace) -> int:
    from .. import io, plot
    from . import check_output

    check_output(args.output, "-o")
    net = io.load(args.file)
    fig = plot.draw(net)
    fig.savefig(args.output, dpi=120, bbox_inches="tight")
    print(f"wrote {args.output}")
    return 0
