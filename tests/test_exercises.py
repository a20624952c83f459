"""The exercises: nbgrader-style solution notebooks, and student versions generated from them whose graded
checks all fail until answered. (`make test` also runs the solutions under strict nbval.)"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from albertzero_utils import exercises, paths
from albertzero_utils.cli import main

CHAPTERS = ["01_anatomy", "02_head", "03_reinit", "04_early_gain", "05_ask"]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def solution_paths() -> list[Path]:
    return exercises.solution_notebooks(paths.EXERCISES_DIR)


# --- the solution notebooks ----------------------------------------------------------------------------------

def test_one_solution_notebook_per_chapter() -> None:
    assert [path.stem for path in solution_paths()] == CHAPTERS


@pytest.mark.parametrize("name", CHAPTERS)
def test_each_chapter_has_graded_exercises_and_open_questions(name: str) -> None:
    nb = load(paths.EXERCISES_DIR / f"{name}.ipynb")
    metas = [exercises.nbgrader_metadata(cell) for cell in nb["cells"]]
    ids = [meta["grade_id"] for meta in metas if meta]
    assert len(ids) == len(set(ids)), "grade_id must be unique"
    for meta in filter(None, metas):
        assert meta["schema_version"] == 3 and set(meta) >= {"grade", "grade_id", "locked", "solution", "task"}
        assert not meta["grade"] or meta["points"] > 0
    checks = [cell for cell in nb["cells"] if exercises.is_graded_check(cell)]
    code_solutions = [c for c in nb["cells"] if exercises.is_solution_cell(c) and c["cell_type"] == "code"]
    open_answers = [c for c in nb["cells"] if exercises.is_solution_cell(c) and c["cell_type"] == "markdown"]
    assert len(checks) >= 3 and len(code_solutions) == len(checks)
    assert 2 <= len(open_answers) <= 4 and all(exercises.nbgrader_metadata(c)["grade"] for c in open_answers)
    for cell in code_solutions:
        text = source(cell)
        assert exercises.BEGIN_SOLUTION in text and exercises.END_SOLUTION in text
    for cell in checks:
        assert exercises.nbgrader_metadata(cell)["locked"] and "assert" in source(cell)


def test_at_least_fifteen_graded_exercises_in_all() -> None:
    checks = [cell for path in solution_paths() for cell in load(path)["cells"] if exercises.is_graded_check(cell)]
    assert len(checks) >= 15


@pytest.mark.parametrize("path", solution_paths(), ids=lambda path: path.stem)
def test_solutions_are_committed_with_their_outputs_and_no_error(path: Path) -> None:
    cells = [cell for cell in load(path)["cells"] if cell["cell_type"] == "code"]
    assert all(cell["execution_count"] for cell in cells), "record the outputs (make notebooks)"
    outputs = [output for cell in cells for output in cell["outputs"]]
    assert not [output for output in outputs if output["output_type"] == "error"]
    assert not [output for output in outputs if output.get("name") == "stderr"], "no warnings in the outputs"
    for cell in cells:
        if exercises.is_graded_check(cell):
            assert "".join(cell["outputs"][0]["text"]).startswith("ok"), source(cell)[:60]


# --- generating the student version --------------------------------------------------------------------------

def cell(kind: str, text: str, **nbgrader: object) -> dict:
    extra = {"outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}], "execution_count": 3}
    meta = {"nbgrader": {"schema_version": 3, "grade_id": "g", **nbgrader}} if nbgrader else {}
    return {"cell_type": kind, "metadata": meta, "source": text, **(extra if kind == "code" else {})}


def test_solution_regions_become_indented_stubs_and_answers_become_text_stubs() -> None:
    code = ("def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
            "\ny = 2")
    nb = {"cells": [cell("code", code, solution=True, grade=False), cell("markdown", "The answer is 42.",
                                                                        solution=True, grade=True, points=2),
                    cell("code", "assert f(1) == 2", solution=False, grade=True, points=1),
                    cell("markdown", "A question.")]}
    student = exercises.student_notebook(nb)
    assert student["cells"][0]["source"] == (
        "def f(x):\n    \"\"\"Doc.\"\"\"\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\ny = 2")
    assert student["cells"][1]["source"] == "YOUR ANSWER HERE"
    assert student["cells"][2]["source"] == "assert f(1) == 2" and student["cells"][2]["outputs"] == []
    assert student["cells"][2]["execution_count"] is None and student["cells"][3]["source"] == "A question."
    assert nb["cells"][0]["source"] == code, "the solution notebook is left unchanged"
    whole = exercises.student_cell(cell("code", "x = 1", solution=True, grade=False))
    assert whole["source"] == "# YOUR CODE HERE\nraise NotImplementedError()"


@pytest.mark.parametrize("text", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                                  "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"])
def test_unbalanced_markers_are_a_one_line_error(text: str) -> None:
    with pytest.raises(exercises.ExerciseError) as caught:
        exercises.student_cell(cell("code", text, solution=True, grade=False), "nb.ipynb, cell 4")
    assert "nb.ipynb, cell 4" in str(caught.value) and "\n" not in str(caught.value)


def test_cli_refuses_to_overwrite_the_solutions_and_reports_missing_notebooks(tmp_path, capsys) -> None:
    assert main(["exercises", "--student", str(paths.EXERCISES_DIR)]) == 2
    assert main(["exercises", "--solutions", str(tmp_path), "--student", str(tmp_path / "out")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("albertzero exercises: error:") for line in errors)


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    assert main(["exercises", "--student", str(out)]) == 0
    return out


def test_cli_writes_one_student_notebook_per_chapter_without_solutions(student_dir: Path) -> None:
    assert sorted(path.stem for path in student_dir.glob("*.ipynb")) == CHAPTERS
    for path in student_dir.glob("*.ipynb"):
        nb = load(path)
        assert not any(exercises.BEGIN_SOLUTION in source(c) for c in nb["cells"] if c["cell_type"] == "code")
        assert "Model answer" not in path.read_text(encoding="utf-8")
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
        assert sum("raise NotImplementedError()" in source(c) for c in nb["cells"]) >= 3


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_graded_check_of_the_student_version_fails(student_dir: Path, name: str) -> None:
    """Executed as a student would before answering: each check cell fails with NotImplementedError, and
    nothing else fails (so each check can fail, and fails for the right reason)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(student_dir / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(student_dir)}}).execute()
    for index, executed in enumerate(nb.cells):
        if executed.cell_type != "code":
            continue
        errors = [output for output in executed.outputs if output.output_type == "error"]
        if exercises.is_graded_check(executed):
            assert [error.ename for error in errors] == ["NotImplementedError"], (name, index)
        else:
            assert not errors, (name, index, [error.ename for error in errors])
