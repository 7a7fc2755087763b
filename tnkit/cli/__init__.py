"""The ``tnkit`` command line: one sub-command per module of this package.

Each sub-command module defines ``add_parser(subparsers)`` and ``run(args) -> int``; this
module only parses, dispatches and turns user mistakes into one readable line and exit code 2.
Heavy imports (solvers, torch) happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command modules of tnkit.cli, in the order `tnkit --help` lists them.
COMMANDS = ("demo", "info", "draw", "compress", "evolve", "search", "decompose")
USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, ImportError, MemoryError)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to generate the CLI reference)."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="tnkit", description="Tensor networks and low-rank decompositions."
    )
    parser.add_argument("--version", action="version", version=f"tnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        cmd = module.add_parser(sub)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tnkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("tnkit: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"tnkit {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
