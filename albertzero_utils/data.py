"""SQuAD 2.0 examples: load (official JSON, bundled sample or Hub id), validate strictly, flatten.

Every problem a user can cause raises :class:`~albertzero_utils.errors.DataError` with one line that
names the file, the article title and the question id. Tokenisation and features live in
:mod:`albertzero_utils.features` and are re-exported here.
"""
from __future__ import annotations

from pathlib import Path


import datasets

from . import paths, splits
from .errors import ConfigError, DataError, location
from .features import (  # noqa: F401  (re-exported: the public data API)
    FeatureConfig,
    Recoverability,
    answer_recoverability,
    cap_questions,
    build_eval_features,
    build_train_features,
    feature_cache_dir,
    inspect_features,
)
from .squad_json import (  # noqa: F401  (re-exported: the public data API)
    _Problems,
    _check_question,
    _is_text,
    flatten_squad,
    gold_answers,
    load_squad_json,
    validate_squad,
)
from .tokenization import load_tokenizer, match_original_albert_tokenization  # noqa: F401  (re-exported)

SAMPLE_SOURCES = {"sample:train": paths.SAMPLE_TRAIN, "sample:dev": paths.SAMPLE_DEV}


def source_file(source: str) -> Path:
    """The file a local source is read from: the sample's files, the dev set for its article splits (a split is
    a function of that file), else the path itself."""
    if source in SAMPLE_SOURCES:
        return Path(SAMPLE_SOURCES[source])
    if splits.is_split_source(source):
        return paths.SQUAD2_DEV
    return Path(source).expanduser()
OFFLINE_HINT = (
    "offline, pass a local SQuAD 2.0 JSON file (--train-file/--eval-file) or use the 'smoke' profile"
)
_SPANS = datasets.Features({"text": datasets.List(datasets.Value("string")),
                            "answer_start": datasets.List(datasets.Value("int64"))})
EXAMPLE_FEATURES = datasets.Features({
    "id": datasets.Value("string"),
    "title": datasets.Value("string"),
    "context": datasets.Value("string"),
    "question": datasets.Value("string"),
    "answers": _SPANS,
    "plausible_answers": _SPANS,
})


def _looks_like_path(source: str) -> bool:
    return source.endswith(".json") or source.startswith(("/", "./", "../", "~")) or Path(source).exists()


def _validate_rows(rows: datasets.Dataset, source: str, *, check_offsets: bool) -> None:
    """Validate flattened rows (a Hub dataset) with the same per-question rules as a JSON file."""
    problems = _Problems()
    seen: dict[str, str] = {}
    for row in rows:
        where = location(source, row["title"], row["id"])
        if row["id"] in seen:
            problems.add(where, f"duplicate id (first seen in {seen[row['id']]})")
        seen.setdefault(row["id"], f"article {row['title']!r}")
        if not _is_text(row["context"]):
            problems.add(where, "'context' must be a non-empty string")
        answers = [dict(text=t, answer_start=s) for t, s in zip(*row["answers"].values())]
        _check_question({"question": row["question"], "answers": answers}, row["context"] or "", where,
                        problems, check_offsets=check_offsets)
    problems.raise_if_any()


def _load_hub(source: str, split: str, *, check_offsets: bool) -> datasets.Dataset:
    """A Hub dataset in the flattened layout; offline (or unknown id) becomes a one-line DataError."""
    try:
        hub = datasets.load_dataset(source, split=split)
    except Exception as exc:  # noqa: BLE001  (network, auth, missing id: all the user's to fix)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot load {source!r} (split {split!r}) from the Hugging Face Hub: {reason}; "
                        f"{OFFLINE_HINT}") from None
    missing = {"id", "title", "context", "question", "answers"} - set(hub.column_names)
    if missing:
        raise DataError(f"{location(source)}: not a SQuAD-style dataset (missing columns {sorted(missing)})")
    if "plausible_answers" not in hub.column_names:
        hub = hub.map(lambda batch: {"plausible_answers": [{"text": [], "answer_start": []}] * len(batch["id"])},
                      batched=True)
    hub = hub.select_columns(list(EXAMPLE_FEATURES)).cast(EXAMPLE_FEATURES)
    _validate_rows(hub, source, check_offsets=check_offsets)
    return hub


def load_examples(source: str | Path, *, split: str = "validation", check_offsets: bool = True,
                  max_samples: int | None = None) -> datasets.Dataset:
    """SQuAD 2.0 questions as a Dataset, from a JSON path, ``sample:train``/``sample:dev``, the dev set split by
    article (``squad2-dev:train28``, ``squad2-dev:heldout7``, ``...:answerable``; see splits.py) or a Hub id.

    ``split`` applies to Hub ids only. ``max_samples`` keeps the first N questions (file order).
    The Dataset's fingerprint is derived from its content, so feature caches survive restarts.
    """
    source = str(source)
    if max_samples is not None and max_samples < 1:
        raise ConfigError(f"max_samples must be at least 1, got {max_samples}")
    if source.startswith("sample:"):
        if source not in SAMPLE_SOURCES:
            raise DataError(f"unknown sample {source!r}; choose one of {', '.join(SAMPLE_SOURCES)}")
        source = str(source_file(source))
    if splits.is_split_source(source):  # the dev set split by article (splits.py)
        part, answerable_only = splits.parse_source(source)
        obj = splits.split_articles(load_squad_json(paths.SQUAD2_DEV, check_offsets=check_offsets), part,
                                    answerable_only=answerable_only)
        examples = datasets.Dataset.from_list(flatten_squad(obj)[:max_samples], features=EXAMPLE_FEATURES)
    elif _looks_like_path(source):
        rows = flatten_squad(load_squad_json(Path(source).expanduser(), check_offsets=check_offsets))
        if not rows:
            raise DataError(f"{location(source)}: no questions found (is its 'data' list empty?)")
        examples = datasets.Dataset.from_list(rows[:max_samples], features=EXAMPLE_FEATURES)
    else:
        examples = _load_hub(source, split, check_offsets=check_offsets)
        if max_samples is not None:
            examples = examples.select(range(min(max_samples, len(examples))))
    if len(examples) == 0:
        raise DataError(f"{location(source)}: no questions found")
    return examples


