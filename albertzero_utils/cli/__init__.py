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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every available subcommand; with ``only``, the options of that subcommand
    alone are added (the others keep their one-line help), so a command reads only its own modules."""
    parser = _Parser(prog="albertzero", description="albertZero: ALBERT, SQuAD 2.0 and the re-init trick.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module in _available_commands().items():
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        if only is None or name == only:
            module.add_arguments(command)
        command.set_defaults(_run=module.run, _prog=f"albertzero {name}")
    return parser


def _check_text(argv: Sequence[str]) -> None:
    """One line for an argument that is not UTF-8 text (undecodable bytes reach Python as lone surrogates)."""
    for position, arg in enumerate(argv, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            shown = arg.encode("utf-8", "surrogateescape" if 0xDC80 <= ord(arg[exc.start]) <= 0xDCFF
                               else "backslashreplace")
            sys.stderr.write(f"albertzero: error: argument {position} ({ascii(shown)[2:-1][:80]}) is not valid "
                             f"UTF-8 text (a lone surrogate or undecodable bytes); re-type it or rename the file\n")
            raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `albertzero` and `python -m albertzero_utils`."""
    from ..errors import AlbertZeroError

    if hasattr(sys.stderr, "reconfigure"):  # a message quoting odd text never fails to print
        sys.stderr.reconfigure(errors="backslashreplace")
    argv = list(sys.argv[1:] if argv is None else argv)
    _check_text(argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = build_parser(only=command if command in COMMANDS else "")  # "": no subcommand needs its options
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
    except RecursionError:  # a JSON or YAML input nested thousands deep that no reader caught by name
        sys.stderr.write(f"{args._prog}: error: an input file is nested too deeply to read\n")
        return 2
    except OSError as exc:  # a path that cannot be read or written (a folder, /proc, a file in the way)
        where = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        reason = exc.strerror or " ".join(str(exc).split())
        sys.stderr.write(f"{args._prog}: error: {where}: {reason}\n" if where else f"{args._prog}: error: {reason}\n")
        return 1
