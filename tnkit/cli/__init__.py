"""The ``tnkit`` command line: one sub-command per module of this package.

Each sub-command module defines ``add_parser(subparsers)`` and ``run(args) -> int``; this
module only parses, dispatches and turns user mistakes into one readable line and exit code 2.
Heavy imports (solvers, torch) happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Sub-command modules of tnkit.cli, in the order `tnkit --help` lists them.
COMMANDS = ("demo", "info", "draw", "compress", "evolve", "search", "decompose")
USER_ERRORS = (ValueError, TypeError, KeyError, OSError, ImportError, MemoryError)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (and exit code 2), like the
    errors :func:`main` reports; ``--help`` still shows the full usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def check_output(path: str | None, option: str) -> None:
    """Refuse an output ``path`` whose folder does not exist, before any work is done."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{option} {path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"{option} {path} is a directory, expected a file name")


def one_line(err: BaseException) -> str:
    """The message of ``err`` as one line (its first non-empty line)."""
    msg = err.args[0] if isinstance(err, KeyError) and err.args else err
    lines = [line.strip() for line in str(msg).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to generate the CLI reference)."""
    from .. import __version__

    parser = Parser(prog="tnkit", description="Tensor networks and low-rank decompositions.")
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
        print(f"tnkit {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
