"""`albertzero exercises --student DIR | --course DIR`: the exercises through nbgrader (a dev dependency)."""
from __future__ import annotations

import argparse

HELP = "the exercises by nbgrader: the student versions (--student DIR) or a whole course directory (--course DIR)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--student DIR or --course DIR, and --solutions DIR (default: the repository's exercises/)."""
    from ..paths import EXERCISES_DIR

    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--student", metavar="DIR",
                      help="write the student notebooks here (nbgrader generate_assignment)")
    what.add_argument("--course", metavar="DIR",
                      help="a new nbgrader course directory: release, the blank release and the solutions "
                           "autograded, and their feedback (make assignments)")
    parser.add_argument("--solutions", default=str(EXERCISES_DIR), metavar="DIR",
                        help="the solution notebooks NN_*.ipynb (default: exercises/ of this repository)")


def run(args: argparse.Namespace) -> int:
    """Write the student notebooks, or build the course and print each submission's autograded scores."""
    from ..exercises import build_course, generate_release

    if args.student:
        for path in generate_release(args.solutions, args.student):
            print(path)
        return 0
    for student, notebooks in build_course(args.course, args.solutions).items():
        for name, (score, maximum) in notebooks.items():
            print(f"{student:6s} {name:18s} {score:g} / {maximum:g}")
    print(f"release: {args.course}/release/  feedback: {args.course}/feedback/")
    return 0
