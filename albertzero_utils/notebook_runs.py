"""Execute notebooks and record how long they took: `python -m albertzero_utils.notebook_runs execute NB...`.

`make notebooks` runs every chapter and exercise notebook through :func:`execute`: the outputs are recorded in
place, and the wall time of the whole run (kernel start included) goes into the notebook's metadata,
``metadata.albertzero.measured_s``, with the machine's CPU count. Each notebook states its runtime in its first
cell (``**Runtime:** about N s on 2 CPU cores``); ``tests/test_notebooks.py`` keeps that claim within 1.5x of
the measured run; each graded or locked cell's seconds go to ``cell_s`` (nbgrader runs every cell
under a time limit). ``--measure-only`` times a run on a copy and records only the time (outputs untouched).
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from .fileio import write_text_atomic
from .notebook_tools import normalize_notebook

#: How a notebook states its runtime, in its first markdown cell.
RUNTIME_CLAIM = re.compile(r"\*\*Runtime:\*\* about (\d+(?:\.\d+)?) (s|min) on (\d+) CPU cores")
#: A claim is kept within this factor of the measured time, either way.
RUNTIME_TOLERANCE = 1.5
CELL_TIMEOUT_S = 900


def stated_runtime(nb: dict[str, Any]) -> float | None:
    """The runtime, in seconds, that the notebook's first markdown cell states (None if it states none)."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            found = RUNTIME_CLAIM.search(source)
            if not found:
                return None
            return float(found.group(1)) * (60 if found.group(2) == "min" else 1)
    return None


def measured_runtime(nb: dict[str, Any]) -> float | None:
    """The wall time of the notebook's last measured run, in seconds (None if never measured)."""
    return nb.get("metadata", {}).get("albertzero", {}).get("measured_s")


def claim_holds(stated: float, measured: float, tolerance: float = RUNTIME_TOLERANCE) -> bool:
    """Whether a stated runtime is within ``tolerance`` times the measured one, either way."""
    return measured / tolerance <= stated <= measured * tolerance


def graded_cell_seconds(nb: Any) -> dict[str, float]:
    """Seconds each cell with an nbgrader ``grade_id`` took in the run just made (nbclient's cell timings)."""
    from datetime import datetime

    found = {}
    for cell in nb.cells:
        timing, grade_id = cell.metadata.get("execution", {}), cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id and "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start, end = (datetime.fromisoformat(timing[key].replace("Z", "+00:00"))
                          for key in ("iopub.execute_input", "shell.execute_reply"))
            found[grade_id] = round((end - start).total_seconds(), 2)
    return found


def execute(path: str | os.PathLike, *, measure_only: bool = False) -> float:
    """Run a notebook top to bottom in a fresh ``python3`` kernel (in its own directory), record the outputs
    (unless ``measure_only``) and the wall time; return the seconds."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    started = time.monotonic()
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
    seconds = round(time.monotonic() - started, 1)
    cells = graded_cell_seconds(nb)
    if measure_only:
        nb = nbformat.read(path, as_version=4)
    nb.metadata["albertzero"] = {"measured_s": seconds, "cpu_count": os.cpu_count()}
    if cells:
        nb.metadata["albertzero"]["cell_s"] = cells
    write_text_atomic(path, nbformat.writes(nb) + "\n")
    normalize_notebook(path)
    return seconds


def main(argv: list[str]) -> int:
    """CLI: `execute [--measure-only] NB...`, one notebook after the other."""
    measure_only = "--measure-only" in argv
    names = [arg for arg in argv[1:] if arg != "--measure-only"]
    if not argv or argv[0] != "execute" or not names:
        sys.stderr.write("usage: python -m albertzero_utils.notebook_runs execute [--measure-only] NOTEBOOK...\n")
        return 2
    for name in names:
        seconds = execute(name, measure_only=measure_only)
        stated = stated_runtime(json.loads(Path(name).read_text(encoding="utf-8")))
        print(f"{name}: {seconds:.1f} s (stated: {stated if stated is not None else 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
