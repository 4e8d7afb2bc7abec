"""``napari-msdl``: the command line over the library.

Each subcommand lives in its own module here and exposes ``register(subparsers)``; heavy
imports happen inside the command, so ``napari-msdl --help`` is instant. Errors in the
user's input (bad files, bad parameters) print one line and exit with status 2, no
traceback; Ctrl-C exits with 130 and leaves no half-written output.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS = ("phantoms", "train", "prune", "detect", "evaluate", "view")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-msdl",
        description="Marginal Space Deep Learning for the aortic valve in 3D TEE volumes: "
        "synthetic data, training, pruning, detection and evaluation.",
    )
    parser.add_argument("--traceback", action="store_true",
                        help="show the full Python traceback on errors (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"napari_msdl.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"napari_msdl.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-msdl`` console script; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command line as given, for model cards
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("napari-msdl: interrupted; nothing half-written was left behind", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
            PermissionError) as e:
        if args.traceback:
            raise
        print(f"napari-msdl {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
