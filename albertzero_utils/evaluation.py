"""Evaluation during training: the early-dense schedule, a fixed dev subset, and one metrics record.

Each evaluation runs the model over the eval windows (:func:`predict.predict_logits`: longest first, padded
per batch, gathered across processes and put back in order), post-processes them into
answers and null odds, and scores them with the official SQuAD 2.0 metric. The ``best_*`` keys come from a
threshold sweep over the *span* answers with the null odds as na-probs (the thresholded answers have
already lost their spans), the other keys from the thresholded answers.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import datasets

from .data import build_eval_features, gold_answers
from .features import FeatureConfig
from .metrics import squad_v2_metrics
from .postprocess import PostprocessConfig, Predictions, postprocess
from .predict import predict_logits
from .profiles import EARLY_FRACTION

#: The eval subset is the same for every run (arm and seed): it depends on this constant only.
SUBSET_SEED = 20200926
SWEEP_KEYS = ("best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh")


def eval_schedule(total_steps: int, *, interval: int | None = None, late_count: int = 8, early_count: int = 6,
                  early_fraction: float = EARLY_FRACTION) -> list[int]:
    """The optimizer steps after which to evaluate: step 0 (the initial model, a reference), ..., the last step.

    With ``interval``: every ``interval`` steps. Without: ``early_count`` evenly spaced points in the early
    window (the first ``early_fraction`` of the run), then ``late_count`` evenly spaced points after it. The
    global batch is fixed, so even in steps is even in training examples. No two points lie within 1% of
    the run's length of each other (the later one is dropped; the last step is always kept).
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if interval is not None:
        steps = set(range(interval, total_steps + 1, interval))
    else:
        window = early_fraction * total_steps
        steps = {round(window * j / early_count) for j in range(1, early_count + 1)}
        steps |= {round(window + (total_steps - window) * j / late_count) for j in range(1, late_count + 1)}
    gap = total_steps / 100
    kept = [0]
    for step in sorted(steps - {0, total_steps}):
        if step - kept[-1] >= gap and total_steps - step >= gap:
            kept.append(step)
    return kept + [total_steps]


def quiet_unless(main: bool) -> dict[str, bool]:
    """tqdm keywords: no bar on other processes; on the main one, tqdm's defaults (TQDM_DISABLE works)."""
    return {} if main else {"disable": True}


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


def score(golds: dict[str, list[str]], predictions: Predictions) -> dict[str, float]:
    """The official keys for the thresholded answers, the ``best_*`` sweep over the span answers, and
    ``HasAns_span_exact``/``HasAns_span_f1``: the best span on answerable questions, never abstaining (how
    well the reader extracts, separately from when it abstains)."""
    thresholded = squad_v2_metrics(golds, predictions.answers)
    swept = squad_v2_metrics(golds, predictions.span_answers, na_probs=predictions.null_odds)
    answerable = {qid: texts for qid, texts in golds.items() if texts}
    # no answerable question: no span score (null, as the official script leaves out HasAns_* then), never 0.0
    span = squad_v2_metrics(answerable, predictions.span_answers) if answerable else {"exact": None, "f1": None}
    return {**thresholded, **{key: swept[key] for key in SWEEP_KEYS},
            "HasAns_span_exact": span["exact"], "HasAns_span_f1": span["f1"]}


def evaluate(model: Any, eval_set: EvalSet, accelerator: Any, cfg: PostprocessConfig, *,
             desc: str = "eval") -> tuple[dict[str, float], Predictions]:
    """Metrics (official keys, flat) and predictions of `model` on `eval_set`."""
    start, end, has = predict_logits(model, eval_set.features, eval_set.batch_size, accelerator=accelerator,
                                     desc=desc)
    predictions = postprocess(eval_set.examples, eval_set.features, start, end, has, cfg)
    return score(eval_set.golds, predictions), predictions
