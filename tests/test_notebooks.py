"""The chapter notebooks: present, committed with their outputs, and written to the project's conventions.

Their outputs themselves are checked by `pytest --nbval` (see `make test`); these tests check the form.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from albertzero_utils import paths
from albertzero_utils.notebook_tools import colab_url

NOTEBOOK_DIR = paths.REPO_ROOT / "notebooks"
NAMES = ["01_albert_anatomy.ipynb", "02_squad2_head.ipynb", "03_finetune_reinit.ipynb", "04_early_gain.ipynb",
         "05_ask_albertzero.ipynb"]
#: Code lines a cell may hold, not counting blank lines, comments and imports ("short cells").
MAX_CODE_LINES = 15
IGNORE_MARKER = "NBVAL_IGNORE_OUTPUT"
IGNORE_WITH_REASON = re.compile(rf"#\s*{IGNORE_MARKER}\s*[:(—-]\s*\w.{{15,}}")


def load(name: str) -> dict:
    path = NOTEBOOK_DIR / name
    if not path.is_file():
        pytest.fail(f"{path} is missing")
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    return "".join(cell["source"])


def code_cells(nb: dict) -> list[dict]:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code" and source(cell).strip()]


def logic_lines(text: str) -> list[str]:
    """Lines of a code cell that count against its length: not blank, not a comment, not an import."""
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "import ", "from ", "%"))]


def test_exactly_the_five_chapters_exist() -> None:
    assert sorted(path.name for path in NOTEBOOK_DIR.glob("0[1-5]_*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_opens_with_title_badge_and_colab_only_install(name: str) -> None:
    nb = load(name)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    first, second = nb["cells"][0], nb["cells"][1]
    assert first["cell_type"] == "markdown" and source(first).startswith("# ")
    badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(name)})"
    assert badge in source(first)
    assert second["cell_type"] == "code" and '"google.colab" in sys.modules' in source(second)
    assert not second.get("outputs"), "the Colab install cell must print nothing outside Colab"


@pytest.mark.parametrize("name", NAMES)
def test_has_a_parameters_cell_explained_just_before_it(name: str) -> None:
    cells = load(name)["cells"]
    found = [i for i, cell in enumerate(cells[:8]) if cell["cell_type"] == "code"
             and re.search(r"^PROFILE\s*=", source(cell), re.MULTILINE)]
    assert found, "no parameters cell (a code cell setting PROFILE = ...) among the first cells"
    before = cells[found[0] - 1]
    assert before["cell_type"] == "markdown" and "parameters" in source(before).lower()


@pytest.mark.parametrize("name", NAMES)
def test_is_committed_executed_top_to_bottom_with_outputs(name: str) -> None:
    cells = code_cells(load(name))
    counts = [cell.get("execution_count") for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), f"execution counts {counts}: re-run the notebook top to bottom"
    silent = [source(cell).splitlines()[0] for cell in cells if not cell.get("outputs")
              and re.search(r"^print\(", source(cell), re.MULTILINE)]  # a print that always runs
    assert not silent, f"cells that print but were committed without output: {silent}"
    errors = [out for cell in cells for out in cell.get("outputs", []) if out["output_type"] == "error"]
    assert not errors


@pytest.mark.parametrize("name", NAMES)
def test_cells_are_short(name: str) -> None:
    long = {source(cell).splitlines()[0]: len(logic_lines(source(cell))) for cell in code_cells(load(name))
            if len(logic_lines(source(cell))) > MAX_CODE_LINES}
    assert not long, f"cells over {MAX_CODE_LINES} code lines (move the logic into albertzero_utils): {long}"


@pytest.mark.parametrize("name", NAMES)
def test_every_ignored_output_says_why(name: str) -> None:
    for cell in code_cells(load(name)):
        for line in source(cell).splitlines():
            if IGNORE_MARKER in line:
                assert IGNORE_WITH_REASON.search(line), f"{IGNORE_MARKER} without a reason: {line!r}"


def test_logic_lines_skip_blanks_comments_and_imports() -> None:
    text = "import os\nfrom a import b\n\n# a comment\n%matplotlib inline\nx = 1\n  y = f(x)  # note\n"
    assert logic_lines(text) == ["x = 1", "y = f(x)  # note"]
    assert IGNORE_WITH_REASON.search("# NBVAL_IGNORE_OUTPUT: float results of training can differ across CPUs")
    assert not IGNORE_WITH_REASON.search("# NBVAL_IGNORE_OUTPUT")


def test_chapters_3_to_5_share_the_comparison_settings() -> None:
    """04 and 05 re-run chapter 3's comparison when it is missing: their settings must be chapter 3's."""
    def overrides_line(name: str) -> str:
        lines = [line for cell in code_cells(load(name)) for line in source(cell).splitlines()
                 if line.startswith("OVERRIDES =")]
        assert len(lines) == 1, f"{name}: expected one OVERRIDES line, found {lines}"
        return lines[0].split("#")[0].strip()

    assert overrides_line("03_finetune_reinit.ipynb") == overrides_line("04_early_gain.ipynb") \
        == overrides_line("05_ask_albertzero.ipynb")


@pytest.mark.parametrize("name", NAMES[2:])
def test_chapters_3_to_5_use_the_one_comparison_directory_and_the_quiet_setup(name: str) -> None:
    """Chapter 3 writes, 4 and 5 read, the directory colab.comparison_dir names: never a hard-coded path."""
    text = "\n".join(source(cell) for cell in code_cells(load(name)))
    assert "colab.comparison_dir(PROFILE, use_drive=USE_DRIVE)" in text
    assert '"runs/notebooks/compare' not in text
    assert "notebook_tools.quiet_notebook()" in text and "hf_logging" not in text


# --- stated runtimes -----------------------------------------------------------------------------------------

def every_notebook() -> list[Path]:
    return [NOTEBOOK_DIR / name for name in NAMES] + sorted(paths.EXERCISES_DIR.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", every_notebook(), ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_the_stated_runtime_is_within_a_factor_of_the_measured_one(path: Path) -> None:
    """Each notebook states its runtime in its first cell; `make notebooks` (notebook_runs.execute) records the
    measured wall time in its metadata; the claim stays within 1.5x of that measurement."""
    from albertzero_utils import notebook_runs

    nb = json.loads(path.read_text(encoding="utf-8"))
    stated, measured = notebook_runs.stated_runtime(nb), notebook_runs.measured_runtime(nb)
    assert stated is not None, f"{path.name}: its first cell states no '**Runtime:** about N s on 2 CPU cores'"
    assert measured, f"{path.name}: never measured (make notebooks records the time)"
    assert notebook_runs.claim_holds(stated, measured), (path.name, stated, measured)


TEACHING_ROW = re.compile(r"^\| `((?:notebooks|exercises)/\d\d_\w+\.ipynb)` \| (\d+) s \|", re.M)


def test_the_instructor_guide_quotes_the_measured_runtimes() -> None:
    from albertzero_utils import notebook_runs

    rows = dict(TEACHING_ROW.findall((paths.REPO_ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")))
    assert set(rows) == {f"{path.parent.name}/{path.name}" for path in every_notebook()}
    for name, seconds in rows.items():
        measured = notebook_runs.measured_runtime(json.loads((paths.REPO_ROOT / name).read_text(encoding="utf-8")))
        assert measured and notebook_runs.claim_holds(float(seconds), measured), (name, seconds, measured)


def test_runtime_claims_are_read_and_compared() -> None:
    from albertzero_utils import notebook_runs

    nb = {"cells": [{"cell_type": "markdown", "source": "# T\n\n**Runtime:** about 2 min on 2 CPU cores."}],
          "metadata": {"albertzero": {"measured_s": 100.0}}}
    assert notebook_runs.stated_runtime(nb) == 120.0 and notebook_runs.measured_runtime(nb) == 100.0
    assert notebook_runs.claim_holds(120.0, 100.0) and not notebook_runs.claim_holds(160.0, 100.0)
    assert not notebook_runs.claim_holds(60.0, 100.0)
    assert notebook_runs.stated_runtime({"cells": [{"cell_type": "markdown", "source": "# no claim"}]}) is None
