"""The exercises: solution notebooks in nbgrader's conventions (tests/test_nbgrader.py runs nbgrader on them;
`make test` also runs the solutions under strict nbval)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from albertzero_utils import exercises, paths

CHAPTERS = ["01_anatomy", "02_head", "03_reinit", "04_early_gain", "05_ask", "06_experiment"]


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


# --- nbgrader conventions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", solution_paths(), ids=lambda path: path.stem)
def test_solution_delimiters_appear_only_in_solution_code_cells(path: Path) -> None:
    """nbgrader reads `BEGIN SOLUTION` on any line of any cell (and deletes any line with `END SOLUTION`): the
    delimiters are exactly `### BEGIN SOLUTION` / `### END SOLUTION`, in pairs, in solution code cells only."""
    for index, cell in enumerate(load(path)["cells"]):
        lines = source(cell).splitlines()
        marks = [line.strip() for line in lines if "BEGIN SOLUTION" in line or "END SOLUTION" in line]
        if not (exercises.is_solution_cell(cell) and cell["cell_type"] == "code"):
            assert not marks, (path.name, index)
            continue
        pairs = [exercises.BEGIN_SOLUTION, exercises.END_SOLUTION] * (len(marks) // 2)
        assert marks and marks == pairs, (path.name, index)


@pytest.mark.parametrize("path", solution_paths(), ids=lambda path: path.stem)
def test_every_hand_graded_answer_has_a_rubric_in_its_metadata(path: Path) -> None:
    for cell in load(path)["cells"]:
        meta = exercises.nbgrader_metadata(cell)
        if meta.get("grade") and meta.get("solution"):
            rubric = cell["metadata"].get("albertzero", {}).get("rubric", "")
            assert len(rubric) > 20 and "point" in rubric, (path.name, meta["grade_id"])


# --- model answers agree with the recorded outputs -------------------------------------------------------------

DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.]*\d)")
#: Dotted numbers that are references, not values: "exercise 3.4", "Q1.2", "chapter 3.1", "arXiv 2001.09694".
REFERENCE = re.compile(r"(exercises? |Q|chapter |arXiv )\d+\.\d+")


def recorded_text(nb: dict) -> str:
    """Every recorded output of the notebook's code cells, as text."""
    parts = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            parts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(parts)


@pytest.mark.parametrize("path", solution_paths(), ids=lambda path: path.stem)
def test_numbers_in_model_answers_come_from_the_notebook(path: Path) -> None:
    """Every decimal number in a model answer appears in the notebook's recorded outputs or in its questions'
    prose, unless the answer's metadata lists it under ``albertzero.derived`` (a number the answer works out
    itself, e.g. a square root). ``albertzero.quotes`` lists output values an answer relies on: each must be
    among the recorded outputs."""
    nb = load(path)
    outputs = recorded_text(nb)
    prose = "\n".join(source(c) for c in nb["cells"]
                      if c["cell_type"] == "markdown" and not exercises.is_solution_cell(c))
    for cell in nb["cells"]:
        if not (exercises.is_solution_cell(cell) and cell["cell_type"] == "markdown"):
            continue
        meta = cell["metadata"].get("albertzero", {})
        gid = exercises.nbgrader_metadata(cell)["grade_id"]
        for quoted in meta.get("quotes", []):
            assert quoted in outputs, (path.name, gid, quoted, "not in the recorded outputs")
        derived = set(meta.get("derived", []))
        for number in DECIMAL.findall(REFERENCE.sub("", source(cell))):
            assert number in derived or number in outputs or number in prose, (path.name, gid, number)


def test_no_notebook_mentions_a_pretrained_tiny_default() -> None:
    texts = [path.read_text(encoding="utf-8") for path in solution_paths()]
    texts += [path.read_text(encoding="utf-8") for path in sorted((paths.REPO_ROOT / "notebooks").glob("*.ipynb"))]
    texts.append((paths.REPO_ROOT / "docs" / "teaching.md").read_text(encoding="utf-8"))
    for text in texts:
        assert not re.search(r"pretrained tiny (ALBERT )?default|default will be a \*pretrained\*", text), text[:80]
