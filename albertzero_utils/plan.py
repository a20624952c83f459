"""The pre-registered plan of a comparison: written to comparison.json before any run starts.

The plan fixes what decides the verdict before a result is seen: the arms and seeds, the early window (in
epochs of training data, with the steps and examples it resolves to), the co-primary metrics, the reference
values (0 and the claimed gain), the confidence, the profile's settings and a sha256 of the resolved config.
`summarize` reads it back; a window or metric asked for later that differs from it is labelled post hoc.
The window's steps are resolved without a GPU or the Hub: counted when the training file and the tokenizer
are local (the runs build the same windows), else estimated from SQuAD 2.0's published size.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import paths
from .early_gain import ALPHA, power_table
from .errors import ConfigError, DataError
from .fileio import write_json_atomic
from .profiles import CLAIM_GAIN, window_end_step

PLAN_FILE = "comparison.json"
#: SQuAD 2.0 sizes: questions per split (Rajpurkar, Jia and Liang 2018, "Know What You Don't Know", Table 2:
#: 130,319 train, 11,873 dev; the rajpurkar/squad_v2 splits hold the same), and the dev set's windows at
#: 384/128 with albert-base-v2's tokenizer (counted with build_eval_features); the training split is
#: assumed to have the same windows per question.
SQUAD_TRAIN_QUESTIONS, SQUAD_DEV_QUESTIONS, SQUAD_DEV_WINDOWS = 130_319, 11_873, 12_155
#: Paired-gain standard deviations (points) at which the plan states its power for the claimed gain.
PLAN_SDS = (0.5, 1.0, 2.0)
#: Settings that differ between the runs of one comparison, or only say where it lives: not in the hash.
NOT_HASHED = frozenset({"seed", "seeds", "reinit", "output_dir", "resume_from_checkpoint", "overwrite_output_dir",
                        "duration_source"})
#: Plan entries that a later command must not change once a run exists (the pre-registration).
FIXED_KEYS = ("baseline", "primary_metrics", "claim_gain", "confidence", "early_window_epochs", "config_sha256")
DIAGNOSTIC_METRICS = ("HasAns_span_f1", "abstain_rate")


def settings(cfg: Any) -> dict[str, Any]:
    """The resolved config as JSON values (a dataclass: TrainConfig, or a test's stand-in)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def config_sha256(cfg: Any) -> str:
    """sha256 of the resolved settings shared by every run (sorted JSON, per-run fields left out). The
    committed data/ is written as ``<data>`` first, so a clone in another folder registers the same plan."""
    shared = {k: v for k, v in settings(cfg).items() if k not in NOT_HASHED}
    text = json.dumps(shared, sort_keys=True).replace(json.dumps(str(paths.DATA_DIR))[1:-1], "<data>")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def primary_metrics(cfg: Any) -> list[str]:
    """The co-primary metrics: the headline and, when set, the co-primary one (F1 if a config has neither)."""
    headline = getattr(cfg, "headline_metric", "f1")
    coprimary = getattr(cfg, "coprimary_metric", None)
    return [headline] + ([coprimary] if coprimary else [])


def _counted_windows(cfg: Any) -> tuple[int, str] | None:
    """The exact number of training windows when the training file and the tokenizer are local, else None."""
    from . import paths

    model = Path(paths.model_location(cfg.model)).expanduser()
    if cfg.train_file is None or not model.is_dir():
        return None
    from .data import build_train_features, load_examples, load_tokenizer
    from .features import FeatureConfig

    examples = load_examples(cfg.train_file, split="train", max_samples=cfg.max_train_samples)
    tokenizer = load_tokenizer(str(model), match_original_albert=cfg.match_original_albert_tokenizer)
    features = build_train_features(examples, tokenizer, FeatureConfig(
        cfg.max_seq_length, cfg.doc_stride, cfg.max_query_length, cfg.pad_to_max_length))
    return len(features), (f"counted: {len(features)} windows built from {cfg.train_file} ({len(examples)} "
                           "questions) with the model's tokenizer, as each run builds them")


def train_windows(cfg: Any) -> tuple[int | None, str]:
    """(training windows per epoch, how they were found): counted locally, estimated from SQuAD 2.0's size
    (questions from the local file when it is local), or None for a config without data settings."""
    if not hasattr(cfg, "train_file"):
        return None, "unknown: the config names no training data"
    counted = _counted_windows(cfg)
    if counted is not None:
        return counted
    per_question = SQUAD_DEV_WINDOWS / SQUAD_DEV_QUESTIONS
    if cfg.train_file is None:
        questions, where = SQUAD_TRAIN_QUESTIONS, ("SQuAD 2.0 train's 130,319 questions (Rajpurkar et al. 2018, "
                                                   "Table 2)")
    else:
        from .data import load_examples

        questions, where = len(load_examples(cfg.train_file, split="train")), f"counted in {cfg.train_file}"
    if cfg.max_train_samples is not None:
        questions = min(questions, cfg.max_train_samples)
    windows = round(questions * per_question)
    return windows, (f"ESTIMATE: {questions:,} questions ({where}) x {per_question:.3f} windows per question "
                     f"(SQuAD 2.0 dev at 384/128 with albert-base-v2's tokenizer: {SQUAD_DEV_WINDOWS} windows, "
                     f"{SQUAD_DEV_QUESTIONS} questions)")


def resolve_window(cfg: Any, windows: int | None) -> dict[str, Any]:
    """The early window in epochs and, from `windows` per epoch, in steps and training examples."""
    epochs = getattr(cfg, "early_window_epochs", None)
    window: dict[str, Any] = {"epochs": epochs, "train_windows_per_epoch": windows, "steps_per_epoch": None,
                              "total_steps": None, "end_step": None, "examples": None}
    batch = getattr(cfg, "global_batch_size", None)
    if windows is None or epochs is None or batch is None:
        return window
    per_epoch = max(1, math.ceil(windows / batch))
    total = getattr(cfg, "max_steps", None) or cfg.num_epochs * per_epoch
    end = window_end_step(epochs, per_epoch, total)
    return {**window, "steps_per_epoch": per_epoch, "total_steps": total, "end_step": end, "examples": end * batch}


def build_plan(cfg: Any, arms: Sequence[Any], seeds: Sequence[int], *, baseline: str = "baseline",
               confidence: float = 0.95) -> dict[str, Any]:
    """comparison.json's ``plan``: everything the verdict is decided on, fixed before any run."""
    windows, source = train_windows(cfg)
    claim = float(getattr(cfg, "claim_gain", CLAIM_GAIN))
    return {
        "registered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "profile": getattr(cfg, "profile", None),
        "arms": [{"name": a.name, "targets": list(a.targets)} for a in arms],
        "seeds": list(seeds),
        "baseline": baseline,
        "statistic": "early_auc_gain: per seed, the trapezoid area under the metric's curve over training "
                     "examples in the early window (step 0 excluded) / its width; re-init minus baseline",
        "primary_metrics": primary_metrics(cfg),
        "diagnostic_metrics": [m for m in DIAGNOSTIC_METRICS if m not in primary_metrics(cfg)],
        "claim_gain": claim,
        "reference_values": [0.0, claim],
        "confidence": confidence,
        "early_window_epochs": getattr(cfg, "early_window_epochs", None),
        "early_window": {**resolve_window(cfg, windows), "source": source},
        "power": {"seeds": len(seeds), "target_gain": claim, "alpha": ALPHA,
                  "rows": power_table(len(seeds), PLAN_SDS, claim)},
        "settings": settings(cfg),
        "config_sha256": config_sha256(cfg),
    }


def read_plan(compare_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The stored plan of a comparison, or None (no comparison.json, or one written before plans existed)."""
    path = Path(compare_dir) / PLAN_FILE
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable comparison plan ({exc})") from None
    plan = stored.get("plan") if isinstance(stored, dict) else None
    return plan if isinstance(plan, dict) else None


def register(compare_dir: str | os.PathLike, plan: Mapping[str, Any], *, runs_started: bool) -> dict[str, Any]:
    """Write comparison.json (this command's arms and seeds, and the plan) and return the plan in force. A
    stored plan with the same fixed entries stays (its registration time and seeds too: seeds added later
    show in the summary); a different one is replaced only while no run has started, else ConfigError: the
    pre-registered plan cannot change after the fact."""
    stored = read_plan(compare_dir)
    current = {"arms": plan["arms"], "seeds": list(plan["seeds"])}
    if stored is not None:
        changed = next((key for key in FIXED_KEYS if stored.get(key) != plan.get(key)), None)
        if changed is None:
            plan = stored
        elif runs_started:
            raise ConfigError(f"{Path(compare_dir) / PLAN_FILE}: the pre-registered plan has {changed}="
                              f"{stored.get(changed)!r} but this command asks for {plan.get(changed)!r}; use "
                              f"another --output-dir (or `albertzero plot` to look at a post hoc choice)")
    write_json_atomic(Path(compare_dir) / PLAN_FILE, {**current, "plan": dict(plan)})
    return dict(plan)


def _decided_on(metrics: Sequence[str]) -> str:
    if len(metrics) == 1:
        return f"{metrics[0]} (the one primary metric)"
    return f"{' and '.join(metrics)} (co-primary: the overall call is their common call, else inconclusive)"


def describe(plan: Mapping[str, Any]) -> str:
    """The plan in a few lines (printed by `compare --plan-only` and notebook 03)."""
    window = plan["early_window"]
    lines = [f"pre-registered plan ({plan['registered_at']}, config sha256 {plan['config_sha256'][:16]}...)",
             f"  profile: {plan['profile']}",
             f"  arms: {', '.join(a['name'] for a in plan['arms'])} (baseline: {plan['baseline']})",
             f"  seeds: {', '.join(map(str, plan['seeds']))} ({len(plan['seeds'])} paired runs per arm)",
             f"  decided on: {_decided_on(plan['primary_metrics'])}; diagnostics (never decide): "
             f"{', '.join(plan['diagnostic_metrics'])}",
             f"  statistic: {plan['statistic']}",
             f"  reference values: 0 and the claimed +{plan['claim_gain']:g}; {plan['confidence']:.0%} t-interval"]
    if window["end_step"] is None:
        lines.append(f"  early window: {window['epochs']} epoch(s) (steps unknown: {window['source']})")
    else:
        lines.append(f"  early window: {window['epochs']:g} epoch(s) = steps 1-{window['end_step']} of "
                     f"{window['total_steps']} ({window['steps_per_epoch']} per epoch) = {window['examples']:,} "
                     f"training windows")
        lines.append(f"    ({window['source']})")
    lines.append(f"  power for +{plan['power']['target_gain']:g} with {plan['power']['seeds']} seeds "
                 f"(paired t-test, two-sided alpha {plan['power']['alpha']:g}, noncentral t):")
    for row in plan["power"]["rows"]:
        needed = row["seeds_needed"] if row["seeds_needed"] is not None else "more than 1000"
        lines.append(f"    paired SD {row['paired_sd']:g} points: power {row['power']:.2f}; "
                     f"80% power needs {needed} seeds")
    return "\n".join(lines)
