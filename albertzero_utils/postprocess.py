"""Logits -> answers, null odds and n-best lists for SQuAD 2.0, for all windows (features) at once.

Three vectorised steps: :func:`top_tokens` (each window's ``n_best`` best start and end tokens),
:func:`span_scores` (their grid of spans, with masks) and :func:`first_per_question` (windows to
questions). Per question, ``best_span`` is the highest span score, ``min_null`` the *lowest* ``[CLS]``
score ``start[0] + end[0]`` and ``min_diff`` the lowest ``has_logits[:, 1] - has_logits[:, 0]`` (column 1 =
"no answer") of its windows: ``null_odds = a * (min_null - best_span) + b * min_diff`` (``a =
null_weight``, ``b = has_ans_weight``; no ``b`` term without ``has_logits``), and the answer is ``''`` when
``null_odds > null_threshold``, else the best span's text. ``a = b = 0.5`` is a one-model version of
Retro-Reader's rear verification (Zhang et al. 2021, arXiv 2001.09694), without its separately trained
sketchy reader; ``a = 1, b = 0`` is the span reader alone. The metric's ``best_f1_thresh`` on
``span_answers`` and ``null_odds`` tunes the threshold on a dev set. A question without a valid span gets
``''`` and ``NO_SPAN_NULL_ODDS`` (a finite +inf: strict JSON). Equal scores go to the earliest window, then
start, then end token. The n-best lists (``n_best`` spans with
distinct character offsets, and the null entry) are built on first read.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow

from .errors import ConfigError, DataError, location
from .features import CLS_INDEX
from .fileio import write_json_atomic

NO_SPAN_NULL_ODDS = 1.0e6


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

    ``span_answers`` holds each question's best span whatever its null odds: with ``null_odds`` as na-probs
    it gives the metric a meaningful threshold sweep. ``nbest`` may be a function: it runs on first read.
    """

    def __init__(self, answers: dict[str, str], null_odds: dict[str, float],
                 nbest: dict[str, list[dict]] | Callable[[], dict[str, list[dict]]] | None = None,
                 span_answers: dict[str, str] | None = None) -> None:
        self.answers, self.null_odds, self.span_answers = answers, null_odds, span_answers or {}
        built = nbest or {}
        self._nbest_source = functools.cache(nbest) if callable(nbest) else lambda: built

    @property
    def nbest(self) -> dict[str, list[dict]]:
        """Per question, its n-best entries, best first (built on first access)."""
        return self._nbest_source()

    def __eq__(self, other: object) -> bool:
        fields = ("answers", "null_odds", "span_answers", "nbest")
        return isinstance(other, Predictions) and all(getattr(self, f) == getattr(other, f) for f in fields)

    def __repr__(self) -> str:
        return f"Predictions({len(self.answers)} questions, {sum(a != '' for a in self.answers.values())} answered)"

    def with_threshold(self, threshold: float) -> Predictions:
        """The same predictions re-decided at ``threshold`` ('' where ``null_odds > threshold``)."""
        answers = {qid: "" if self.null_odds[qid] > threshold else span for qid, span in self.span_answers.items()}
        return Predictions(answers, self.null_odds, self._nbest_source, self.span_answers)

    def write(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Atomically write ``predictions.json``, ``null_odds.json`` and ``nbest_predictions.json``."""
        files = {"predictions": (self.answers, "predictions.json"), "null_odds": (self.null_odds, "null_odds.json"),
                 "nbest": (self.nbest, "nbest_predictions.json")}
        return {key: write_json_atomic(Path(out_dir) / name, content) for key, (content, name) in files.items()}


def _column(rows: Any, name: str) -> list:
    """One column of a ``datasets.Dataset`` (read through Arrow, fast) or of a list of dicts."""
    return rows.with_format("arrow")[name].to_pylist() if hasattr(rows, "with_format") else [r[name] for r in rows]


def question_of_each_window(question_ids: Sequence[str], window_question_ids: Sequence[str]) -> np.ndarray:
    """Index of each window's question; every question needs at least one window."""
    index = {qid: i for i, qid in enumerate(question_ids)}
    if len(index) != len(question_ids):
        duplicate = next(qid for i, qid in enumerate(question_ids) if index[qid] != i)
        raise DataError(f"{location('examples', qid=duplicate)}: this question id appears more than once")
    unknown = next((qid for qid in window_question_ids if qid not in index), None)
    if unknown is not None:
        raise DataError(f"{location('features', qid=unknown)}: this feature's example is not among the examples")
    question = np.array([index[qid] for qid in window_question_ids], dtype=np.int64)
    windows = np.bincount(question, minlength=len(question_ids))
    if len(windows) and windows.min() == 0:
        raise DataError(f"{location('examples', qid=question_ids[int(windows.argmin())])}: no feature was built "
                        "for this example (features and examples do not match)")
    return question


def character_offsets(features: Any, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``offset_mapping`` as two ``[F, L]`` arrays: each token's first and past-the-end character in the
    context, ``-1`` for tokens outside it (rows may be shorter than ``L``: the rest is outside too)."""
    if hasattr(features, "with_format"):  # a datasets.Dataset: its Arrow column, without Python objects
        column = features.with_format("arrow")["offset_mapping"].combine_chunks()
    else:
        column = pyarrow.array([f["offset_mapping"] for f in features], pyarrow.list_(pyarrow.list_(pyarrow.int64())))
    lengths = column.value_lengths().to_numpy(zero_copy_only=False)
    in_context = column.flatten().is_valid().to_numpy(zero_copy_only=False)
    pairs = column.flatten().flatten().to_numpy(zero_copy_only=False).reshape(-1, 2)
    if len(lengths) and lengths.max() > shape[1]:
        raise ValueError(f"offset_mapping rows must hold at most {shape[1]} tokens, like the logits")
    context = np.zeros(shape, dtype=bool)
    context[np.arange(shape[1]) < lengths[:, None]] = in_context
    first, past = np.full(shape, -1, dtype=np.int32), np.full(shape, -1, dtype=np.int32)
    first[context], past[context] = pairs[:, 0], pairs[:, 1]
    return first, past


def top_tokens(logits: np.ndarray, k: int) -> np.ndarray:
    """``[F, k]``: the ``k`` tokens with the highest logits in each window, in token order."""
    return np.sort(np.argpartition(-logits, k - 1, axis=1)[:, :k], axis=1)


@dataclasses.dataclass(frozen=True)
class WindowSpans:
    """Each window's top-``k`` starts and ends (``[F, k]``: character offset, logit) and their span grid:
    ``scores[f, c]`` (``[F, k * k]``) pairs start ``c // k`` with end ``c % k``, ``-inf`` if not a span."""

    start_char: np.ndarray
    start_logit: np.ndarray
    end_char: np.ndarray
    end_logit: np.ndarray
    scores: np.ndarray

    def pick(self, window: np.ndarray, cell: np.ndarray) -> dict[str, np.ndarray]:
        """Character offsets and logits of the spans in ``cell`` of ``window``."""
        start, end = np.divmod(cell, self.start_char.shape[1])
        return {"start_char": self.start_char[window, start], "end_char": self.end_char[window, end],
                "start_logit": self.start_logit[window, start], "end_logit": self.end_logit[window, end]}


def span_scores(start_logits: np.ndarray, end_logits: np.ndarray, offsets: tuple[np.ndarray, np.ndarray],
                k: int, max_answer_length: int) -> WindowSpans:
    """The ``k x k`` (start, end) pairs of top tokens of every window, scored ``start_logit + end_logit``; a
    start or end outside the context (and its spans), ``end < start`` or a span over ``max_answer_length``
    tokens score ``-inf``."""
    window = np.arange(len(start_logits))[:, None]
    start, end = top_tokens(start_logits, k), top_tokens(end_logits, k)
    start_char, end_char = offsets[0][window, start], offsets[1][window, end]
    start_logit = np.where(start_char >= 0, start_logits[window, start], -np.inf)
    end_logit = np.where(end_char >= 0, end_logits[window, end], -np.inf)
    scores = start_logit[:, :, None] + end_logit[:, None, :]
    length = end[:, None, :] - start[:, :, None] + 1
    scores[(length < 1) | (length > max_answer_length)] = -np.inf
    return WindowSpans(start_char, start_logit, end_char, end_logit, scores.reshape(len(scores), -1))


def first_per_question(question: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Per question, its row with the smallest ``key`` (equal keys: the first row)."""
    order = np.lexsort((key, question))  # stable: equal keys keep row order
    return order[np.diff(question[order], prepend=-1) != 0]  # where a new question starts


def nbest_rows(spans: WindowSpans, question: np.ndarray, null: dict[str, np.ndarray],
               n_best: int) -> dict[str, np.ndarray]:
    """Per question, its ``n_best`` best spans with distinct character offsets (a span seen in several
    windows keeps its best score) and the ``null`` entry, as columns sorted by question, then score (ties:
    window, cell, spans before the null entry)."""
    cells = np.argsort(-spans.scores, axis=1, kind="stable")[:, :n_best]  # each window's best (ties: lower cell)
    score = np.take_along_axis(spans.scores, cells, axis=1)
    window, rank = np.nonzero(score > -np.inf)
    rows = {"question": question[window], **spans.pick(window, cells[window, rank]), "score": score[window, rank]}
    by_score = np.lexsort((-rows["score"], rows["question"]))
    rows = {name: column[by_score] for name, column in rows.items()}
    span_keys = np.stack([rows["question"], rows["start_char"], rows["end_char"]], axis=1)
    seen_first = np.sort(np.unique(span_keys, axis=0, return_index=True)[1])  # the best row of each span
    kept_question = rows["question"][seen_first]
    kept = seen_first[np.arange(len(seen_first)) - np.searchsorted(kept_question, kept_question) < n_best]
    rows = {"is_null": np.arange(len(kept) + len(null["score"])) >= len(kept),
            **{name: np.concatenate([column[kept], null[name]]) for name, column in rows.items()}}
    order = np.lexsort((rows["is_null"], -rows["score"], rows["question"]))
    return {name: column[order] for name, column in rows.items()}


def build_nbest(spans: WindowSpans, question: np.ndarray, null: dict[str, np.ndarray], ids: Sequence[str],
                contexts: Sequence[str], n_best: int) -> dict[str, list[dict]]:
    """Per question, its n-best entries best first (:func:`nbest_rows`): ``text, offsets, start_logit,
    end_logit, score, probability`` (softmax over the list); the null entry's ``offsets`` are None."""
    rows = nbest_rows(spans, question, null, n_best)
    owner = rows["question"]
    starts = np.searchsorted(owner, np.arange(len(ids)))  # where each list starts (never empty: null entry)
    exps = np.exp(rows["score"] - rows["score"][starts][owner])
    rows["probability"] = exps / np.add.reduceat(exps, starts)[owner]
    columns = zip(*(rows[name].tolist() for name in ("question", "start_char", "end_char", "start_logit",
                                                      "end_logit", "score", "probability", "is_null")))
    entries = [{"text": "" if is_null else contexts[q][a:b], "offsets": None if is_null else [a, b],
                "start_logit": s, "end_logit": e, "score": score, "probability": p}
               for q, a, b, s, e, score, p, is_null in columns]
    bounds = [*starts.tolist(), len(entries)]
    return {qid: entries[lo:hi] for qid, lo, hi in zip(ids, bounds[:-1], bounds[1:])}


def postprocess(examples: Any, features: Any, start_logits: np.ndarray, end_logits: np.ndarray,
                has_logits: np.ndarray | None = None, cfg: PostprocessConfig = PostprocessConfig()) -> Predictions:
    """Answers, null odds and (built on first access) n-best lists from per-window logits (module docstring)."""
    start_logits, end_logits = np.asarray(start_logits, np.float64), np.asarray(end_logits, np.float64)
    shape = start_logits.shape
    if start_logits.ndim != 2 or end_logits.shape != shape or shape[0] != len(features):
        raise ValueError(f"start/end logits must both be [{len(features)}, seq_len], got {shape} and "
                         f"{end_logits.shape}")
    if has_logits is not None and np.shape(has_logits) != (shape[0], 2):
        raise ValueError(f"has_logits must be [{shape[0]}, 2], got {np.shape(has_logits)}")
    ids, contexts = _column(examples, "id"), _column(examples, "context")
    question = question_of_each_window(ids, _column(features, "example_id"))
    spans = span_scores(start_logits, end_logits, character_offsets(features, shape), min(cfg.n_best, shape[1]),
                        cfg.max_answer_length)
    best_cell = spans.scores.argmax(axis=1)  # the first of equal scores
    best_score = spans.scores[np.arange(shape[0]), best_cell]
    best_window = first_per_question(question, -best_score)
    null_scores = start_logits[:, CLS_INDEX] + end_logits[:, CLS_INDEX]
    null_window = first_per_question(question, null_scores)
    has_span = np.isfinite(best_score[best_window])
    odds = cfg.null_weight * (null_scores[null_window] - best_score[best_window])
    if has_logits is not None:
        diff = np.diff(np.asarray(has_logits, dtype=np.float64), axis=1)[:, 0]  # "no answer" - "has answer"
        odds = odds + cfg.has_ans_weight * diff[first_per_question(question, diff)]
    odds = np.where(has_span, odds, NO_SPAN_NULL_ODDS).tolist()
    best = spans.pick(best_window, best_cell[best_window])
    texts = [context[a:b] if valid else "" for context, a, b, valid
             in zip(contexts, best["start_char"].tolist(), best["end_char"].tolist(), has_span.tolist())]
    no_offsets = np.zeros(len(ids), dtype=np.int32)
    null = {"question": np.arange(len(ids)), "start_char": no_offsets, "end_char": no_offsets,
            "start_logit": start_logits[null_window, CLS_INDEX], "end_logit": end_logits[null_window, CLS_INDEX],
            "score": null_scores[null_window]}
    return Predictions(answers={qid: "" if value > cfg.null_threshold else text
                                for qid, value, text in zip(ids, odds, texts)},
                       null_odds=dict(zip(ids, odds)), span_answers=dict(zip(ids, texts)),
                       nbest=functools.partial(build_nbest, spans, question, null, ids, contexts, cfg.n_best))
