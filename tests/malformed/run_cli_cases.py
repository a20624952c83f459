"""Run many `python -m albertzero_utils ARGS` invocations in one interpreter (imports paid once).

Usage: ``python run_cli_cases.py CASES.json RESULTS.json`` where CASES.json maps a case id to its argv.
Each case runs the package's ``__main__`` exactly as ``-m`` does (``runpy``, ``run_name="__main__"``), with
file descriptors 1 and 2 redirected to files, so everything the real command would print is captured
(C-level writes and logging handlers included). An exception escaping ``__main__`` is printed as the
interpreter would print it (a traceback) with exit code 1. Warnings are reset for every case, so a warning
shown once per process is shown in every case that triggers it.
"""
from __future__ import annotations

import json
import os
import runpy
import sys
import tempfile
import traceback
import warnings


def run_case(argv: list[str]) -> dict:
    """Exit code, stdout and stderr of ``python -m albertzero_utils *argv``."""
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.argv = ["albertzero_utils", *argv]
        code = 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                runpy.run_module("albertzero_utils", run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - what the interpreter would print for an uncaught exception
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
        out.seek(0)
        err.seek(0)
        return {"code": code, "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")}


def main() -> int:
    cases_file, results_file = sys.argv[1:3]  # read first: each case replaces sys.argv
    cases = json.loads(open(cases_file, encoding="utf-8").read())
    results = {case_id: run_case(argv) for case_id, argv in cases.items()}
    with open(results_file, "w", encoding="utf-8") as handle:
        json.dump(results, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
