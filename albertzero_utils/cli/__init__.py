"""The `albertzero` command line: a thin dispatcher over one module per subcommand.

Each subcommand module in this package defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. User-facing problems raise :class:`~albertzero_utils.errors.AlbertZeroError`
and are printed here as one line on stderr, with a non-zero exit and no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

#: Subcommand name -> module under albertzero_utils.cli (imported lazily, so `--help` is fast).
COMMANDS: dict[str, str] = {
    "pretrain": "pretrain",
    "train": "train",
    "compare": "compare",
    "evaluate": "evaluate",
    "inspect": "inspect",
    "predict": "predict",
    "plot": "plot",
    "exercises": "exercises",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (no usage dump) with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _available_commands() -> dict[str, object]:
    modules = {}
    for name, module in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:  # a subcommand whose issue has not landed yet
            if exc.name != f"{__name__}.{module}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available subcommand."""
    parser = _Parser(prog="albertzero", description="albertZero: ALBERT, SQuAD 2.0 and the re-init trick.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module in _available_commands().items():
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run, _prog=f"albertzero {name}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `albertzero` and `python -m albertzero_utils`."""
    from ..errors import AlbertZeroError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except AlbertZeroError as exc:
        message = " ".join(str(exc).split())
        sys.stderr.write(f"{args._prog}: error: {message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{args._prog}: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a path that cannot be read or written (a folder, /proc, a file in the way)
        where = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        reason = exc.strerror or " ".join(str(exc).split())
        sys.stderr.write(f"{args._prog}: error: {where}: {reason}\n" if where else f"{args._prog}: error: {reason}\n")
        return 1
