"""A drop-in for the official SQuAD 2.0 evaluation script (CodaLab ``evaluate-v2.0.py``).

Same normalisation, same scores, same keys in the same order and the **same floats**: every sum the
official script computes is computed here in the same order (Python ``sum`` over questions in data-file
order, sequential ``np.cumsum`` for the threshold sweep and the precision-recall curves).

Differences, all on inputs where the official script is silent or crashes:

- missing predictions (or na-probs) raise a one-line :class:`~albertzero_utils.errors.DataError`
  giving how many and the first few ids (the official script prints, drops them, then crashes);
- predictions and na-probs for ids that are not in the data file are ignored, like the official script;
- malformed prediction / na-prob files (not JSON, not an object, non-string answers, non-numeric or NaN
  probabilities) raise a one-line ``DataError`` naming the file and the question id.

As in the official script, ``best_*`` keys appear only when na-probs are given, and the ``pr_*`` keys and
the five PNGs only when an image directory is given as well.
"""
from __future__ import annotations

import collections
import json
import math
import os
import re
import string
from typing import Mapping, Sequence

import numpy as np

from .errors import DataError, location
from .fileio import atomic_write

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_SHOWN_IDS = 3


# ----------------------------------------------------------------------------------- answer scoring
def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (official order)."""
    text = s.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def get_tokens(s: str) -> list[str]:
    """Normalised whitespace tokens; ``[]`` for an empty answer."""
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(a_gold: str, a_pred: str) -> int:
    """1 when the normalised answers are equal, else 0."""
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold: str, a_pred: str) -> float:
    """Token-overlap F1; when either side is empty, 1 if both are, else 0 (official rule)."""
    gold_toks = get_tokens(a_gold)
    pred_toks = get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def scorable_golds(answers: Sequence[str]) -> list[str]:
    """Gold texts that survive normalisation; ``['']`` for an unanswerable question."""
    return [a for a in answers if normalize_answer(a)] or [""]


def get_raw_scores(golds: Mapping[str, Sequence[str]], preds: Mapping[str, str]) -> tuple[dict, dict]:
    """Per-question exact and F1 (max over golds), in ``golds`` order; every question needs a prediction."""
    exact_scores, f1_scores = {}, {}
    for qid, answers in golds.items():
        gold_texts = scorable_golds(answers)
        a_pred = preds[qid]
        exact_scores[qid] = max(compute_exact(a, a_pred) for a in gold_texts)
        f1_scores[qid] = max(compute_f1(a, a_pred) for a in gold_texts)
    return exact_scores, f1_scores


# ------------------------------------------------------------------------------------- aggregation
def apply_no_ans_threshold(scores: dict, na_probs: Mapping[str, float], qid_to_has_ans: dict,
                           na_prob_thresh: float) -> dict:
    """Score a question as if the prediction were '' when its na-prob exceeds the threshold."""
    new_scores = {}
    for qid, s in scores.items():
        if na_probs[qid] > na_prob_thresh:
            new_scores[qid] = float(not qid_to_has_ans[qid])
        else:
            new_scores[qid] = s
    return new_scores


def make_eval_dict(exact_scores: dict, f1_scores: dict, qid_list: list[str] | None = None) -> collections.OrderedDict:
    """``exact, f1, total`` over all questions or over ``qid_list``."""
    if not qid_list:
        total = len(exact_scores)
        exact_sum, f1_sum = sum(exact_scores.values()), sum(f1_scores.values())
    else:
        total = len(qid_list)
        exact_sum, f1_sum = sum(exact_scores[k] for k in qid_list), sum(f1_scores[k] for k in qid_list)
    return collections.OrderedDict([("exact", 100.0 * exact_sum / total), ("f1", 100.0 * f1_sum / total),
                                    ("total", total)])


def merge_eval(main_eval: dict, new_eval: Mapping, prefix: str) -> None:
    """Copy ``new_eval`` into ``main_eval`` under ``PREFIX_key``."""
    for k in new_eval:
        main_eval[f"{prefix}_{k}"] = new_eval[k]


def _sorted_by_na_prob(na_probs: Mapping[str, float], keep: Mapping) -> list[str]:
    """Question ids by increasing na-prob (stable, so ties keep na-prob order), restricted to ``keep``."""
    return [q for q in sorted(na_probs, key=lambda k: na_probs[k]) if q in keep]


def find_best_thresh(preds: Mapping[str, str], scores: dict, na_probs: Mapping[str, float],
                     qid_to_has_ans: dict) -> tuple[float, float]:
    """The official sweep: answer questions in na-prob order, keep the first best running score.

    Starts from ``num_no_ans`` (everything predicted ''), adds the score of an answerable question and
    -1 for an unanswerable one with a non-empty prediction; returns ``(100 * best / n, thresh)`` where
    ``thresh`` is the na-prob of the last question answered, or 0.0 when answering nothing is best.
    """
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    qid_list = _sorted_by_na_prob(na_probs, scores)
    diffs = [scores[q] if qid_to_has_ans[q] else (-1 if preds[q] else 0) for q in qid_list]
    running = np.cumsum(np.asarray([num_no_ans, *diffs], dtype=np.float64))
    best = int(np.argmax(running))  # first occurrence == the official strict '>' update
    best_thresh = na_probs[qid_list[best - 1]] if best > 0 else 0.0
    return 100.0 * float(running[best]) / len(scores), best_thresh


def find_all_best_thresh(main_eval: dict, preds: Mapping[str, str], exact_raw: dict, f1_raw: dict,
                         na_probs: Mapping[str, float], qid_to_has_ans: dict) -> None:
    """Add ``best_exact, best_exact_thresh, best_f1, best_f1_thresh`` to ``main_eval``."""
    best_exact, exact_thresh = find_best_thresh(preds, exact_raw, na_probs, qid_to_has_ans)
    best_f1, f1_thresh = find_best_thresh(preds, f1_raw, na_probs, qid_to_has_ans)
    main_eval["best_exact"] = best_exact
    main_eval["best_exact_thresh"] = exact_thresh
    main_eval["best_f1"] = best_f1
    main_eval["best_f1_thresh"] = f1_thresh


# -------------------------------------------------------------------------- precision-recall analysis
def make_precision_recall_eval(scores: Mapping[str, float], na_probs: Mapping[str, float], num_true_pos: int,
                               qid_to_has_ans: dict, out_image: str | os.PathLike | None = None,
                               title: str | None = None) -> dict:
    """Average precision (x100) of ranking by na-prob, with a point only where the na-prob changes."""
    qid_list = _sorted_by_na_prob(na_probs, qid_to_has_ans)
    probs = np.asarray([na_probs[q] for q in qid_list], dtype=np.float64)
    gains = np.asarray([scores[q] if qid_to_has_ans[q] else 0.0 for q in qid_list], dtype=np.float64)
    true_pos = np.cumsum(gains)
    cur_p = true_pos / np.arange(1, len(qid_list) + 1, dtype=np.float64)
    cur_r = true_pos / float(num_true_pos)
    cut = np.append(probs[:-1] != probs[1:], True) if len(qid_list) else np.zeros(0, dtype=bool)
    precisions, recalls = cur_p[cut], cur_r[cut]
    terms = precisions * (recalls - np.concatenate(([0.0], recalls[:-1])))
    avg_prec = float(np.cumsum(terms)[-1]) if len(terms) else 0.0
    if out_image:
        _plot_pr_curve([1.0, *precisions.tolist()], [0.0, *recalls.tolist()], out_image, title or "")
    return {"ap": 100.0 * avg_prec}


def run_precision_recall_analysis(main_eval: dict, exact_raw: dict, f1_raw: dict, na_probs: Mapping[str, float],
                                  qid_to_has_ans: dict, out_image_dir: str | os.PathLike) -> None:
    """Add ``pr_exact_ap, pr_f1_ap, pr_oracle_ap`` and save the three PR curves in ``out_image_dir``."""
    os.makedirs(out_image_dir, exist_ok=True)
    num_true_pos = sum(1 for v in qid_to_has_ans.values() if v)
    if num_true_pos == 0:
        return
    curves = [
        ("pr_exact", exact_raw, "Precision-Recall curve for Exact Match score"),
        ("pr_f1", f1_raw, "Precision-Recall curve for F1 score"),
        ("pr_oracle", {k: float(v) for k, v in qid_to_has_ans.items()},
         "Oracle Precision-Recall curve (binary task of HasAns vs. NoAns)"),
    ]
    results = [(prefix, make_precision_recall_eval(scores, na_probs, num_true_pos, qid_to_has_ans,
                                                   out_image=os.path.join(out_image_dir, f"{prefix}.png"),
                                                   title=title))
               for prefix, scores, title in curves]
    for prefix, result in results:
        merge_eval(main_eval, result, prefix)


def histogram_na_prob(na_probs: Mapping[str, float], qid_list: list[str], image_dir: str | os.PathLike,
                      name: str) -> None:
    """Save ``na_prob_hist_NAME.png``: the share of questions per na-prob bin (20 bins on [0, 1])."""
    if not qid_list:
        return
    x = [na_probs[k] for k in qid_list]
    fig, ax = _new_figure()
    ax.hist(x, weights=np.ones_like(x) / float(len(x)), bins=20, range=(0.0, 1.0))
    ax.set_xlabel("Model probability of no-answer")
    ax.set_ylabel("Proportion of dataset")
    ax.set_title(f"Histogram of no-answer probability: {name}")
    atomic_write(os.path.join(image_dir, f"na_prob_hist_{name}.png"), lambda tmp: fig.savefig(tmp, format="png"))


def _new_figure():
    """A figure on the Agg canvas, outside pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _plot_pr_curve(precisions: list[float], recalls: list[float], out_image: str | os.PathLike, title: str) -> None:
    fig, ax = _new_figure()
    ax.step(recalls, precisions, color="b", alpha=0.2, where="post")
    ax.fill_between(recalls, precisions, step="post", alpha=0.2, color="b")
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_xlim([0.0, 1.05])
    ax.set_ylim([0.0, 1.05])
    ax.set_title(title)
    atomic_write(out_image, lambda tmp: fig.savefig(tmp, format="png"))


# ------------------------------------------------------------------------------------ public entry
def squad_v2_metrics(golds: Mapping[str, Sequence[str]], preds: Mapping[str, str],
                     na_probs: Mapping[str, float] | None = None, na_prob_thresh: float = 1.0,
                     out_image_dir: str | os.PathLike | None = None) -> collections.OrderedDict:
    """The official SQuAD 2.0 evaluation of ``preds`` against raw gold texts (empty list = unanswerable).

    ``na_probs`` default to 0.0 for every question; the ``best_*`` keys (and, with ``out_image_dir``, the
    ``pr_*`` keys and PNGs) are added only when ``na_probs`` are given. Predictions and na-probs for ids
    not in ``golds`` are ignored.
    """
    check_covered(golds, preds, "prediction", "predictions")
    if na_probs is not None:
        check_covered(golds, na_probs, "na-prob", "na-probs")
        check_na_prob_values(na_probs, "na-probs", only=golds)
    qid_to_has_ans = {qid: bool(answers) for qid, answers in golds.items()}
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    probs = na_probs if na_probs is not None else {k: 0.0 for k in golds}
    exact_raw, f1_raw = get_raw_scores(golds, preds)
    exact_thresh = apply_no_ans_threshold(exact_raw, probs, qid_to_has_ans, na_prob_thresh)
    f1_thresh = apply_no_ans_threshold(f1_raw, probs, qid_to_has_ans, na_prob_thresh)
    out_eval = make_eval_dict(exact_thresh, f1_thresh)
    if has_ans_qids:
        merge_eval(out_eval, make_eval_dict(exact_thresh, f1_thresh, qid_list=has_ans_qids), "HasAns")
    if no_ans_qids:
        merge_eval(out_eval, make_eval_dict(exact_thresh, f1_thresh, qid_list=no_ans_qids), "NoAns")
    if na_probs is not None:
        find_all_best_thresh(out_eval, preds, exact_raw, f1_raw, na_probs, qid_to_has_ans)
        if out_image_dir is not None:
            run_precision_recall_analysis(out_eval, exact_raw, f1_raw, na_probs, qid_to_has_ans, out_image_dir)
            histogram_na_prob(na_probs, has_ans_qids, out_image_dir, "hasAns")
            histogram_na_prob(na_probs, no_ans_qids, out_image_dir, "noAns")
    return out_eval


# ----------------------------------------------------------------------------------- input checks
def _read_json_object(path: str | os.PathLike, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the {what} file ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: the {what} file is not valid JSON ({exc})") from None
    except RecursionError:
        raise DataError(f"{path}: the {what} file is nested too deeply to be a JSON object of {what}s") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: the {what} file must be a JSON object mapping question ids to "
                        f"{what}s, not a {type(obj).__name__}")
    return obj


def read_predictions(path: str | os.PathLike, only: Mapping | None = None) -> dict[str, str]:
    """Read an official ``predictions.json`` (question id -> answer text, '' for no answer). With ``only``
    (the gold answers), entries for other ids are not checked: the official script ignores them."""
    preds = _read_json_object(path, "prediction")
    for qid, answer in preds.items():
        if not isinstance(answer, str) and (only is None or qid in only):
            raise DataError(f"{location(path, qid=qid)}: the prediction must be a string "
                            f"('' for no answer), not {type(answer).__name__} {answer!r:.40}")
    return preds


def read_na_probs(path: str | os.PathLike) -> dict[str, float]:
    """Read a na-prob file (question id -> number; larger = more likely unanswerable)."""
    na_probs = _read_json_object(path, "na-prob")
    check_na_prob_values(na_probs, str(path))
    # An integer beyond float range compares with any threshold as ±inf does (the official script compares
    # the int itself): keep its side of every threshold, as a float.
    return {qid: _as_float(value) for qid, value in na_probs.items()}


def _as_float(value: object) -> object:
    try:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def check_na_prob_values(na_probs: Mapping[str, object], source: str, only: Mapping | None = None) -> None:
    """Every na-prob (of the ids in ``only``, if given) must be a real number, not NaN (±inf is allowed)."""
    for qid, value in na_probs.items():
        if only is not None and qid not in only:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                or not isinstance(value, int) and math.isnan(value):
            raise DataError(f"{location(source, qid=qid)}: the na-prob must be a number, not {value!r:.40}")


def check_covered(golds: Mapping[str, object], given: Mapping[str, object], what: str, source: str) -> None:
    """Raise a one-line error when some questions of ``golds`` have no entry in ``given``."""
    missing = [qid for qid in golds if qid not in given]
    if missing:
        first = ", ".join(missing[:_SHOWN_IDS]) + (", ..." if len(missing) > _SHOWN_IDS else "")
        raise DataError(f"{source}: {len(missing)} of {len(golds)} questions have no {what} (first: {first})")

