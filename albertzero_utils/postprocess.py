"""Logits -> answers, null odds and n-best lists for SQuAD 2.0 (vectorised over all features at once).

For every feature (window) the ``n_best`` highest start and end logits form an ``n_best x n_best`` grid of
candidate spans; a cell is kept when both ends are context tokens, ``end >= start`` and the span is at most
``max_answer_length`` tokens. Its score is ``start_logit + end_logit``. Per example, across its windows:

- ``best_span`` = the highest span score, ``min_null`` = the *lowest* ``[CLS]`` score
  ``start[0] + end[0]``, and ``min_diff`` = the lowest ``has_logits[:, 1] - has_logits[:, 0]``
  (column 1 = "no answer") over the windows;
- ``null_odds = a * (min_null - best_span) + b * min_diff`` with ``a = null_weight`` and
  ``b = has_ans_weight`` (the ``b`` term is 0 when no ``has_logits`` are given);
- the answer is ``''`` when ``null_odds > null_threshold``, else the best span cut from the context.

Defaults ``a = b = 0.5`` mirror Retro-Reader's rear verification, which averages the intensive reader's
null-score difference and the sketchy reader's answerability logit difference with
``beta1 = beta2 = 0.5`` (Zhang et al. 2020, arXiv 2001.09694); ``a = 1, b = 0`` is the intensive reader
alone. The threshold is then tuned on a dev set with :func:`best_threshold`.

An example with no valid span in any window (no top-``n_best`` start/end pair is a context span) gets
the answer ``''`` and ``null_odds = NO_SPAN_NULL_ODDS``: a finite stand-in for +inf, so the JSON files stay
strict and any sensible threshold predicts "no answer".

Equal scores go to the earliest window, then the earliest start and end token. The n-best lists (up to
``n_best`` spans with distinct character offsets, plus the null entry; see :mod:`postprocess_nbest`) are
built only when :attr:`Predictions.nbest` is first read: answers and null odds do not need them.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .errors import ConfigError, DataError, location
from .fileio import write_json_atomic
from .postprocess_nbest import (
    NullEntries,
    RankedCells,
    build_nbest,
    rank_cells,
    top_tokens,
)

NO_SPAN_NULL_ODDS = 1.0e6
CLS_INDEX = 0


@dataclasses.dataclass(frozen=True)
class PostprocessConfig:
    """How many candidates to keep, the longest answer (tokens), the fusion weights and the threshold."""

    n_best: int = 20
    max_answer_length: int = 30
    null_weight: float = 0.5
    has_ans_weight: float = 0.5
    null_threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.n_best < 1 or self.max_answer_length < 1:
            raise ConfigError(f"invalid post-processing settings {self}: n_best and max_answer_length must be >= 1")


class Predictions:
    """Answers ('' = no answer), null odds (the evaluator's na-prob file) and n-best lists, per question.

    ``span_answers`` holds the best non-null span of every question whatever its null odds: pass it (with
    ``null_odds`` as na-probs) to the metric for a meaningful threshold sweep. When evaluating
    ``predictions.json`` with ``-n null_odds.json``, give ``-t`` the same ``null_threshold`` (or more).
    ``nbest`` may be given as a function that builds it: it then runs on first access, once.
    """

    def __init__(self, answers: dict[str, str], null_odds: dict[str, float],
                 nbest: dict[str, list[dict]] | Callable[[], dict[str, list[dict]]] | None = None,
                 span_answers: dict[str, str] | None = None) -> None:
        self.answers = answers
        self.null_odds = null_odds
        self.span_answers = {} if span_answers is None else span_answers
        if callable(nbest):
            self._nbest_source: Callable[[], dict[str, list[dict]]] = functools.cache(nbest)
        else:
            built = {} if nbest is None else nbest
            self._nbest_source = lambda: built

    @property
    def nbest(self) -> dict[str, list[dict]]:
        """Per question, its n-best entries, best first (built on first access)."""
        return self._nbest_source()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Predictions):
            return NotImplemented
        return (self.answers, self.null_odds, self.span_answers, self.nbest) == \
            (other.answers, other.null_odds, other.span_answers, other.nbest)

    __hash__ = None  # type: ignore[assignment]  (mutable)

    def __repr__(self) -> str:
        answered = sum(answer != "" for answer in self.answers.values())
        return f"Predictions({len(self.answers)} questions, {answered} answered)"

    def with_threshold(self, threshold: float) -> Predictions:
        """The same predictions re-decided at ``threshold`` ('' where ``null_odds > threshold``)."""
        answers = {qid: "" if self.null_odds[qid] > threshold else span for qid, span in self.span_answers.items()}
        return Predictions(answers, self.null_odds, self._nbest_source, self.span_answers)

    def write(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Atomically write ``predictions.json``, ``null_odds.json`` and ``nbest_predictions.json``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {"predictions": out / "predictions.json", "null_odds": out / "null_odds.json",
                 "nbest": out / "nbest_predictions.json"}
        write_json_atomic(files["predictions"], self.answers)
        write_json_atomic(files["null_odds"], self.null_odds)
        write_json_atomic(files["nbest"], self.nbest)
        return files


# ------------------------------------------------------------------------------------ input helpers
def _column(rows: Any, name: str) -> list:
    """One column of a ``datasets.Dataset`` (read through Arrow, fast) or of a list of dicts."""
    if hasattr(rows, "with_format"):
        return rows.with_format("arrow")[name].to_pylist()
    return [row[name] for row in rows]


def _offset_pairs(features: Any, num_features: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """``offset_mapping`` as ``token_pair [F, L]`` (row of ``pairs``, -1 outside the context) and ``pairs``.

    ``pairs`` is ``[P, 2]``: the ``[char_start, char_end]`` of every context token, in row-major order.
    """
    if hasattr(features, "with_format"):  # a datasets.Dataset: unnest the Arrow column without Python objects
        rows = features.with_format("arrow")["offset_mapping"].combine_chunks()
        lengths = rows.value_lengths().to_numpy(zero_copy_only=False)
        tokens = rows.flatten()
        valid = tokens.is_valid().to_numpy(zero_copy_only=False)
        pairs = tokens.flatten().to_numpy(zero_copy_only=False).reshape(-1, 2)
    else:
        rows = [feature["offset_mapping"] for feature in features]
        lengths = np.array([len(row) for row in rows], dtype=np.int64)
        flat = [span for row in rows for span in row]
        valid = np.array([span is not None for span in flat], dtype=bool)
        pairs = np.array([span for span in flat if span is not None], dtype=np.int64).reshape(-1, 2)
    if len(lengths) != num_features or (len(lengths) and lengths.max() > seq_len) or pairs.size != 2 * valid.sum():
        raise ValueError(f"offset_mapping must be {num_features} rows of at most {seq_len} [start, end] pairs "
                         "or None, to match the logits")
    index_type = np.int32 if num_features * seq_len < 2**31 else np.int64
    token_pair = np.full((num_features, seq_len), -1, dtype=index_type)
    pair_index = np.arange(len(pairs), dtype=index_type)
    if (lengths == seq_len).all():
        token_pair.reshape(-1)[valid] = pair_index
    else:  # rows shorter than the logits (unpadded features): the rest are not context
        row_index = np.repeat(np.arange(num_features), lengths)
        col_index = np.arange(len(row_index)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        token_pair[row_index[valid], col_index[valid]] = pair_index
    return token_pair, pairs.astype(np.int64, copy=False)


def _feature_examples(example_ids: Sequence[str], feature_example_ids: Sequence[str]) -> np.ndarray:
    """Index of each feature's example; every example needs at least one feature."""
    index = {qid: i for i, qid in enumerate(example_ids)}
    if len(index) != len(example_ids):
        duplicate = next(qid for i, qid in enumerate(example_ids) if index[qid] != i)
        raise DataError(f"{location('examples', qid=duplicate)}: this question id appears more than once")
    unknown = next((qid for qid in feature_example_ids if qid not in index), None)
    if unknown is not None:
        raise DataError(f"{location('features', qid=unknown)}: this feature's example is not among the examples")
    feature_example = np.fromiter((index[qid] for qid in feature_example_ids), dtype=np.int64,
                                  count=len(feature_example_ids))
    counts = np.bincount(feature_example, minlength=len(example_ids))
    if len(counts) and counts.min() == 0:
        raise DataError(f"{location('examples', qid=example_ids[int(counts.argmin())])}: no feature was built "
                        "for this example (features and examples do not match)")
    return feature_example


class _ExampleGroups:
    """Per-example reductions over features, without a Python loop (features sorted stably by example)."""

    def __init__(self, feature_example: np.ndarray, num_examples: int) -> None:
        self.order = np.argsort(feature_example, kind="stable")
        self.counts = np.bincount(feature_example, minlength=num_examples)  # all >= 1 (_feature_examples)
        self.starts = np.cumsum(self.counts) - self.counts

    def minimum(self, values: np.ndarray) -> np.ndarray:
        return np.minimum.reduceat(values[self.order], self.starts)

    def first_argmax(self, values: np.ndarray) -> np.ndarray:
        """Per example, its first feature (by index) with the largest value."""
        ordered = values[self.order]
        is_max = ordered == np.repeat(np.fmax.reduceat(ordered, self.starts), self.counts)
        position = np.minimum.reduceat(np.where(is_max, np.arange(len(ordered)), len(ordered)), self.starts)
        return self.order[np.minimum(position, self.starts + self.counts - 1)]  # all-NaN group: its last


def _null_odds(best_score: np.ndarray, min_null: np.ndarray, has_logits: np.ndarray | None,
               groups: _ExampleGroups, cfg: PostprocessConfig) -> np.ndarray:
    """``a * (min_null - best_span) + b * min_diff`` per example; ``NO_SPAN_NULL_ODDS`` without a valid span."""
    answerability = 0.0
    if has_logits is not None:
        has = np.asarray(has_logits, dtype=np.float64)
        answerability = cfg.has_ans_weight * groups.minimum(has[:, 1] - has[:, 0])
    return np.where(np.isfinite(best_score), cfg.null_weight * (min_null - best_score) + answerability,
                    NO_SPAN_NULL_ODDS)


def _best_span_texts(ranked: RankedCells, best_feature: np.ndarray, contexts: Sequence[str]) -> list[str]:
    """Per example, the text of the best cell of its best feature ('' when that cell is not a valid span)."""
    top, best_cell = ranked.top, ranked.cell[best_feature, 0]
    chars = zip(top.start_char[best_feature, best_cell // top.k].tolist(),
                top.end_char[best_feature, best_cell % top.k].tolist(),
                np.isfinite(ranked.score[best_feature, 0]).tolist())
    return [context[a:b] if valid else "" for context, (a, b, valid) in zip(contexts, chars)]


# ---------------------------------------------------------------------------------------- main entry
def postprocess(examples: Any, features: Any, start_logits: np.ndarray, end_logits: np.ndarray,
                has_logits: np.ndarray | None = None, cfg: PostprocessConfig = PostprocessConfig()) -> Predictions:
    """Answers, null odds and (built on first access) n-best lists from per-feature logits (module docstring)."""
    start = np.asarray(start_logits, dtype=np.float64)
    end = np.asarray(end_logits, dtype=np.float64)
    num_features = len(features)
    if start.ndim != 2 or start.shape != end.shape or start.shape[0] != num_features:
        raise ValueError(f"start/end logits must both be [{num_features}, seq_len], got {start.shape} and {end.shape}")
    if has_logits is not None and np.shape(has_logits) != (num_features, 2):
        raise ValueError(f"has_logits must be [{num_features}, 2], got {np.shape(has_logits)}")
    ids, contexts = _column(examples, "id"), _column(examples, "context")
    feature_example = _feature_examples(ids, _column(features, "example_id"))
    groups = _ExampleGroups(feature_example, len(ids))
    top = top_tokens(start, end, *_offset_pairs(features, num_features, start.shape[1]),
                     k=min(cfg.n_best, start.shape[1]))
    ranked = rank_cells(top, cfg.max_answer_length, cfg.n_best)
    best_feature = groups.first_argmax(ranked.score[:, 0])  # a window's best cell first; -inf: none valid
    null_scores = start[:, CLS_INDEX] + end[:, CLS_INDEX]
    null_feature = groups.first_argmax(-null_scores)  # the lowest null score
    odds = _null_odds(ranked.score[best_feature, 0], null_scores[null_feature], has_logits, groups, cfg).tolist()
    spans = _best_span_texts(ranked, best_feature, contexts)
    null = NullEntries(start[null_feature, CLS_INDEX], end[null_feature, CLS_INDEX], null_scores[null_feature])
    nbest = functools.partial(build_nbest, ranked, null, feature_example, ids, contexts, cfg.n_best)
    return Predictions(answers={qid: "" if value > cfg.null_threshold else span
                                for qid, value, span in zip(ids, odds, spans)},
                       null_odds=dict(zip(ids, odds)), nbest=nbest, span_answers=dict(zip(ids, spans)))


def best_threshold(golds: Mapping[str, Sequence[str]], predictions: Predictions) -> tuple[float, float]:
    """The null-odds threshold that maximises F1 on a dev set, and that F1 (x100): the official sweep.

    Runs :func:`metrics.find_best_thresh` on the best *span* answers with the null odds as na-probs. As in
    the official script, when answering no question at all is best the threshold returned is 0.0.
    """
    metrics.check_covered(golds, predictions.span_answers, "span prediction", "predictions")
    metrics.check_covered(golds, predictions.null_odds, "null odds", "predictions")
    preds = {qid: predictions.span_answers[qid] for qid in golds}
    _, f1_raw = metrics.get_raw_scores(golds, preds)
    has_answer = {qid: bool(answers) for qid, answers in golds.items()}
    best_f1, threshold = metrics.find_best_thresh(preds, f1_raw, predictions.null_odds, has_answer)
    return float(threshold), best_f1
