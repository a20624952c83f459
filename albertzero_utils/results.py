"""Reading a comparison: its directory layout, each run's records, and the summary with the verdict.

Layout of a comparison directory ``OUT``: ``OUT/ARM/seed-S/`` (one training run each, finished iff it holds
``done.json``), ``OUT/comparison.json`` (the arms and seeds asked for, and the pre-registered plan:
:mod:`plan`) and ``OUT/summary.json``. :func:`summarize` reads files only (no torch): per-run
``metrics.jsonl`` curves aligned by step, paired by seed against the baseline, with the early-window AUC
gains the calls rest on (:mod:`early_gain`, :mod:`verdict`), decided as the plan says; a window or metric
asked for here that differs from the plan is computed as well, labelled post hoc, and decides nothing.
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
from .plan import read_plan
from .profiles import CLAIM_GAIN, HEADLINE_METRICS, window_end_step
from .stats import mean_ci, summarize_aligned

BASELINE = "baseline"
#: Metrics summarised at every evaluation point (keys of each metrics.jsonl record); ``abstain_rate`` is the
#: percent of questions answered "" at the evaluation's null threshold (evaluation.abstain_rate).
METRICS = ("f1", "exact", "HasAns_f1", "NoAns_f1", "best_f1", "HasAns_span_f1", "abstain_rate", "train_loss")
#: The window of runs that recorded none (before windows were given in epochs): the first quarter of the run.
LEGACY_FRACTION = 0.25


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


def early_window(steps: Sequence[int], end_step: int) -> tuple[list[int], str]:
    """Evaluation points in the early window, steps 1..`end_step` (step 0 excluded), and how they were chosen."""
    if end_step < 1:
        raise ConfigError(f"the early window must end at step 1 or later, not {end_step}")
    early = [s for s in steps if 0 < s <= end_step]
    if early and early[-1] == end_step:
        return early, f"evaluation points with 0 < step <= {end_step}"
    if early:
        return early, (f"evaluation points with 0 < step <= {end_step}; the window's end is not an evaluation "
                       f"point, so it stops at step {early[-1]}")
    first = next((s for s in steps if s > 0), None)
    if first is None:
        return [], "no evaluation point after step 0: no early window"
    return [first], (f"no evaluation point lies in steps 1-{end_step}; the first evaluation after step 0 "
                     f"(step {first}) stands in for the early window")


def window_of(config: dict[str, Any], final_step: int, epochs: float | None) -> dict[str, Any]:
    """The early window of runs with `config` (a run's config.json) ending at `final_step`: `epochs` epochs
    (None: the runs' own ``early_window_epochs``), resolved with the runs' ``steps_per_epoch``."""
    epochs = config.get("early_window_epochs") if epochs is None else epochs
    per_epoch = config.get("steps_per_epoch")
    if epochs is None:  # runs from before windows were given in epochs
        end = max(1, math.floor(LEGACY_FRACTION * final_step))
        return {"epochs": None, "steps_per_epoch": per_epoch, "end_step": end,
                "rule": f"the first {LEGACY_FRACTION:g} of the {final_step} steps (the runs record no window)"}
    if not per_epoch:
        per_epoch = final_step
        rule = f"{epochs:g} epoch(s), the run taken as one epoch (its steps per epoch are not recorded)"
    else:
        rule = f"{epochs:g} epoch(s) of {per_epoch} steps"
    return {"epochs": epochs, "steps_per_epoch": per_epoch, "end_step": window_end_step(epochs, per_epoch, final_step),
            "rule": rule}


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


def _initial_reference(runs: dict, metric: str, confidence: float) -> dict[str, Any] | None:
    """Each arm's `metric` at step 0 (the models as initialised), when the runs evaluated step 0."""
    if not all(0 in curve for arm_runs in runs.values() for curve in arm_runs.values()):
        return None
    return {"step": 0, "metric": metric, "note": "the models before training; excluded from every gain",
            "arms": {arm: mean_ci([curve[0].get(metric) for curve in arm_runs.values()], confidence).as_dict()
                     for arm, arm_runs in runs.items()}}


def _run_config(run: Path) -> dict[str, Any]:
    """A run's config.json ({} without one)."""
    config_file = run / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{config_file}: unreadable run config ({exc})") from None
    return config if isinstance(config, dict) else {}


def _plan_of(compare_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The plan the verdict is decided on: comparison.json's, else one read from the runs' config.json."""
    plan = read_plan(compare_dir)
    if plan is not None:
        return {**plan, "pre_registered": True}
    headline = config.get("headline_metric", "f1")
    metrics = [headline if headline in METRICS else "f1"]
    if config.get("coprimary_metric") in METRICS:
        metrics.append(config["coprimary_metric"])
    return {"pre_registered": False, "primary_metrics": metrics, "claim_gain": config.get("claim_gain", CLAIM_GAIN),
            "confidence": 0.95, "early_window_epochs": config.get("early_window_epochs"), "seeds": None}


def _check_metrics(metrics: Sequence[str]) -> list[str]:
    bad = [m for m in metrics if m not in HEADLINE_METRICS]
    if bad or not metrics:
        raise ConfigError(f"--metric {','.join(bad) or '(none)'}: choose from {', '.join(HEADLINE_METRICS)}")
    return list(dict.fromkeys(metrics))


def summarize(compare_dir: str | os.PathLike, *, early_window_epochs: float | None = None,
              metrics: Sequence[str] | None = None) -> dict[str, Any]:
    """Summary statistics of a comparison directory (the content of summary.json); reads files only.

    The calls follow the plan (comparison.json). `early_window_epochs` or `metrics` that differ from it are
    computed too, under ``post_hoc``, labelled so everywhere, and decide nothing. Only seeds with a finished
    run in every arm count; evaluation points are aligned by step (only those every counted run evaluated).
    """
    compare_dir = Path(compare_dir)
    if not compare_dir.is_dir():
        raise DataError(f"{compare_dir}: no such comparison directory")
    if early_window_epochs is not None and not (math.isfinite(early_window_epochs) and early_window_epochs > 0):
        raise ConfigError(f"--early-window-epochs must be a positive number of epochs, not {early_window_epochs}")
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
    config = _run_config(dirs[BASELINE][seeds[0]])
    plan = _plan_of(compare_dir, config)
    confidence, claim, primary = plan["confidence"], float(plan["claim_gain"]), list(plan["primary_metrics"])
    window = _window(runs, steps, window_of(config, steps[-1], plan["early_window_epochs"]), plan["pre_registered"])
    finals = {arm: {s: read_done(dirs[arm][s]) for s in seeds} for arm in arms}
    by_arm = {arm: early_gain.decide(runs, finals, arm, BASELINE, window["steps"], primary, claim, confidence)
              for arm in arms if arm != BASELINE}
    first = next(iter(by_arm))
    summary = {
        "compare_dir": str(compare_dir), "baseline": BASELINE, "arms": arms, "seeds": seeds, "n_seeds": len(seeds),
        "metrics": list(METRICS), "headline_metric": primary[0], "primary_metrics": primary,
        "confidence": confidence,
        "interval": f"{confidence:.0%} two-sided Student-t interval on the mean over seeds (n-1 df); "
                    "null when fewer than 2 seeds",
        "plan": {"pre_registered": plan["pre_registered"], "registered_at": plan.get("registered_at"),
                 "config_sha256": plan.get("config_sha256"), "seeds": plan.get("seeds"),
                 "seeds_not_in_plan": [s for s in seeds if plan.get("seeds") is not None and s not in plan["seeds"]]},
        "early_window": window,
        "initial_reference": _initial_reference(runs, primary[0], confidence),
        "final_step": steps[-1],
        "unaligned_steps": sorted(set.union(*curves) - set(steps)),
        "excluded_runs": excluded,
        "abstention": _abstention(runs, window["steps"], confidence),
        **{key: by_arm[first][key] for key in ("early_auc_gain", "power", "final_gain")},
        "verdict_by_arm": by_arm,
    }
    post_hoc = _post_hoc(runs, finals, config, steps, first, window, primary, claim, confidence,
                         early_window_epochs, None if metrics is None else _check_metrics(metrics))
    summary["post_hoc"] = post_hoc
    summary.update(summarize_aligned(runs, baseline=BASELINE, steps=steps, early_steps=window["steps"],
                                     metrics=METRICS, confidence=confidence))
    notes = [] if post_hoc is None else [post_hoc["note"]]
    if summary["plan"]["seeds_not_in_plan"]:
        notes.append(f"Seeds {', '.join(map(str, summary['plan']['seeds_not_in_plan']))} were added after the plan "
                     "was registered.")
    summary["verdict"] = {
        "call": by_arm[first]["call"], "reason": by_arm[first]["reason"], "arm": first,
        "pre_registered": plan["pre_registered"], "primary_metrics": primary, "claim_gain": claim,
        "reference_values": [0.0, claim], "confidence": confidence, "calls": by_arm[first]["calls"],
        "diagnostics": by_arm[first]["diagnostics"], "seeds_needed": by_arm[first]["power"]["seeds_needed"],
        "post_hoc_notes": notes,
    }
    summary["verdict"]["text"] = early_gain.verdict(summary)
    return summary


def _window(runs: dict, steps: list[int], resolved: dict[str, Any], pre_registered: bool) -> dict[str, Any]:
    """summary.json's ``early_window``: the rule, its end step, the evaluation points in it and their examples."""
    early, definition = early_window(steps, resolved["end_step"])
    return {**resolved, "steps": early, "examples": [_examples_at(runs, step) for step in early],
            "definition": f"{resolved['rule']}: {definition}", "pre_registered": pre_registered}


def _abstention(runs: dict, early_steps: list[int], confidence: float) -> dict[str, Any]:
    """Per arm, the abstention rate (percent answered "") over the early window's points: mean, min, max."""
    arms = {}
    for arm, arm_runs in runs.items():
        values = [curve[s].get("abstain_rate") for curve in arm_runs.values() for s in early_steps]
        values = [float(v) for v in values if v is not None]
        arms[arm] = {"window_mean": mean_ci(values, confidence).mean, "min": min(values, default=None),
                     "max": max(values, default=None), "n_values": len(values)}
    return {"metric": "abstain_rate", "unit": "percent of questions answered \"\" at the null threshold",
            "over": "every seed and evaluation point of the early window", "arms": arms}


def _post_hoc(runs: dict, finals: dict, config: dict[str, Any], steps: list[int], arm: str,
              window: dict[str, Any], primary: list[str], claim: float, confidence: float,
              epochs: float | None, metrics: list[str] | None) -> dict[str, Any] | None:
    """The calls for a window or metrics that differ from the plan (labelled post hoc), or None."""
    other_window = epochs is not None and epochs != window["epochs"]
    other_metrics = metrics is not None and metrics != primary
    if not (other_window or other_metrics):
        return None
    chosen = _window(runs, steps, window_of(config, steps[-1], epochs), False) if other_window else window
    decision = early_gain.decide(runs, finals, arm, BASELINE, chosen["steps"], metrics or primary, claim, confidence,
                                 diagnostics=())
    what = " and ".join(part for part, used in ((f"window {epochs:g} epoch(s)" if other_window else "", other_window),
                                                (f"metrics {', '.join(metrics or [])}", other_metrics)) if used)
    note = (f"POST HOC (chosen after the plan, decides nothing): with the {what}, the call would be "
            f"{decision['call']} ({decision['reason']}); the pre-registered call stands.")
    return {"label": "post hoc", "early_window": chosen if other_window else None,
            "metrics": metrics if other_metrics else None, "call": decision["call"], "reason": decision["reason"],
            "calls": decision["calls"], "note": note}


def _examples_at(runs: dict, step: int) -> int | None:
    """Training examples seen at `step` (the same in every run of a comparison)."""
    record = next(iter(runs[BASELINE].values()))[step]
    return record.get("examples_seen")
