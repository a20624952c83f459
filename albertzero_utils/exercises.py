"""Student versions of the exercise notebooks, generated from the solution versions the way nbgrader does.

The solution notebooks in ``exercises/`` are the one source of truth. Their cells carry nbgrader's metadata
(``metadata.nbgrader``: ``solution``, ``grade``, ``locked``, ``points``, ``grade_id``, ``schema_version: 3``,
``task``). :func:`student_notebook` applies nbgrader's *ClearSolutions* rules, so an instructor's ``nbgrader
generate_assignment`` and ``albertzero exercises --student DIR`` give the same student version:

- in a solution code cell, every region from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` becomes
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (indented like the marker); a solution code cell without
  markers is replaced whole;
- a solution markdown cell (an open question's model answer) becomes ``YOUR ANSWER HERE``;
- every output and execution count is cleared.

A graded check cell (``grade: true``, ``solution: false``) calls the student's functions, so in the student
version each check fails with ``NotImplementedError`` until it is answered.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from .errors import AlbertZeroError
from .fileio import write_text_atomic

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = "YOUR ANSWER HERE"


class ExerciseError(AlbertZeroError):
    """An exercise notebook breaks the solution conventions (e.g. a BEGIN SOLUTION without its END)."""


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


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def clear_solution_code(source: str, where: str = "cell") -> str:
    """Replace each BEGIN/END SOLUTION region (markers included) by the indented code stub."""
    lines, out, inside = source.splitlines(), [], False
    if not any(BEGIN_SOLUTION in line or END_SOLUTION in line for line in lines):
        return "\n".join(CODE_STUB)
    for line in lines:
        if BEGIN_SOLUTION in line:
            if inside:
                raise ExerciseError(f"{where}: {BEGIN_SOLUTION} inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + stub for stub in CODE_STUB)
        elif END_SOLUTION in line:
            if not inside:
                raise ExerciseError(f"{where}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ExerciseError(f"{where}: {BEGIN_SOLUTION} without {END_SOLUTION}")
    return "\n".join(out)


def student_cell(cell: dict[str, Any], where: str = "cell") -> dict[str, Any]:
    """The student version of one cell (a copy; the solution cell is left unchanged)."""
    cell = copy.deepcopy(cell)
    if is_solution_cell(cell):
        if cell["cell_type"] == "code":
            cell["source"] = clear_solution_code(_source(cell), where)
        else:
            cell["source"] = TEXT_STUB
    if cell["cell_type"] == "code":
        cell["outputs"], cell["execution_count"] = [], None
    return cell


def student_notebook(nb: dict[str, Any], name: str = "notebook") -> dict[str, Any]:
    """The student version of a solution notebook: solutions cleared, outputs cleared."""
    student = copy.deepcopy(nb)
    student["cells"] = [student_cell(cell, f"{name}, cell {i}") for i, cell in enumerate(nb["cells"])]
    return student


def solution_notebooks(directory: str | os.PathLike) -> list[Path]:
    """The solution notebooks of a directory: ``NN_*.ipynb``, in order."""
    return sorted(Path(directory).glob("[0-9][0-9]_*.ipynb"))


def write_student_versions(solution_dir: str | os.PathLike, student_dir: str | os.PathLike) -> list[Path]:
    """Write the student version of every solution notebook of ``solution_dir`` into ``student_dir``."""
    sources = solution_notebooks(solution_dir)
    if not sources:
        raise ExerciseError(f"{solution_dir}: no exercise notebooks (NN_*.ipynb) found")
    if Path(student_dir).resolve() == Path(solution_dir).resolve():
        raise ExerciseError(f"{student_dir}: the student versions must not overwrite the solutions")
    written = []
    for path in sources:
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ExerciseError(f"{path}: not a readable notebook ({exc})") from exc
        student = student_notebook(nb, str(path))
        target = Path(student_dir) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        written.append(write_text_atomic(target, json.dumps(student, indent=1, ensure_ascii=False) + "\n"))
    return written
