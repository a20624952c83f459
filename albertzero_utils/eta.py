"""How long a comparison still needs: measured seconds per step times the steps left, for all its runs.

Before any step is measured there is only the FLOP estimate of :mod:`albertzero_utils.colab` (labelled an
ESTIMATE there); once a run has logged an evaluation after step 0, its ``elapsed_s`` over its steps is a
measurement of this machine, evaluations included, and the rest of the comparison is extrapolated from it.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .results import is_finished, read_metrics


@dataclass(frozen=True)
class Remaining:
    """Measured speed and what is left: steps over the unfinished runs, and the time they take at that speed."""

    seconds_per_step: float
    measured_steps: int
    measured_runs: int
    steps_left: int
    runs_left: int

    @property
    def hours(self) -> float:
        return self.steps_left * self.seconds_per_step / 3600

    def text(self) -> str:
        return (f"MEASURED on this machine: {self.seconds_per_step:.3g} s per step, evaluations included "
                f"({self.measured_steps} steps of {self.measured_runs} run(s)); about {duration(self.hours)} "
                f"left for the {self.runs_left} unfinished run(s) ({self.steps_left} steps; an extrapolation)")


def duration(hours: float) -> str:
    """'2.5 h', or minutes below an hour ('6 min'), so that a short run does not read '0.0 h'."""
    return f"{hours:.1f} h" if hours >= 1 else f"{max(1, round(hours * 60))} min"


def _progress(path: Path) -> tuple[int, float, int | None]:
    """(steps done, seconds they took, total steps) of one run directory, from its own files."""
    records = read_metrics(path) if (path / "metrics.jsonl").is_file() else {}
    step = max(records, default=0)
    elapsed = float(records[step].get("elapsed_s") or 0.0) if step else 0.0
    try:
        total = json.loads((path / "config.json").read_text(encoding="utf-8")).get("total_steps")
    except (OSError, ValueError):
        total = None
    return step, elapsed, total


def remaining(run_dirs: Sequence[Path], total_steps: int | None = None) -> Remaining | None:
    """The time the unfinished runs of `run_dirs` still need at the speed measured so far (None before any
    step was measured). A run not started yet counts `total_steps` (default: the total of a started run)."""
    done = [_progress(Path(p)) for p in run_dirs]
    measured = [(step, elapsed) for step, elapsed, _ in done if step > 0 and elapsed > 0]
    total = total_steps or next((t for _, _, t in done if t), None)
    if not measured or total is None:
        return None
    seconds = sum(e for _, e in measured) / sum(s for s, _ in measured)
    left = [max(0, (t or total) - step) for (step, _, t), path in zip(done, run_dirs) if not is_finished(Path(path))]
    return Remaining(seconds, sum(s for s, _ in measured), len(measured), sum(left), sum(1 for n in left if n))
