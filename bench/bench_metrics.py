"""Benchmark 3: the SQuAD 2.0 metric, against a plain per-question loop of the official evaluate-v2.0.py.

The reference (`official_eval.py`) restates the official script's definitions (normalisation, exact, F1, the na-prob
threshold, the HasAns/NoAns splits and the best-threshold sweep) as the plain loops the script uses.
Predictions are deterministic and realistic: gold for half of the answerable questions, a wrong span of
the context or '' for the rest, '' or a span for unanswerable ones; na-probs are seeded, so the sweep runs.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from albertzero_utils.metrics import squad_v2_metrics

from .common import ratio, time_runs
from .official_eval import reference_metrics

NA_PROB_SEED = 7


# ----------------------------------------------------------------------------------------- inputs
def realistic_predictions(examples: Any) -> tuple[dict[str, list[str]], dict[str, str], dict[str, float]]:
    """Golds, deterministic predictions (see the module docstring) and seeded na-probs, in file order."""
    golds, preds = {}, {}
    for i, (qid, context, spans) in enumerate(zip(examples["id"], examples["context"], examples["answers"])):
        golds[qid] = list(spans["text"])
        words = context.split()
        wrong_span = " ".join(words[i % max(1, len(words) - 3):][:3])
        if golds[qid]:
            preds[qid] = golds[qid][0] if i % 2 == 0 else (wrong_span if i % 4 == 1 else "")
        else:
            preds[qid] = "" if i % 2 == 0 else wrong_span
    rng = np.random.default_rng(NA_PROB_SEED)
    na_probs = {qid: float(p) for qid, p in zip(golds, rng.random(len(golds)))}
    return golds, preds, na_probs


def run(examples: Any, runs: int = 3) -> dict:
    """Time ours and the reference (median of ``runs`` each); assert the same keys, order and numbers."""
    golds, preds, na_probs = realistic_predictions(examples)
    ours, ours_out = time_runs(lambda: squad_v2_metrics(golds, preds, na_probs), runs)
    reference, ref_out = time_runs(lambda: reference_metrics(golds, preds, na_probs, pr_curves=False), runs)
    if list(ours_out) != list(ref_out):
        raise AssertionError(f"metric keys differ: {list(ours_out)} vs {list(ref_out)}")
    gaps = {k: abs(float(ours_out[k]) - float(ref_out[k])) for k in ref_out}
    if max(gaps.values()) > 1e-9:
        raise AssertionError(f"metric values differ from the official definitions: {gaps}")
    return {
        "what": "squad_v2_metrics() vs a plain per-question loop of evaluate-v2.0.py (with the best-thresh sweep)",
        "questions": len(golds), "same_numbers": True,
        "bit_identical": all(ours_out[k] == ref_out[k] for k in ref_out),
        "metrics": {k: ours_out[k] for k in ("exact", "f1", "best_f1", "best_f1_thresh")},
        "ours": ours.summary(), "reference": reference.summary(),
        "speedup": ratio(reference.wall, ours.wall), "speedup_cpu": ratio(reference.cpu, ours.cpu),
    }
