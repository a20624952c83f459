"""Candidate spans of every feature, and the per-question n-best lists built from them on demand.

The layer under :mod:`postprocess`: :func:`top_tokens` keeps, per feature, the ``k`` highest start and end
tokens (with their logits and character offsets); :func:`span_grid` scores their ``k x k`` combinations and
:func:`rank_cells` keeps each feature's best ones; :func:`build_nbest` turns those into the JSON-able n-best
lists. All of it is vectorised over all features at once; only the final dicts are made one by one, and
:mod:`postprocess` calls :func:`build_nbest` only when the n-best lists are asked for.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Iterator, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class TopTokens:
    """The ``k`` highest start and end tokens of each feature, in token order; every array is ``[F, k]``.

    ``*_logit`` is ``-inf`` for a token outside the context (so is every span using it); ``*_char`` is the
    token's character start (for starts) or end (for ends) in the context, meaningless outside it.
    """

    start_token: np.ndarray
    start_logit: np.ndarray
    start_char: np.ndarray
    end_token: np.ndarray
    end_logit: np.ndarray
    end_char: np.ndarray

    @property
    def k(self) -> int:
        return self.start_token.shape[1]


@dataclasses.dataclass(frozen=True)
class RankedCells:
    """Each feature's ``m`` best cells of :func:`span_grid`, best first (equal scores: lower cell first).

    ``cell`` and ``score`` are ``[F, m]``; a score of ``-inf`` marks an invalid span.
    """

    top: TopTokens
    cell: np.ndarray
    score: np.ndarray


@dataclasses.dataclass(frozen=True)
class NullEntries:
    """Per question, the ``[CLS]`` entry of its window with the lowest null score: that window's logits."""

    start_logit: np.ndarray
    end_logit: np.ndarray
    score: np.ndarray


def top_tokens(start: np.ndarray, end: np.ndarray, token_pair: np.ndarray, pairs: np.ndarray, k: int) -> TopTokens:
    """The ``k`` best start and end tokens of each row of the ``[F, L]`` logits (any token may be picked).

    ``token_pair[f, t]`` is the row of ``pairs`` (``[char_start, char_end]``) of context token ``t`` of
    feature ``f``, or ``-1`` for a token outside the context.
    """
    rows = np.arange(len(start))[:, None]
    columns = []
    for logits, side in ((start, 0), (end, 1)):
        token = np.sort(np.argpartition(-logits, k - 1, axis=1)[:, :k], axis=1).astype(np.int32)
        pair = token_pair[rows, token]
        char = pairs[np.maximum(pair, 0), side] if len(pairs) else np.zeros_like(pair)
        columns += [token, np.where(pair >= 0, logits[rows, token], -np.inf), char]
    return TopTokens(*columns)


def span_grid(top: TopTokens, max_answer_length: int) -> np.ndarray:
    """Scores ``start_logit + end_logit`` of the ``k x k`` start/end pairs, ``[F, k * k]``; ``-inf`` if invalid.

    Cell ``c`` pairs start ``c // k`` with end ``c % k``. A pair is valid when both tokens are context,
    ``end >= start`` and the span has at most ``max_answer_length`` tokens.
    """
    length = top.end_token[:, None, :] - top.start_token[:, :, None]  # tokens - 1; negative: end before start
    grid = top.start_logit[:, :, None] + top.end_logit[:, None, :]
    np.putmask(grid, length.view(np.uint32) >= max_answer_length, -np.inf)  # as unsigned, negatives are huge
    return grid.reshape(len(grid), -1)


def rank_cells(top: TopTokens, max_answer_length: int, m: int) -> RankedCells:
    """The ``m`` best cells of each feature's span grid, best first."""
    grid = span_grid(top, max_answer_length)
    m = min(m, grid.shape[1])
    cell = np.sort(np.argpartition(-grid, m - 1, axis=1)[:, :m], axis=1)
    score = np.take_along_axis(grid, cell, axis=1)
    by_score = np.argsort(-score, axis=1, kind="stable")
    return RankedCells(top, np.take_along_axis(cell, by_score, axis=1), np.take_along_axis(score, by_score, axis=1))


def _run_starts(*keys: np.ndarray) -> np.ndarray:
    """Mask of the rows that start a new run of equal ``keys`` (rows already sorted by them)."""
    new = np.ones(len(keys[0]), dtype=bool)
    if len(new):
        new[1:] = np.logical_or.reduce([key[1:] != key[:-1] for key in keys])
    return new


def _by_example_then_score(example: np.ndarray, score: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Rows (each window's best first) ordered by example, then decreasing score; ties keep their order.

    Only the rows of examples with several windows (``windows`` per example) need a real merge.
    """
    order = np.argsort(example, kind="stable")
    merge = np.flatnonzero(windows[example[order]] > 1)
    rows = order[merge]
    order[merge] = rows[np.lexsort((-score[rows], example[rows]))]
    return order


def _first_of_each_span(example: np.ndarray, char_start: np.ndarray, char_end: np.ndarray) -> np.ndarray:
    """Positions of the first row of each distinct ``(example, char_start, char_end)``, in row order."""
    width = int(max(char_start.max(initial=0), char_end.max(initial=0))) + 1
    if (int(example.max(initial=0)) + 1) * width * width < 2**62:  # one int64 key: a much faster sort
        by_span = np.argsort((example * width + char_start) * width + char_end, kind="stable")
    else:
        by_span = np.lexsort((char_end, char_start, example))
    return np.sort(by_span[_run_starts(example[by_span], char_start[by_span], char_end[by_span])])


def _candidate_spans(ranked: RankedCells, feature_example: np.ndarray, n_best: int) -> dict[str, np.ndarray]:
    """Up to ``n_best`` distinct (by character offsets) spans per question, as flat columns.

    A span seen in several windows keeps its best score. Rows are sorted by question, then decreasing score;
    equal scores keep window, then cell order.
    """
    m, top = ranked.cell.shape[1], ranked.top
    keep = np.flatnonzero(np.isfinite(ranked.score.ravel()))
    feature, cell, score = keep // m, ranked.cell.ravel()[keep], ranked.score.ravel()[keep]
    start_pick, end_pick = np.divmod(cell, top.k)
    example = feature_example[feature]
    char_start, char_end = top.start_char[feature, start_pick], top.end_char[feature, end_pick]
    order = _by_example_then_score(example, score, np.bincount(feature_example))
    order = order[_first_of_each_span(example[order], char_start[order], char_end[order])]
    sorted_example = example[order]
    order = order[np.arange(len(order)) - np.searchsorted(sorted_example, sorted_example) < n_best]
    return {"example": example[order], "score": score[order], "char_start": char_start[order],
            "char_end": char_end[order], "start_logit": top.start_logit[feature[order], start_pick[order]],
            "end_logit": top.end_logit[feature[order], end_pick[order]]}


def _with_null_entries(spans: dict[str, np.ndarray], null: NullEntries) -> dict[str, np.ndarray]:
    """The spans plus one null entry per question, still sorted by question, then score (spans first on ties)."""
    num_examples = len(null.score)
    example = spans["example"]
    above = np.bincount(example[spans["score"] >= null.score[example]], minlength=num_examples)
    at = np.searchsorted(example, np.arange(num_examples)) + above
    columns = {"example": np.arange(num_examples), "score": null.score, "char_start": np.zeros(num_examples, int),
               "char_end": np.zeros(num_examples, int), "start_logit": null.start_logit, "end_logit": null.end_logit}
    merged = {name: np.insert(spans[name], at, values) for name, values in columns.items()}
    merged["is_null"] = np.insert(np.zeros(len(example), dtype=bool), at, True)
    return merged


def _probabilities(example: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax of ``score`` within each question (rows sorted by question, best first); the run starts."""
    starts = np.flatnonzero(_run_starts(example))
    counts = np.diff(np.append(starts, len(example)))
    exps = np.exp(score - np.repeat(score[starts], counts))
    return exps / np.repeat(np.add.reduceat(exps, starts), counts), starts


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: making 10^5 acyclic dicts would trigger many full collections."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_nbest(ranked: RankedCells, null: NullEntries, feature_example: np.ndarray, ids: Sequence[str],
                contexts: Sequence[str], n_best: int) -> dict[str, list[dict]]:
    """Per question, its n-best entries best first: up to ``n_best`` spans and the null entry (``offsets``
    None), each with ``text, offsets, start_logit, end_logit, score, probability`` (softmax over the list)."""
    rows = _with_null_entries(_candidate_spans(ranked, feature_example, n_best), null)
    probability, starts = _probabilities(rows["example"], rows["score"])
    columns = [rows[name].tolist() for name in ("example", "char_start", "char_end", "start_logit", "end_logit",
                                                "score", "is_null")]
    with _gc_paused():
        entries = [{"text": "", "offsets": None, "start_logit": start_logit, "end_logit": end_logit,
                    "score": score, "probability": p} if is_null else
                   {"text": contexts[example][a:b], "offsets": [a, b], "start_logit": start_logit,
                    "end_logit": end_logit, "score": score, "probability": p}
                   for example, a, b, start_logit, end_logit, score, is_null, p in zip(*columns, probability.tolist())]
        bounds = [*starts.tolist(), len(entries)]
        return {qid: entries[lo:hi] for qid, lo, hi in zip(ids, bounds[:-1], bounds[1:])}
