"""Post-processing on the real dev set, pinned: answers, null odds and n-best lists on fixed seeded logits.

``tests/golden/postprocess_dev.json`` holds a compact summary (hashes of every text, offset and order;
weighted sums of every number) of what the post-processing gave on the official dev windows (384/128,
albert-base-v2 tokenizer) before its rewrite for readability. Rewrite it again and this test says whether
anything changed. Regenerate (only on purpose) with ``python -m tests.test_postprocess_golden``.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from albertzero_utils import paths
from albertzero_utils.fileio import write_text_atomic
from albertzero_utils.postprocess import NO_SPAN_NULL_ODDS, PostprocessConfig, Predictions, postprocess
from bench.bench_postprocess import random_logits

GOLDEN = Path(__file__).parent / "golden" / "postprocess_dev.json"
_NUMBERS = ("start_logit", "end_logit", "score", "probability")
#: name -> (settings, logit seed, whether an answerability head's logits are given, logit rounding step or 0).
#: With rounded logits only the answers, span answers and null odds are compared (see the test).
CASES: dict[str, tuple[PostprocessConfig, int, bool, float]] = {
    "utils_qa_rule": (PostprocessConfig(null_weight=1.0, has_ans_weight=0.0), 1234, False, 0.0),
    "fused_short": (PostprocessConfig(n_best=5, max_answer_length=12, null_threshold=-0.5), 7, True, 0.0),
    "ties": (PostprocessConfig(n_best=10, max_answer_length=20), 11, True, 0.5),
}


def dev_inputs() -> tuple[Any, Any]:
    """The official dev questions and their evaluation windows (384 tokens, stride 128; cached after once)."""
    from albertzero_utils import data

    examples = data.load_examples(str(paths.SQUAD2_DEV), check_offsets=False)
    tokenizer = data.load_tokenizer(paths.ALBERT_BASE_DIR)
    return examples, data.build_eval_features(examples, tokenizer, data.FeatureConfig(384, 128, 64))


def case_predictions(name: str, examples: Any, features: Any) -> Predictions:
    """Post-process one case's seeded logits (rounded to ``step`` to force equal scores when ``step``)."""
    cfg, seed, with_head, step = CASES[name]
    start, end = random_logits(features, seed)
    has = np.random.default_rng(seed + 1).standard_normal((len(features), 2)) if with_head else None
    if step:
        start, end = np.round(start / step) * step, np.round(end / step) * step
    return postprocess(examples, features, start, end, has, cfg)


def _sha256(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, ensure_ascii=False).encode()).hexdigest()


def _weighted_sum(values: list[float]) -> dict[str, float]:
    """A seeded random projection of ``values`` and its scale: any value that moves moves the sum."""
    weights = np.random.default_rng(0).standard_normal(len(values))
    terms = weights * np.asarray(values, dtype=np.float64)
    return {"weighted": float(terms.sum()), "scale": float(np.abs(terms).sum())}


def summarize(predictions: Predictions) -> dict[str, Any]:
    """Exact hashes of the texts, offsets and orders; weighted sums of the null odds and n-best numbers."""
    ids = list(predictions.answers)
    entries = [entry for qid in ids for entry in predictions.nbest[qid]]
    return {
        "questions": len(ids),
        "answered": sum(answer != "" for answer in predictions.answers.values()),
        "nbest_entries": len(entries),
        "answers_sha256": _sha256(predictions.answers),
        "span_answers_sha256": _sha256(predictions.span_answers),
        "nbest_spans_sha256": _sha256({qid: [[e["text"], e["offsets"]] for e in predictions.nbest[qid]]
                                       for qid in ids}),
        "no_span_sha256": _sha256([qid for qid in ids if predictions.null_odds[qid] == NO_SPAN_NULL_ODDS]),
        "null_odds": _weighted_sum([value for value in predictions.null_odds.values() if value != NO_SPAN_NULL_ODDS]),
        **{f"nbest_{key}": _weighted_sum([entry[key] for entry in entries]) for key in _NUMBERS},
        "first_question_nbest": predictions.nbest[ids[0]],
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_outputs_as_before_the_rewrite_on_the_dev_set(name: str) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[name]
    got = summarize(case_predictions(name, *dev_inputs()))
    for key, value in golden.items():
        if CASES[name][3] and key.startswith(("nbest", "first_question")):
            continue  # equal scores at the n-best cut: the pick was arbitrary (argpartition), now the earliest cell
        if isinstance(value, dict) and "weighted" in value:
            assert got[key]["weighted"] == pytest.approx(value["weighted"], rel=0, abs=1e-12 * value["scale"]), key
        elif key == "first_question_nbest":
            assert [[e["text"], e["offsets"]] for e in got[key]] == [[e["text"], e["offsets"]] for e in value]
            for ours, before in zip(got[key], value):
                assert {k: ours[k] for k in _NUMBERS} == pytest.approx({k: before[k] for k in _NUMBERS})
        else:
            assert got[key] == value, key


def main() -> int:
    """Write the golden summary of every case from the post-processing as it is now."""
    examples, features = dev_inputs()
    summaries = {name: summarize(case_predictions(name, examples, features)) for name in sorted(CASES)}
    GOLDEN.parent.mkdir(exist_ok=True)
    write_text_atomic(GOLDEN, json.dumps(summaries, indent=1) + "\n")
    counts = ", ".join(f"{name} {summary['nbest_entries']} n-best entries" for name, summary in summaries.items())
    print(f"wrote {GOLDEN}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
