"""`albertzero exercises --student DIR`: generate the student versions of the exercise notebooks."""
from __future__ import annotations

import argparse

HELP = "write the student versions of the exercise notebooks (solutions and outputs cleared, nbgrader style)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--student DIR, and --solutions DIR (default: the repository's exercises/)."""
    from ..paths import EXERCISES_DIR

    parser.add_argument("--student", required=True, metavar="DIR", help="where to write the student notebooks")
    parser.add_argument("--solutions", default=str(EXERCISES_DIR), metavar="DIR",
                        help="the solution notebooks NN_*.ipynb (default: exercises/ of this repository)")


def run(args: argparse.Namespace) -> int:
    """Write one student notebook per solution notebook and list them."""
    from ..exercises import write_student_versions

    for path in write_student_versions(args.solutions, args.student):
        print(path)
    return 0
