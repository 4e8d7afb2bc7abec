"""``napari-msdl``: the command line over the library.

Each subcommand lives in its own module here and exposes ``register(subparsers)``; heavy
imports happen inside the command, so ``napari-msdl --help`` is instant. Errors in the
user's input (bad files, bad parameters, a full disk, a path the file system refuses) print
one line and exit with status 2, no traceback (``--traceback`` shows it); an unexpected
error prints one line and exits with 1; Ctrl-C exits with 130 and leaves no half-written
output.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from napari_msdl._io import OUTPUT_RULE

SUBCOMMANDS = ("phantoms", "train", "prune", "detect", "evaluate", "view")
OUTPUTS = f"Outputs: {OUTPUT_RULE}; every file is written atomically."
"""The epilog of every subcommand that writes: the output rule, checked before any work."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-msdl",
        description="Marginal Space Deep Learning for the aortic valve in 3D TEE volumes: "
        "synthetic data, training, pruning, detection and evaluation.", epilog=OUTPUTS,
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
    except (ValueError, OSError, MemoryError) as e:
        if args.traceback:
            raise
        print(f"napari-msdl {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: still one line, the traceback on request
        if args.traceback:
            raise
        print(f"napari-msdl {args.command}: internal error: {type(e).__name__}: "
              f"{_one_line(e)} (run again with --traceback and report it)", file=sys.stderr)
        return 1


def _one_line(e: BaseException) -> str:
    """The error as one line: an OSError with its path and reason, a MemoryError said so."""
    if isinstance(e, MemoryError):
        return "out of memory (a smaller input or option, or a machine with more memory)"
    if isinstance(e, OSError) and e.strerror:
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    return " ".join(str(e).split()) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
