"""The `albertzero` entry points: same CLI from the console script and `python -m`, one-line usage errors."""
from __future__ import annotations

import subprocess
import sys

import pytest

from albertzero_utils.cli import COMMANDS, build_parser, main


def test_python_dash_m_is_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "albertzero_utils", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "albertzero" in done.stdout


def test_unknown_subcommand_is_one_line_error(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["no-such-command"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0] and "Traceback" not in err[0]


def test_every_registered_command_is_buildable() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)  # a subcommand whose module fails to import is dropped silently
