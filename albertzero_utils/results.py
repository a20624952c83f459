"""Reading a comparison: its directory layout, each run's records, and the summary with the verdict.

Layout of a comparison directory ``OUT``: ``OUT/ARM/seed-S/`` (one training run each, finished iff it holds
``done.json``), ``OUT/comparison.json`` (the arms and seeds asked for) and ``OUT/summary.json``.
:func:`summarize` reads files only (no torch): per-run ``metrics.jsonl`` curves aligned by step, paired by
seed against the baseline, with the early-window AUC gain the verdict rests on (:mod:`early_gain`).
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import early_gain
from .errors import ConfigError, DataError
from .profiles import EARLY_FRACTION
from .stats import summarize_aligned

BASELINE = "baseline"
DEFAULT_EARLY_FRACTION = EARLY_FRACTION
#: Metrics summarised at every evaluation point (keys of each metrics.jsonl record).
METRICS = ("f1", "exact", "HasAns_f1", "NoAns_f1", "best_f1", "HasAns_span_f1", "train_loss")


def run_dir(output_dir: str | os.PathLike, arm: str, seed: int) -> Path:
    """Where one arm/seed run lives."""
    return Path(output_dir) / arm / f"seed-{seed}"


def is_finished(path: Path) -> bool:
    """A run is finished iff its done.json exists (the engine writes it last)."""
    return (path / "done.json").is_file()


def read_metrics(path: Path) -> dict[int, dict[str, Any]]:
    """A run's metrics.jsonl as step -> record (a step evaluated twice, as around a resume, keeps the last)."""
    metrics_file = path / "metrics.jsonl"
    try:
        lines = metrics_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{metrics_file}: cannot read the run's metrics ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{metrics_file}, line {line}: not UTF-8 text (byte {exc.start})") from None
    records: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            records[int(record["step"])] = record
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, RecursionError):
            raise DataError(f"{metrics_file}, line {number}: not a JSON metrics record with a 'step'") from None
        bad = next((key for key in METRICS if not isinstance(record.get(key, 0.0), (int, float, type(None)))), None)
        if bad is not None:
            raise DataError(f"{metrics_file}, line {number}: {bad} is {record[bad]!r}, not a number")
        bad = next((key for key in METRICS if isinstance(record.get(key), float) and not math.isfinite(record[key])),
                   None)
        if bad is not None:  # never averaged into a mean or a verdict
            raise DataError(f"{metrics_file}, line {number}: {bad} is {record[bad]}, not a finite number (a "
                            f"diverged evaluation?); fix or remove that run before summarising")
    return records


def _planned_arms_and_seeds(compare_dir: Path) -> tuple[list[str], list[int] | None]:
    """Arms and seeds from comparison.json; without it, arm directories (baseline first) and any seed."""
    plan_file = compare_dir / "comparison.json"
    if plan_file.is_file():
        try:
            plan = json.loads(plan_file.read_text(encoding="utf-8"))
            return [arm["name"] for arm in plan["arms"]], [int(s) for s in plan["seeds"]]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise DataError(f"{plan_file}: not a comparison plan (arms, seeds)") from None
    arms = sorted(p.name for p in compare_dir.iterdir() if p.is_dir() and any(p.glob("seed-*")))
    return sorted(arms, key=lambda arm: arm != BASELINE), None


def _run_dirs(compare_dir: Path, arm: str, seeds: list[int] | None) -> dict[int, Path]:
    """seed -> run directory of one arm (only the planned seeds when a plan exists)."""
    found = {}
    for path in (compare_dir / arm).glob("seed-*"):
        match = re.fullmatch(r"seed-(\d+)", path.name)
        if match and path.is_dir() and (seeds is None or int(match[1]) in seeds):
            found[int(match[1])] = path
    return found


def early_window(steps: Sequence[int], fraction: float) -> tuple[list[int], str]:
    """Evaluation points in the first `fraction` of training (step 0 excluded), and how they were chosen."""
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"--early-fraction {fraction}: expected a fraction in (0, 1]")
    final = steps[-1]
    early = [s for s in steps if 0 < s <= fraction * final]
    if early:
        return early, f"evaluation points with 0 < step <= {fraction:g} x final step {final}"
    first = next((s for s in steps if s > 0), None)
    if first is None:
        return [], "no evaluation point after step 0: no early window"
    return [first], (f"no evaluation point lies in the first {fraction:g} of the {final} steps; "
                     f"the first evaluation after step 0 (step {first}) stands in for the early window")


def read_done(path: Path) -> dict[str, Any]:
    """A finished run's done.json (its final evaluation: ``final_metrics``, ``final_eval`` full/subset)."""
    done_file = path / "done.json"
    try:
        done = json.loads(done_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"{done_file}: unreadable ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        where = f", line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise DataError(f"{done_file}{where}: not a JSON done record ({type(exc).__name__})") from None
    if not isinstance(done, dict):
        raise DataError(f"{done_file}, line 1: not a JSON done record (a {type(done).__name__})")
    return done


def _verdict_statistics(runs: dict, finals: dict, arms: list[str], early_steps: list[int], metric: str,
                        confidence: float) -> dict[str, Any]:
    """summary.json's ``early_auc_gain``, ``final_gain`` and ``power`` for the first re-init arm, and the
    same three per arm under ``verdict_by_arm``."""
    by_arm = {}
    for arm in (a for a in arms if a != BASELINE):
        auc = early_gain.early_auc_gain(runs, arm, BASELINE, early_steps, metric, confidence)
        by_arm[arm] = {"early_auc_gain": auc, "power": early_gain.power_line(auc),
                       "final_gain": early_gain.final_gain(finals, arm, BASELINE, metric, confidence)}
    return {**next(iter(by_arm.values())), "verdict_by_arm": by_arm}


def _initial_reference(runs: dict, metric: str, confidence: float) -> dict[str, Any] | None:
    """Each arm's `metric` at step 0 (the models as initialised), when the runs evaluated step 0."""
    if not all(0 in curve for arm_runs in runs.values() for curve in arm_runs.values()):
        return None
    from .stats import mean_ci

    return {"step": 0, "metric": metric, "note": "the models before training; excluded from every gain",
            "arms": {arm: mean_ci([curve[0].get(metric) for curve in arm_runs.values()], confidence).as_dict()
                     for arm, arm_runs in runs.items()}}


def _headline_metric(run: Path) -> str:
    """The metric the comparison is judged on, as the run's profile chose it (F1 for runs without one)."""
    config_file = run / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    metric = config.get("headline_metric", "f1")
    return metric if metric in METRICS else "f1"


def summarize(compare_dir: str | os.PathLike, *, early_fraction: float = DEFAULT_EARLY_FRACTION,
              confidence: float = 0.95) -> dict[str, Any]:
    """Summary statistics of a comparison directory (the content of summary.json); reads files only.

    Only seeds with a finished run in every arm count, so arm means and paired gains use the same seeds;
    evaluation points are aligned by step and only the steps every counted run evaluated are kept.
    """
    compare_dir = Path(compare_dir)
    if not compare_dir.is_dir():
        raise DataError(f"{compare_dir}: no such comparison directory")
    arms, planned_seeds = _planned_arms_and_seeds(compare_dir)
    if BASELINE not in arms:
        raise DataError(f"{compare_dir}: no {BASELINE!r} runs (expected {compare_dir / BASELINE}/seed-S/)")
    dirs = {arm: _run_dirs(compare_dir, arm, planned_seeds) for arm in arms}
    finished = {arm: {s for s, path in dirs[arm].items() if is_finished(path)} for arm in arms}
    seeds = sorted(set.intersection(*finished.values()))
    if not seeds:
        raise DataError(f"{compare_dir}: no seed has a finished run (done.json) in every arm ({', '.join(arms)})")
    excluded = [{"run": str(path), "reason": "seed incomplete in another arm" if s in finished[arm] else "unfinished"}
                for arm in arms for s, path in sorted(dirs[arm].items()) if s not in seeds]
    runs = {arm: {s: read_metrics(dirs[arm][s]) for s in seeds} for arm in arms}
    curves = [set(curve) for arm_runs in runs.values() for curve in arm_runs.values()]
    steps = sorted(set.intersection(*curves))
    if not steps:
        raise DataError(f"{compare_dir}: the runs share no evaluation step (different schedules?)")
    early_steps, definition = early_window(steps, early_fraction)
    metric = _headline_metric(dirs[BASELINE][seeds[0]])
    finals = {arm: {s: read_done(dirs[arm][s]) for s in seeds} for arm in arms}
    summary = {
        "compare_dir": str(compare_dir),
        "baseline": BASELINE,
        "arms": arms,
        "seeds": seeds,
        "n_seeds": len(seeds),
        "metrics": list(METRICS),
        "headline_metric": metric,
        "confidence": confidence,
        "interval": f"{confidence:.0%} two-sided Student-t interval on the mean over seeds (n-1 df); "
                    "null when fewer than 2 seeds",
        "early_window": {"fraction": early_fraction, "steps": early_steps, "definition": definition,
                         "examples": [_examples_at(runs, step) for step in early_steps]},
        "initial_reference": _initial_reference(runs, metric, confidence),
        "final_step": steps[-1],
        "unaligned_steps": sorted(set.union(*curves) - set(steps)),
        "excluded_runs": excluded,
    }
    summary.update(_verdict_statistics(runs, finals, arms, early_steps, metric, confidence))
    summary.update(summarize_aligned(runs, baseline=BASELINE, steps=steps, early_steps=early_steps,
                                     metrics=METRICS, confidence=confidence))
    summary["verdict"] = early_gain.verdict(summary)
    return summary


def _examples_at(runs: dict, step: int) -> int | None:
    """Training examples seen at `step` (the same in every run of a comparison)."""
    record = next(iter(runs[BASELINE].values()))[step]
    return record.get("examples_seen")
