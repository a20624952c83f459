"""The graded checks teach: a one-line call to the library's own version of a function is caught, and each
check depends only on its own exercise (blanking any one exercise fails its own checks and no other).

The notebooks run in this process (cell by cell, in one namespace per notebook, as a kernel would); a
namespace is snapshotted before each solution cell, so an exercise can be replaced and the rest re-run.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from albertzero_utils import exercises, grading, paths

pytestmark = pytest.mark.slow


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def grade_id(cell: dict) -> str:
    return exercises.nbgrader_metadata(cell).get("grade_id", "")


class Run:
    """A notebook executed in-process: its code cells, and the namespace before each solution cell."""

    def __init__(self, name: str) -> None:
        self.path = paths.EXERCISES_DIR / f"{name}.ipynb"
        nb = json.loads(self.path.read_text(encoding="utf-8"))
        self.cells = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
        self.before: dict[str, dict[str, Any]] = {}
        namespace: dict[str, Any] = {"__name__": "__main__"}
        for cell in self.cells:
            if exercises.is_solution_cell(cell):
                self.before[grade_id(cell)] = dict(namespace)
            run_cell(source(cell), namespace)

    def index(self, gid: str) -> int:
        return next(i for i, cell in enumerate(self.cells) if grade_id(cell) == gid)

    def replay(self, gid: str, replacement: str) -> tuple[dict[str, Any], list[tuple[dict, BaseException | None]]]:
        """Re-run from solution cell ``gid`` with its source replaced: (namespace, [(cell, error or None)])."""
        namespace = dict(self.before[gid])
        run_cell(replacement, namespace)
        results = []
        last_check = max(i for i, cell in enumerate(self.cells) if exercises.is_graded_check(cell))
        for cell in self.cells[self.index(gid) + 1:last_check + 1]:  # later cells cannot change a grade
            try:
                run_cell(source(cell), namespace)
                results.append((cell, None))
            except Exception as exc:  # noqa: BLE001 - the test inspects what failed
                results.append((cell, exc))
        return namespace, results


def run_cell(code: str, namespace: dict[str, Any]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, f"<cell {len(namespace)}>", "exec"), namespace)  # noqa: S102 - our own notebooks


_RUNS: dict[str, Run] = {}


def run_of(name: str) -> Run:
    if name not in _RUNS:
        _RUNS[name] = Run(name)
    return _RUNS[name]


def exercise_of(gid: str) -> str:
    """``ex2_4_solution`` / ``ex2_4_check`` -> ``ex2_4``."""
    return gid.rsplit("_", 1)[0]


def cleared(code: str) -> str:
    """The student version of a solution cell, by nbgrader's own ClearSolutions preprocessor."""
    import nbformat
    from nbgrader.preprocessors import ClearSolutions

    cell = nbformat.v4.new_code_cell(code, metadata={"nbgrader": {"solution": True, "grade": False,
                                                                  "grade_id": "x", "locked": False,
                                                                  "schema_version": 3}})
    cell, _ = ClearSolutions().preprocess_cell(cell, {"language": "python"}, 0)
    return cell.source


# For each exercise that has a library version: an answer that just calls it.
LIBRARY_ANSWERS = {
    ("01_anatomy", "ex1_1_solution"): """
def embedding_parameters(vocab_size, embedding_size, hidden_size):
    return anatomy.factorisation_table(vocab_size, hidden_size, embedding_sizes=(embedding_size,))[0]["factorised"]
def embedding_saving(vocab_size, embedding_size, hidden_size):
    row = anatomy.factorisation_table(vocab_size, hidden_size, embedding_sizes=(embedding_size,))[0]
    return row["unfactorised"] - row["factorised"]
""",
    ("01_anatomy", "ex1_3_solution"): """
from transformers import AlbertConfig
def block_parameters(hidden_size, intermediate_size):
    config = AlbertConfig(hidden_size=hidden_size, intermediate_size=intermediate_size, num_attention_heads=1)
    return anatomy.parameter_breakdown(config)["blocks"]
""",
    ("01_anatomy", "ex1_4_solution"): """
from transformers import AlbertConfig
def flops_per_token(hidden_size, intermediate_size, layers, seq_len, embedding_size):
    config = AlbertConfig(hidden_size=hidden_size, intermediate_size=intermediate_size, num_hidden_layers=layers,
                          embedding_size=embedding_size, num_attention_heads=1)
    return anatomy.encoder_flops_per_token(config, seq_len)["total"]
""",
    ("02_head", "ex2_2_solution"): """
from albertzero_utils.modeling import span_and_answerability_loss
def avpool_loss(start_logits, end_logits, has_logits, start_positions, end_positions, is_impossible):
    return span_and_answerability_loss(start_logits, end_logits, has_logits, start_positions, end_positions,
                                       is_impossible)
""",
    ("02_head", "ex2_5_solution"): """
def token_f1(gold, prediction):
    return metrics.compute_f1(gold, prediction)
""",
    ("03_reinit", "ex3_1_solution"): """
def changed_parameters(before, after):
    return sorted(row["name"] for row in display.parameter_changes(before, after) if row["changed"])
""",
    ("04_early_gain", "ex4_1_solution"): """
def paired_interval(baseline, arm, confidence=0.95):
    ci = stats.mean_ci([a - b for b, a in zip(baseline, arm)], confidence)
    return ci.mean, ci.ci_low, ci.ci_high
""",
    ("05_ask", "ex5_1_solution"): """
def split_f1(golds, predictions):
    official = metrics.squad_v2_metrics(golds, predictions)
    return {key: official[key] for key in ("f1", "HasAns_f1", "NoAns_f1")}
""",
    ("05_ask", "ex5_2_solution"): """
def best_threshold(golds, predictions, na_probs):
    official = metrics.squad_v2_metrics(golds, predictions, na_probs)
    return official["best_f1"], official["best_f1_thresh"]
""",
}


def check_cells(run: Run, exercise: str) -> list[dict]:
    return [cell for cell in run.cells if exercises.is_graded_check(cell) and exercise_of(grade_id(cell)) == exercise]


@pytest.mark.parametrize("name, gid", sorted(LIBRARY_ANSWERS), ids=lambda value: str(value))
def test_a_library_call_as_the_answer_is_caught(name: str, gid: str, monkeypatch) -> None:
    """The library answer fails the check (AssertionError naming the call); with the library calls allowed it
    passes, so the answer is a real library-backed one and the check's values alone would not catch it."""
    run = run_of(name)
    checks = check_cells(run, exercise_of(gid))
    _, results = run.replay(gid, LIBRARY_ANSWERS[name, gid])
    failures = [error for cell, error in results if cell in checks]
    assert failures and all(isinstance(error, AssertionError) and " calls albertzero_utils." in str(error)
                            or isinstance(error, AssertionError) and " calls transformers" in str(error)
                            for error in failures), failures
    monkeypatch.setattr(grading, "forbid_library", lambda *funcs, **kwargs: None)
    _, results = run.replay(gid, LIBRARY_ANSWERS[name, gid])
    assert all(error is None for cell, error in results if cell in checks), [e for _, e in results if e]


def every_exercise() -> list[tuple[str, str]]:
    found = []
    for path in exercises.solution_notebooks(paths.EXERCISES_DIR):
        nb = json.loads(path.read_text(encoding="utf-8"))
        found += [(path.stem, grade_id(cell)) for cell in nb["cells"]
                  if cell["cell_type"] == "code" and exercises.is_solution_cell(cell)]
    return found


@pytest.mark.parametrize("name, gid", every_exercise(), ids=lambda value: str(value))
def test_blanking_one_exercise_fails_its_own_checks_only(name: str, gid: str) -> None:
    """Exercise ``gid`` as the student receives it (nbgrader's ClearSolutions), the rest solved: its own checks
    fail with NotImplementedError, every other check and every setup cell still passes. Ordinary cells (the
    student's own experiments, no nbgrader metadata) may use the blanked function."""
    run = run_of(name)
    blank = cleared(source(run.cells[run.index(gid)]))
    assert "raise NotImplementedError()" in blank and "BEGIN SOLUTION" not in blank
    own = check_cells(run, exercise_of(gid))
    assert own, f"{gid}: no check cell"
    _, results = run.replay(gid, blank)
    for cell, error in results:
        if cell in own:
            assert isinstance(error, NotImplementedError), (gid, grade_id(cell), error)
        elif exercises.nbgrader_metadata(cell):
            assert error is None, (gid, grade_id(cell), repr(error))


def test_every_exercise_with_a_library_version_is_covered() -> None:
    """The nine checks an instructor found passable by a library call forbid that call in the notebooks, and
    each is replayed above with the library's own function as the answer (LIBRARY_ANSWERS)."""
    named = {"ex1_1", "ex1_3", "ex1_4", "ex2_2", "ex2_5", "ex3_1", "ex4_1", "ex5_1", "ex5_2"}
    guarded = {exercise_of(grade_id(cell)) for path in sorted(paths.EXERCISES_DIR.glob("[0-9][0-9]_*.ipynb"))
               for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
               if cell["cell_type"] == "code" and grade_id(cell).endswith("_check")
               and "forbid_library(" in source(cell)}
    assert named <= guarded, sorted(named - guarded)
    assert named <= {exercise_of(gid) for _, gid in LIBRARY_ANSWERS}


def test_forbid_library_sees_aliases_imports_and_helpers() -> None:
    from albertzero_utils import metrics
    from albertzero_utils.metrics import compute_f1 as alias

    def direct(g: str, p: str) -> float:
        return metrics.compute_f1(g, p)

    def aliased(g: str, p: str) -> float:
        return alias(g, p)

    def imported(g: str, p: str) -> float:
        from albertzero_utils.metrics import compute_f1
        return compute_f1(g, p)

    def helper(g: str, p: str) -> float:
        return direct(g, p)

    def comprehension(g: list[str], p: str) -> list[float]:
        return [metrics.compute_f1(x, p) for x in g]

    def allowed(g: str, p: str) -> int:
        return len(metrics.normalize_answer(g).split())

    forbidden, permitted = ["albertzero_utils.metrics"], ["albertzero_utils.metrics.normalize_answer"]
    for func in (direct, aliased, imported, helper, comprehension):
        assert grading.library_calls(func, forbidden, permitted) == ["albertzero_utils.metrics.compute_f1"], func
        with pytest.raises(AssertionError, match="calls albertzero_utils.metrics.compute_f1"):
            grading.forbid_library(func, forbidden=forbidden, allowed=permitted)
    assert grading.library_calls(allowed, forbidden, permitted) == []
    grading.forbid_library(allowed, forbidden=forbidden, allowed=permitted)
