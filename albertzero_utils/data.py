"""SQuAD 2.0 examples: load (official JSON, bundled sample or Hub id), validate strictly, flatten.

Every problem a user can cause raises :class:`~albertzero_utils.errors.DataError` with one line that
names the file, the article title and the question id. Tokenisation and features live in
:mod:`albertzero_utils.features` and are re-exported here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

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
from .tokenization import load_tokenizer, match_original_albert_tokenization  # noqa: F401  (re-exported)

SAMPLE_SOURCES = {"sample:train": paths.SAMPLE_TRAIN, "sample:dev": paths.SAMPLE_DEV}
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


class _Problems:
    """Collects validation problems; raises the first one (with a count of the rest) as a DataError."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.messages.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.messages:
            more = len(self.messages) - 1
            raise DataError(self.messages[0] + (f" (and {more} more problems)" if more else ""))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_spans(spans: object, key: str, context: str, where: str, problems: _Problems,
                 *, check_offsets: bool) -> None:
    """Types of an `answers`/`plausible_answers` list, and (optionally) that each offset points at its text."""
    if not isinstance(spans, list):
        problems.add(where, f"'{key}' must be a list, got {type(spans).__name__}")
        return
    for number, span in enumerate(spans):
        label = f"{key}[{number}]"
        if not isinstance(span, dict):
            problems.add(where, f"{label} must be an object, got {type(span).__name__}")
            continue
        text, start = span.get("text"), span.get("answer_start")
        if not _is_text(text):
            problems.add(where, f"{label}.text must be a non-empty string, got {text!r}")
            continue
        if not check_offsets:
            continue
        if not _is_int(start):
            problems.add(where, f"{label}.answer_start must be an integer, got {start!r}")
        elif not 0 <= start <= len(context) - len(text):
            problems.add(where, f"{label}.answer_start {start} is out of range for a context of "
                                f"{len(context)} characters and an answer of {len(text)}")
        elif context[start:start + len(text)] != text:
            found = context[start:start + len(text)]
            problems.add(where, f"{label}.answer_start {start} points at {found!r}, not at {text!r}")


def _check_question(qa: dict, context: str, where: str, problems: _Problems, *, check_offsets: bool) -> None:
    """One question: non-empty text, answers consistent with `is_impossible`, spans valid."""
    if not _is_text(qa.get("question")):
        problems.add(where, f"'question' must be a non-empty string, got {qa.get('question')!r}")
    if "answers" not in qa:
        problems.add(where, "missing key 'answers'")
        return
    _check_spans(qa["answers"], "answers", context, where, problems, check_offsets=check_offsets)
    # Plausible answers are never trained on: their offsets are not checked, only their types.
    _check_spans(qa.get("plausible_answers", []), "plausible_answers", context, where, problems,
                 check_offsets=False)
    impossible = qa.get("is_impossible")
    if impossible is not None and not isinstance(impossible, bool):
        problems.add(where, f"'is_impossible' must be true or false, got {impossible!r}")
    elif isinstance(qa["answers"], list) and impossible is not None and impossible == bool(qa["answers"]):
        state = "true" if impossible else "false"
        problems.add(where, f"'is_impossible' is {state} but there are {len(qa['answers'])} answers")


def _list_field(obj: dict, key: str, where: str, problems: _Problems) -> list:
    value = obj.get(key)
    if not isinstance(value, list):
        problems.add(where, f"missing key '{key}'" if key not in obj else
                     f"'{key}' must be a list, got {type(value).__name__}")
        return []
    return value


def _check_paragraph(paragraph: object, source: object, title: str, seen: dict[str, str], problems: _Problems,
                     *, check_offsets: bool) -> None:
    """One paragraph: a non-empty context and its questions (ids unique across the whole file)."""
    if not isinstance(paragraph, dict):
        problems.add(location(source, title), "each paragraph must be an object")
        return
    context = paragraph.get("context")
    if not _is_text(context):
        problems.add(location(source, title), f"'context' must be a non-empty string, got {context!r}")
        context = ""
    for qa in _list_field(paragraph, "qas", location(source, title), problems):
        qid = qa.get("id") if isinstance(qa, dict) else None
        if not isinstance(qid, str) or not qid:
            problems.add(location(source, title), "each question must be an object with a non-empty string "
                                                  f"'id', got {qa if not isinstance(qa, dict) else qid!r}")
            continue
        where = location(source, title, qid)
        if qid in seen:
            problems.add(where, f"duplicate id (first seen in {seen[qid]})")
        seen.setdefault(qid, f"article {title!r}")
        _check_question(qa, context, where, problems, check_offsets=check_offsets)


def validate_squad(obj: Any, source: object, *, check_offsets: bool = True) -> None:
    """Validate an official-format SQuAD 2.0 object; raise a one-line DataError on the first problem.

    ``check_offsets=False`` (evaluation) ignores ``answer_start``, as the official script does.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise DataError(f"{location(source)}: expected a JSON object with a 'data' list of articles")
    problems = _Problems()
    seen: dict[str, str] = {}
    for number, article in enumerate(obj["data"]):
        where = f"{location(source)}, article #{number}"
        if not isinstance(article, dict):
            problems.add(where, f"each article must be an object, got {type(article).__name__}")
            continue
        title = article.get("title")
        if not isinstance(title, str):
            problems.add(where, "missing key 'title'" if "title" not in article else
                         f"'title' must be a string, got {title!r}")
            title = f"#{number}"
        for paragraph in _list_field(article, "paragraphs", location(source, title), problems):
            _check_paragraph(paragraph, source, title, seen, problems, check_offsets=check_offsets)
    problems.raise_if_any()


def _read_text(path: Path) -> str:
    """The file as text, with a one-line DataError for a missing file or invalid UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{location(path)}: cannot read file ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{location(path)}: invalid UTF-8 at byte {exc.start} (line {line})") from None


def load_squad_json(path: str | Path, *, check_offsets: bool = True) -> dict:
    """Parse and validate an official-format SQuAD 2.0 JSON file."""
    path = Path(path)
    try:
        obj = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{location(path)}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg}") from None
    validate_squad(obj, path, check_offsets=check_offsets)
    return obj


def _spans(items: Iterable[dict]) -> dict[str, list]:
    items = list(items)
    return {"text": [a["text"] for a in items], "answer_start": [a.get("answer_start", -1) for a in items]}


def flatten_squad(obj: dict) -> list[dict]:
    """One row per question: id, title, context, question, answers, plausible_answers (column lists)."""
    return [
        {"id": qa["id"], "title": article["title"], "context": paragraph["context"],
         "question": qa["question"], "answers": _spans(qa["answers"]),
         "plausible_answers": _spans(qa.get("plausible_answers", []))}
        for article in obj["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]
    ]


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
        source = str(SAMPLE_SOURCES[source])
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


def gold_answers(examples: datasets.Dataset | Iterable[dict]) -> dict[str, list[str]]:
    """Question id -> raw gold answer texts (an empty list means unanswerable)."""
    if isinstance(examples, datasets.Dataset):
        return {qid: list(spans["text"]) for qid, spans in zip(examples["id"], examples["answers"])}
    return {row["id"]: list(row["answers"]["text"]) for row in examples}
