"""The exercise notebooks as an nbgrader course: release versions, autograding and feedback, all by nbgrader.

The solution notebooks in ``exercises/`` are the one source of truth. Their cells carry nbgrader's metadata
(``metadata.nbgrader``: ``solution``, ``grade``, ``locked``, ``points``, ``grade_id``, ``schema_version: 3``,
``task``) and mark each solution region with ``### BEGIN SOLUTION`` / ``### END SOLUTION``. Nothing here
re-implements nbgrader: :func:`generate_release` (``albertzero exercises --student DIR``) and
:func:`build_course` (``make assignments``) run nbgrader's own ``generate_assignment``, ``autograde`` and
``generate_feedback`` in a course directory (``nbgrader`` is a dev dependency: ``pip install -e ".[dev]"``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .errors import AlbertZeroError
from .fileio import write_text_atomic

#: nbgrader's solution delimiters, exactly as the solution code cells use them (nowhere else: nbgrader matches
#: "BEGIN SOLUTION" on any line of any cell).
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
#: The assignment's name in the course directory (nbgrader's ``source/ASSIGNMENT/``).
ASSIGNMENT = "albertzero"
#: nbgrader's per-cell execution limit during autograding, in seconds. nbgrader's default is 30; the checks
#: take at most a few seconds, but exercise 6.4's two training cells take up to a minute on 2 busy cores.
CELL_TIMEOUT_S = 300
COURSE_CONFIG = f"""# nbgrader course configuration written by albertzero_utils.exercises (docs/teaching.md)
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "albertzero"
c.Execute.timeout = {CELL_TIMEOUT_S}  # seconds per cell: exercise 6.4 trains two tiny runs
"""


class ExerciseError(AlbertZeroError):
    """The exercises cannot be built: no notebooks, a bad target directory, nbgrader missing or failing."""


def nbgrader_metadata(cell: dict[str, Any]) -> dict[str, Any]:
    """The cell's ``metadata.nbgrader`` (empty for an ordinary cell)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution_cell(cell: dict[str, Any]) -> bool:
    """A cell whose content the student writes (nbgrader ``solution: true``)."""
    return bool(nbgrader_metadata(cell).get("solution"))


def is_graded_check(cell: dict[str, Any]) -> bool:
    """An auto-graded test cell: code, ``grade: true`` and not itself a solution."""
    meta = nbgrader_metadata(cell)
    return cell["cell_type"] == "code" and bool(meta.get("grade")) and not meta.get("solution")


def solution_notebooks(directory: str | os.PathLike) -> list[Path]:
    """The solution notebooks of a directory: ``NN_*.ipynb``, in order."""
    return sorted(Path(directory).glob("[0-9][0-9]_*.ipynb"))


def nbgrader(course: str | os.PathLike, *args: str) -> str:
    """Run ``nbgrader ARGS`` in the course directory with this interpreter; its log, or ExerciseError."""
    try:
        import nbgrader as _  # noqa: F401
    except ImportError as exc:
        raise ExerciseError("nbgrader is not installed: pip install -e \".[dev]\" (or pip install nbgrader)") from exc
    env = dict(os.environ)
    # nbgrader runs alembic (its database migrations) as a program: the interpreter's bin/ must be on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={Path(course).resolve()}"]
    done = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
    log = done.stdout + done.stderr
    errors = [line for line in log.splitlines() if "| ERROR]" in line or "| CRITICAL]" in line]
    if done.returncode != 0 or errors:
        last = (errors or log.strip().splitlines() or ["no output"])[-1]
        raise ExerciseError(f"nbgrader {args[0]} failed in {course}: {last.strip()}")
    return log


def make_course(course: str | os.PathLike, solutions: str | os.PathLike) -> Path:
    """A fresh nbgrader course directory: ``nbgrader_config.py`` and ``source/albertzero/`` = the solutions."""
    sources = solution_notebooks(solutions)
    if not sources:
        raise ExerciseError(f"{solutions}: no exercise notebooks (NN_*.ipynb) found")
    course = Path(course)
    if course.exists() and any(course.iterdir()):
        raise ExerciseError(f"{course}: the course directory must be new or empty")
    source = course / "source" / ASSIGNMENT
    source.mkdir(parents=True, exist_ok=True)
    write_text_atomic(course / "nbgrader_config.py", COURSE_CONFIG)
    for path in sources:
        shutil.copyfile(path, source / path.name)
    return course


def submit(course: str | os.PathLike, student: str, notebooks: list[Path]) -> Path:
    """Place notebooks as ``student``'s submission, as ``nbgrader collect`` (or a zip import) would."""
    target = Path(course) / "submitted" / student / ASSIGNMENT
    target.mkdir(parents=True, exist_ok=True)
    for path in notebooks:
        shutil.copyfile(path, target / path.name)
    return target


def release_dir(course: str | os.PathLike) -> Path:
    """Where ``generate_assignment`` writes the student version."""
    return Path(course) / "release" / ASSIGNMENT


def generate_release(solutions: str | os.PathLike, student_dir: str | os.PathLike) -> list[Path]:
    """Write the student version of every solution notebook into ``student_dir``, by nbgrader's
    ``generate_assignment`` (solutions replaced by stubs, outputs cleared, checksums of the locked cells)."""
    if Path(student_dir).resolve() == Path(solutions).resolve():
        raise ExerciseError(f"{student_dir}: the student versions must not overwrite the solutions")
    if not solution_notebooks(solutions):
        raise ExerciseError(f"{solutions}: no exercise notebooks (NN_*.ipynb) found")
    with tempfile.TemporaryDirectory(prefix="albertzero-course-") as tmp:
        course = make_course(Path(tmp) / "course", solutions)
        nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
        written = []
        Path(student_dir).mkdir(parents=True, exist_ok=True)
        for path in sorted(release_dir(course).glob("*.ipynb")):
            written.append(write_text_atomic(Path(student_dir) / path.name, path.read_text(encoding="utf-8")))
    return written


def code_scores(course: str | os.PathLike, student: str) -> dict[str, tuple[float, float]]:
    """Per notebook, the autograded (score, maximum) of a student's submission, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(course).resolve() / 'gradebook.db'}") as book:
        submission = book.find_submission(ASSIGNMENT, student)
        return {nb.name: (nb.code_score, nb.max_code_score) for nb in submission.notebooks}


def build_course(course: str | os.PathLike, solutions: str | os.PathLike) -> dict[str, dict[str, tuple[float, float]]]:
    """``make assignments``: a course directory with the release, and two example submissions (the blank
    release, ``blank``, and the solutions, ``model``) autograded and given feedback. Returns their scores."""
    course = make_course(course, solutions)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    submit(course, "blank", sorted(release_dir(course).glob("*.ipynb")))
    submit(course, "model", solution_notebooks(solutions))
    nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force")
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force")
    return {student: code_scores(course, student) for student in ("blank", "model")}
