"""Tokenised SQuAD 2.0 features: sliding windows, per-window labels and evaluation offsets.

This is the Hugging Face ``run_qa`` recipe, re-implemented (transformers 5 removed its SQuAD helpers):
question first, context second, ``truncation="only_second"`` with a ``doc_stride`` overlap. Each window
(feature) is labelled on its own, Retro-Reader style: ``is_impossible = 1`` when the window does not
contain the whole gold answer, with both positions on the ``[CLS]`` index 0.

Windows are stored unpadded (each row as long as its tokens), so that batches can be padded to their own
longest window (:mod:`.batching`); ``FeatureConfig(pad_to_max_length=True)`` keeps the old rows padded to
``max_seq_length``. Features are built with ``Dataset.map(batched=True)`` into an Arrow cache file keyed on
the examples' fingerprint, the tokenizer, the :class:`FeatureConfig` and this module's source, so a second
call with the same inputs reads the cache instead of re-tokenising. Beside each cache file, ``.check.json``
records its size and SHA-256 once it is complete; a cache that does not match (truncated, corrupted, or
left without its record by a crash) is deleted and rebuilt.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import datasets
import numpy as np
import pyarrow as pa

from .errors import ConfigError
from .feature_cache import drop_bad_cache, record_cache

CLS_INDEX = 0
#: The columns a model reads, and the training labels: the one list every module uses.
MODEL_INPUT_COLUMNS = ("input_ids", "attention_mask", "token_type_ids")
LABEL_COLUMNS = ("start_positions", "end_positions", "is_impossible")
TRAIN_COLUMNS = MODEL_INPUT_COLUMNS + LABEL_COLUMNS


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Window settings: total length, overlap between windows, the cap on question tokens, and whether rows
    are stored padded to ``max_seq_length`` (the old behaviour) instead of as long as their tokens."""

    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    pad_to_max_length: bool = False

    def __post_init__(self) -> None:
        room = self.max_seq_length - self.max_query_length - 3  # [CLS] question [SEP] context [SEP]
        if min(self.max_seq_length, self.doc_stride, self.max_query_length) < 1 or self.doc_stride >= room:
            raise ConfigError(f"invalid feature settings {self}: need positive values and "
                              f"doc_stride < max_seq_length - max_query_length - 3 = {room}")


@dataclasses.dataclass(frozen=True)
class Recoverability:
    """How many answerable questions get a gold answer back from the train labels + offsets.

    ``recoverable`` counts an exact match under the official metric (normalised text, any gold answer): the
    ceiling of EM for a perfect span predictor. ``exact_string`` is the stricter count of labelled spans that
    are character-for-character the first gold text (``1936,`` for ``1936`` fails it but is an exact match).
    """

    answerable: int
    recoverable: int
    unrecoverable_ids: tuple[str, ...]
    exact_string: int

    @property
    def fraction(self) -> float:
        return self.recoverable / self.answerable if self.answerable else 1.0


def feature_cache_dir() -> Path:
    """Where feature caches go: $HF_DATASETS_CACHE/albertzero, else $XDG_CACHE_HOME (or ~/.cache)/albertzero."""
    if os.environ.get("HF_DATASETS_CACHE"):
        return Path(os.environ["HF_DATASETS_CACHE"]) / "albertzero"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "albertzero"


@contextlib.contextmanager
def in_memory_features() -> Iterator[None]:
    """Build one-off features (a single question) in memory, without writing an Arrow cache file for each."""
    enabled = datasets.is_caching_enabled()
    datasets.disable_caching()
    try:
        yield
    finally:
        if enabled:
            datasets.enable_caching()


def _tokenizer_fingerprint(tokenizer: Any) -> str:
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    for per_call_setting in ("truncation", "padding"):  # set by each tokenizer call, not part of its identity
        backend.pop(per_call_setting, None)
    state = {"class": type(tokenizer).__name__, "backend": backend, "padding_side": tokenizer.padding_side}
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def _cache_key(kind: str, examples: datasets.Dataset, tokenizer: Any, cfg: FeatureConfig) -> str:
    """A hash of everything the features depend on (also their ``datasets`` fingerprint: ``map`` would
    otherwise hash the tokenizer object itself, which costs more than a tenth of the whole build)."""
    key = hashlib.sha256()
    for part in (kind, examples._fingerprint, _tokenizer_fingerprint(tokenizer), repr(cfg),
                 Path(__file__).read_bytes()):
        key.update(part if isinstance(part, bytes) else str(part).encode())
    return key.hexdigest()[:24]


def _cache_file(kind: str, key: str) -> str | None:
    """The Arrow cache path for these inputs, or None when `datasets` caching is disabled."""
    if not datasets.is_caching_enabled():
        return None
    directory = feature_cache_dir() / "features"
    directory.mkdir(parents=True, exist_ok=True)
    return str(directory / f"{kind}-{key}.arrow")


def cap_questions(questions: list[str], tokenizer: Any, max_query_length: int) -> tuple[list[str], list[bool]]:
    """Left-strip questions and cut any longer than ``max_query_length`` tokens after its last kept token."""
    questions = [q.lstrip() for q in questions]
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    capped, truncated = [], []
    for question, offsets in zip(questions, encoded["offset_mapping"]):
        too_long = len(offsets) > max_query_length
        capped.append(question[:offsets[max_query_length - 1][1]] if too_long else question)
        truncated.append(too_long)
    return capped, truncated


def _tokenize(batch: dict[str, list], tokenizer: Any, cfg: FeatureConfig) -> tuple[Any, list[bool]]:
    """One batched pair call: overflowing windows, offsets and token types, as ``[windows, L]`` arrays
    (padded to this batch's longest window, or to max_seq_length with ``pad_to_max_length``)."""
    if tokenizer.padding_side != "right":  # rows are cut to their length from the right
        raise ConfigError(f"tokenizer {tokenizer.name_or_path!r} pads on the {tokenizer.padding_side}; QA windows "
                          f"need right padding (set tokenizer.padding_side = 'right')")
    questions, truncated = cap_questions(batch["question"], tokenizer, cfg.max_query_length)
    encoded = tokenizer(questions, batch["context"], truncation="only_second", max_length=cfg.max_seq_length,
                        stride=cfg.doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                        return_token_type_ids=True, return_tensors="np",
                        padding="max_length" if cfg.pad_to_max_length else "longest")
    return encoded, truncated


def _row_lengths(encoded: Any, cfg: FeatureConfig) -> np.ndarray:
    """How many tokens of each window's row to store: all of them when padding to max_seq_length."""
    mask = encoded["attention_mask"]
    return np.full(len(mask), mask.shape[1]) if cfg.pad_to_max_length else mask.sum(axis=1)


def _ragged(rows: np.ndarray, lengths: np.ndarray, *, valid: np.ndarray | None = None) -> pa.ListArray:
    """Right-padded rows ``[N, L]`` (or ``[N, L, 2]``) cut to their lengths, as one Arrow list column.

    Built from the flat kept values and the row offsets, without a Python object per token. ``valid``
    (``[N, L]`` bool) turns the pairs of ``[N, L, 2]`` rows into nulls where it is False.
    """
    kept = np.arange(rows.shape[1]) < lengths[:, None]
    values = rows[kept]
    if values.ndim == 2:  # one [start, end] pair per token: a list column of its own, null where not valid
        pair_offsets = np.arange(0, values.size + 1, 2, dtype=np.int32)
        mask = None if valid is None else pa.array(~valid[kept])
        values = pa.ListArray.from_arrays(pair_offsets, values.ravel(), mask=mask)
    row_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(row_offsets, values)


def _model_inputs(encoded: Any, lengths: np.ndarray) -> dict[str, pa.ListArray]:
    return {name: _ragged(encoded[name], lengths) for name in MODEL_INPUT_COLUMNS}


def _context_mask(encoded: Any) -> np.ndarray:
    """[features, seq_len] bool: True on context tokens (sequence id 1)."""
    ids = np.array([encoding.sequence_ids for encoding in encoded.encodings], dtype=float)
    return ids == 1


def _window_labels(encoded: Any, answers: list[dict]) -> dict[str, np.ndarray]:
    """Per-window start/end token positions and is_impossible, computed for all windows at once."""
    sample, offsets = encoded["overflow_to_sample_mapping"], encoded["offset_mapping"]
    context = _context_mask(encoded)
    first = [(spans["answer_start"][0], spans["answer_start"][0] + len(spans["text"][0]))
             if spans["text"] else (-1, -1) for spans in answers]
    start_char, end_char = (np.asarray(column, dtype=np.int64)[sample] for column in zip(*first))
    positions = np.arange(offsets.shape[1])
    starts_before = context & (offsets[:, :, 0] <= start_char[:, None])
    ends_after = context & (offsets[:, :, 1] >= end_char[:, None])
    start_token = np.where(starts_before, positions, -1).max(axis=1)
    end_token = np.where(ends_after, positions, offsets.shape[1]).min(axis=1)
    first_context = context.argmax(axis=1)
    last_context = offsets.shape[1] - 1 - context[:, ::-1].argmax(axis=1)
    rows = np.arange(len(sample))
    inside = ((start_char >= 0) & context.any(axis=1)
              & (offsets[rows, first_context, 0] <= start_char) & (offsets[rows, last_context, 1] >= end_char))
    return {"start_positions": np.where(inside, start_token, CLS_INDEX),
            "end_positions": np.where(inside, end_token, CLS_INDEX),
            "is_impossible": (~inside).astype(np.int64)}


def _train_batch(batch: dict[str, list], tokenizer: Any, cfg: FeatureConfig) -> pa.Table:
    encoded, _ = _tokenize(batch, tokenizer, cfg)
    labels = _window_labels(encoded, batch["answers"])
    return pa.table({**_model_inputs(encoded, _row_lengths(encoded, cfg)), **labels})


def _eval_batch(batch: dict[str, list], tokenizer: Any, cfg: FeatureConfig) -> pa.Table:
    encoded, _ = _tokenize(batch, tokenizer, cfg)
    lengths = _row_lengths(encoded, cfg)
    offsets = _ragged(encoded["offset_mapping"], lengths, valid=_context_mask(encoded))
    example_ids = [batch["id"][i] for i in encoded["overflow_to_sample_mapping"]]
    return pa.table({**_model_inputs(encoded, lengths), "offset_mapping": offsets, "example_id": example_ids})


def _diagnostic_batch(batch: dict[str, list], tokenizer: Any, cfg: FeatureConfig) -> dict[str, Any]:
    """Per window: the example id, whether its question was cut, and the labelled span in characters."""
    encoded, truncated = _tokenize(batch, tokenizer, cfg)
    labels = _window_labels(encoded, batch["answers"])
    offsets = encoded["offset_mapping"]
    rows = np.arange(len(offsets))
    answerable = labels["is_impossible"] == 0
    sample = encoded["overflow_to_sample_mapping"]
    return {"example_id": [batch["id"][i] for i in sample], "question_truncated": [truncated[i] for i in sample],
            "is_impossible": labels["is_impossible"].tolist(),
            "span_start_char": np.where(answerable, offsets[rows, labels["start_positions"], 0], -1).tolist(),
            "span_end_char": np.where(answerable, offsets[rows, labels["end_positions"], 1], -1).tolist()}


def _build(kind: str, function: Callable, examples: datasets.Dataset, tokenizer: Any,
           cfg: FeatureConfig) -> datasets.Dataset:
    key = _cache_key(kind, examples, tokenizer, cfg)
    cache = _cache_file(kind, key)
    if cache is not None:
        drop_bad_cache(Path(cache))
    built = examples.map(function, batched=True, batch_size=1000, remove_columns=examples.column_names,
                         fn_kwargs={"tokenizer": tokenizer, "cfg": cfg}, cache_file_name=cache,
                         new_fingerprint=key, desc=f"Building {kind} features")
    if cache is not None:
        record_cache(Path(cache))
    return built


def build_train_features(examples: datasets.Dataset, tokenizer: Any,
                         cfg: FeatureConfig = FeatureConfig()) -> datasets.Dataset:
    """Training windows: input_ids, attention_mask, token_type_ids, start/end_positions, is_impossible.

    Rows are as long as their tokens (padded to max_seq_length with ``cfg.pad_to_max_length``)."""
    return _build("train", _train_batch, examples, tokenizer, cfg)


def build_eval_features(examples: datasets.Dataset, tokenizer: Any,
                        cfg: FeatureConfig = FeatureConfig()) -> datasets.Dataset:
    """Evaluation windows: model inputs, context-only offset_mapping (None elsewhere) and example_id.

    Rows are as long as their tokens (padded to max_seq_length with ``cfg.pad_to_max_length``)."""
    return _build("eval", _eval_batch, examples, tokenizer, cfg)


def _diagnostic_features(examples: datasets.Dataset, tokenizer: Any, cfg: FeatureConfig) -> datasets.Dataset:
    return _build("diagnostic", _diagnostic_batch, examples, tokenizer, cfg)


def _recoverability(examples: datasets.Dataset, windows: datasets.Dataset) -> Recoverability:
    from .metrics import normalize_answer  # the official normalisation decides what counts as recovered

    contexts = dict(zip(examples["id"], examples["context"]))
    golds = {qid: spans["text"] for qid, spans in zip(examples["id"], examples["answers"]) if spans["text"]}
    normalised = {qid: {normalize_answer(text) for text in texts} for qid, texts in golds.items()}
    recovered: set[str] = set()
    exact_string: set[str] = set()
    for qid, start, end in zip(windows["example_id"], windows["span_start_char"], windows["span_end_char"]):
        if start < 0:
            continue
        span = contexts[qid][start:end]
        if normalize_answer(span) in normalised[qid]:
            recovered.add(qid)
        if span == golds[qid][0]:
            exact_string.add(qid)
    missing = tuple(qid for qid in golds if qid not in recovered)
    return Recoverability(answerable=len(golds), recoverable=len(golds) - len(missing),
                          unrecoverable_ids=missing, exact_string=len(exact_string))


def answer_recoverability(examples: datasets.Dataset, tokenizer: Any,
                          cfg: FeatureConfig = FeatureConfig()) -> Recoverability:
    """Count answerable questions whose labelled span ``context[offsets[start][0]:offsets[end][1]]`` (start/end
    = the train labels) is an exact match of a gold answer in at least one window: the ceiling of EM."""
    return _recoverability(examples, _diagnostic_features(examples, tokenizer, cfg))


def inspect_features(examples: datasets.Dataset, tokenizer: Any,
                     cfg: FeatureConfig = FeatureConfig()) -> dict[str, Any]:
    """Summary of how examples turn into windows: counts, windows per example, truncation, recoverability."""
    windows = _diagnostic_features(examples, tokenizer, cfg)
    per_example = np.unique(np.asarray(windows["example_id"]), return_counts=True)[1]
    answerable = sum(1 for spans in examples["answers"] if spans["text"])
    recoverability = _recoverability(examples, windows)
    truncated = {qid for qid, cut in zip(windows["example_id"], windows["question_truncated"]) if cut}
    return {
        "examples": len(examples),
        "answerable": answerable,
        "unanswerable": len(examples) - answerable,
        "features": len(windows),
        "features_with_answer": len(windows) - int(np.sum(windows["is_impossible"])),
        "features_per_example_max": int(per_example.max()),
        "features_per_example_mean": round(float(per_example.mean()), 3),
        "questions_truncated": len(truncated),
        "answerable_recoverable": recoverability.recoverable,
        "answerable_recoverable_fraction": round(recoverability.fraction, 5),
        "answerable_exact_string": recoverability.exact_string,
        "unrecoverable_examples": list(recoverability.unrecoverable_ids[:10]),
        "settings": {**dataclasses.asdict(cfg), "tokenizer": str(getattr(tokenizer, "name_or_path", ""))},
    }
