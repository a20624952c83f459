"""Evaluation during training: the early-dense schedule, a fixed dev subset, and one metrics record.

Each evaluation runs the model over the eval windows (:func:`predict.predict_logits`: longest first, padded
per batch, gathered across processes and put back in order), post-processes them into
answers and null odds, and scores them with the official SQuAD 2.0 metric. The ``best_*`` keys come from a
threshold sweep over the *span* answers with the null odds as na-probs (the thresholded answers have
already lost their spans), the other keys from the thresholded answers.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import datasets

from .data import build_eval_features, gold_answers
from .features import FeatureConfig
from .metrics import squad_v2_metrics
from .postprocess import PostprocessConfig, Predictions, postprocess
from .predict import predict_logits

#: The eval subset is the same for every run (arm and seed): it depends on this constant only.
SUBSET_SEED = 20200926
SWEEP_KEYS = ("best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh")


def eval_schedule(total_steps: int, *, window_steps: int | None = None, interval: int | None = None,
                  late_count: int = 8, early_count: int = 6) -> list[int]:
    """The optimizer steps after which to evaluate: step 0 (the initial model, a reference), ..., the last step.

    ``window_steps`` is the early window's last step (:func:`profiles.window_end_step`; None: the whole run),
    and it is always evaluated, as are step 0 and the last step. With ``interval``: every ``interval`` steps
    besides. Without: ``early_count`` evenly spaced points in the window (its end the last of them), then
    ``late_count`` evenly spaced points after it. The global batch is fixed, so even in steps is even in
    training examples. No other point lies within 1% of the run's length of a kept one (it is dropped).
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    window = total_steps if window_steps is None else window_steps
    if not 1 <= window <= total_steps:
        raise ValueError(f"window_steps must lie in 1..{total_steps}, got {window_steps}")
    if interval is not None:
        steps = set(range(interval, total_steps + 1, interval))
    else:
        steps = {round(window * j / early_count) for j in range(1, early_count + 1)}
        steps |= {round(window + (total_steps - window) * j / late_count) for j in range(1, late_count + 1)}
    fixed = sorted({0, window, total_steps})
    gap = total_steps / 100
    kept = list(fixed)
    for step in sorted(steps - set(fixed)):
        if all(abs(step - other) >= gap for other in kept):
            kept.append(step)
    return sorted(kept)


def quiet_unless(main: bool) -> dict[str, bool]:
    """tqdm keywords: no bar on other processes, nor under CI (``CI`` set, as CI services do); on the main
    one, tqdm's defaults otherwise (``TQDM_DISABLE=1``, which `make test` and .ci/run set, turns it off)."""
    under_ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return {} if main and not under_ci else {"disable": True}


def fixed_subset(examples: datasets.Dataset, max_samples: int | None) -> datasets.Dataset:
    """At most ``max_samples`` questions drawn once with :data:`SUBSET_SEED` (file order kept)."""
    if max_samples is None or max_samples >= len(examples):
        return examples
    chosen = random.Random(SUBSET_SEED).sample(range(len(examples)), max_samples)
    return examples.select(sorted(chosen))


@dataclass
class EvalSet:
    """The questions, their windows (for the model and post-processing), the batch size and the gold answers."""

    examples: datasets.Dataset
    features: datasets.Dataset
    batch_size: int
    golds: dict[str, list[str]]


def build_eval_set(examples: datasets.Dataset, tokenizer: Any, feature_cfg: FeatureConfig, batch_size: int,
                   accelerator: Any) -> EvalSet:
    """Windows and gold answers; features are built on the main process first (cache file)."""
    with accelerator.main_process_first():
        features = build_eval_features(examples, tokenizer, feature_cfg)
    return EvalSet(examples, features, batch_size, gold_answers(examples))


def abstain_rate(golds: dict[str, list[str]], answers: dict[str, str]) -> float:
    """The abstention rate, in PERCENT of the scored questions (0-100, like the F1 keys): the share whose
    answer at the evaluation's null threshold is "" (no answer). A model that flips between answering every
    question and abstaining on every one shows here as a jump between 0 and 100."""
    return 100.0 * sum(answers.get(qid, "") == "" for qid in golds) / len(golds) if golds else 0.0


def score(golds: dict[str, list[str]], predictions: Predictions) -> dict[str, float]:
    """The official keys for the thresholded answers, the ``best_*`` sweep over the span answers,
    ``HasAns_span_exact``/``HasAns_span_f1``: the best span on answerable questions, never abstaining (how
    well the reader extracts, separately from when it abstains), and ``abstain_rate`` (:func:`abstain_rate`,
    percent of questions answered "" at the threshold)."""
    thresholded = squad_v2_metrics(golds, predictions.answers)
    swept = squad_v2_metrics(golds, predictions.span_answers, na_probs=predictions.null_odds)
    answerable = {qid: texts for qid, texts in golds.items() if texts}
    # no answerable question: no span score (null, as the official script leaves out HasAns_* then), never 0.0
    span = squad_v2_metrics(answerable, predictions.span_answers) if answerable else {"exact": None, "f1": None}
    return {**thresholded, **{key: swept[key] for key in SWEEP_KEYS},
            "HasAns_span_exact": span["exact"], "HasAns_span_f1": span["f1"],
            "abstain_rate": abstain_rate(golds, predictions.answers)}


def evaluate(model: Any, eval_set: EvalSet, accelerator: Any, cfg: PostprocessConfig, *,
             desc: str = "eval") -> tuple[dict[str, float], Predictions]:
    """Metrics (official keys, flat) and predictions of `model` on `eval_set`."""
    start, end, has = predict_logits(model, eval_set.features, eval_set.batch_size, accelerator=accelerator,
                                     desc=desc)
    predictions = postprocess(eval_set.examples, eval_set.features, start, end, has, cfg)
    return score(eval_set.golds, predictions), predictions
