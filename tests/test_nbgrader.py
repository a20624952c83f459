"""The exercises through the real nbgrader, as an instructor runs them: a course directory built from
exercises/, `generate_assignment`, then `autograde` of the generated release (every notebook scores 0, every
graded check fails with NotImplementedError and no other graded or locked cell
fails; ungraded scratch cells may call the blanked function) and of the solutions (full marks)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from albertzero_utils import exercises, paths
from albertzero_utils.cli import main

pytestmark = pytest.mark.slow


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("nbgrader") / "course"
    scores = exercises.build_course(root, paths.EXERCISES_DIR)
    return root, scores


def solution_names() -> list[str]:
    return [path.stem for path in exercises.solution_notebooks(paths.EXERCISES_DIR)]


def test_the_release_is_nbgraders_and_has_no_solutions(course) -> None:
    root, _ = course
    release = sorted(exercises.release_dir(root).glob("*.ipynb"))
    assert [path.stem for path in release] == solution_names()
    for path in release:
        text = path.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text and "Model answer" not in text
        nb = load(path)
        cells = nb["cells"]
        assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")
        assert sum("raise NotImplementedError()" in source(c) for c in cells) >= 3
        checks = [c for c in cells if exercises.is_graded_check(c)]
        assert checks and all(exercises.nbgrader_metadata(c).get("checksum") for c in checks), "nbgrader's checksums"


def test_autograded_release_scores_zero_and_solutions_full_marks(course) -> None:
    _, scores = course
    assert set(scores["blank"]) == set(scores["model"]) == set(solution_names())
    for name, (score, maximum) in scores["blank"].items():
        assert maximum > 0 and score == 0, (name, score, maximum)
    for name, (score, maximum) in scores["model"].items():
        assert score == maximum > 0, (name, score, maximum)


@pytest.mark.parametrize("name", solution_names())
def test_in_the_autograded_release_only_the_checks_fail_among_graded_cells(course, name: str) -> None:
    root, _ = course
    nb = load(root / "autograded" / "blank" / exercises.ASSIGNMENT / f"{name}.ipynb")
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        errors = [output["ename"] for output in cell["outputs"] if output["output_type"] == "error"]
        if exercises.is_graded_check(cell):
            assert errors == ["NotImplementedError"], (name, index, errors)
        elif exercises.nbgrader_metadata(cell):  # the notebook's own setup cells (locked) never fail
            assert not errors, (name, index, errors)


def test_feedback_is_written_for_both_submissions(course) -> None:
    root, _ = course
    for student in ("blank", "model"):
        pages = sorted((root / "feedback" / student / exercises.ASSIGNMENT).glob("*.html"))
        assert [page.stem for page in pages] == solution_names()


def test_cli_writes_the_release_and_refuses_bad_directories(tmp_path, capsys) -> None:
    assert main(["exercises", "--student", str(tmp_path / "student")]) == 0
    written = sorted(path.stem for path in (tmp_path / "student").glob("*.ipynb"))
    assert written == solution_names()
    assert "BEGIN SOLUTION" not in (tmp_path / "student" / f"{written[0]}.ipynb").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["exercises", "--student", str(paths.EXERCISES_DIR)]) == 2
    assert main(["exercises", "--solutions", str(tmp_path / "none"), "--student", str(tmp_path / "out")]) == 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["exercises", "--course", str(tmp_path / "full")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("albertzero exercises: error:") for line in errors)
    assert not (tmp_path / "out").exists(), "nothing written before the input is validated"
