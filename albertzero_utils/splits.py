"""The real SQuAD 2.0 dev set split by article, for a real fine-tuning experiment without the train set.

Article ``i`` (0-based, file order) of ``data/squad2/dev-v2.0.json`` is held out when ``i % 5 == 0``: 7
articles, 2,382 questions (1,136 answerable); the other 28 articles (9,491 questions, 4,792 answerable)
train. No article, hence no context, is in both. The split is a pure function of the file.

Sources (accepted by ``data.load_examples`` and ``--train-file`` / ``--eval-file``): ``squad2-dev:train28``,
``squad2-dev:heldout7``, each optionally followed by ``:answerable`` (only questions with an answer).
"""
from __future__ import annotations

from typing import Any

from .errors import DataError

PREFIX = "squad2-dev:"
#: Article index modulus: index % HOLDOUT_EVERY == 0 is held out.
HOLDOUT_EVERY = 5
PARTS = ("train28", "heldout7")
SOURCES = tuple(f"{PREFIX}{part}{suffix}" for part in PARTS for suffix in ("", ":answerable"))


def is_split_source(source: str) -> bool:
    """True for a ``squad2-dev:...`` source (valid or not: :func:`parse_source` checks it)."""
    return source.startswith(PREFIX)


def parse_source(source: str) -> tuple[str, bool]:
    """``"squad2-dev:train28:answerable"`` -> ``("train28", True)``; a one-line DataError for anything else."""
    if source not in SOURCES:
        raise DataError(f"unknown split {source!r}; choose one of {', '.join(SOURCES)}")
    rest = source[len(PREFIX):].split(":")
    return rest[0], len(rest) == 2


def split_articles(obj: dict[str, Any], part: str, *, answerable_only: bool = False) -> dict[str, Any]:
    """The official-format ``obj`` reduced to the articles of ``part`` (``train28`` or ``heldout7``), and to
    answerable questions with ``answerable_only`` (paragraphs left without questions are dropped)."""
    if part not in PARTS:
        raise DataError(f"unknown split part {part!r}; choose one of {', '.join(PARTS)}")
    held_out = part == "heldout7"
    articles = []
    for index, article in enumerate(obj["data"]):
        if (index % HOLDOUT_EVERY == 0) != held_out:
            continue
        paragraphs = []
        for paragraph in article["paragraphs"]:
            qas = [qa for qa in paragraph["qas"] if qa.get("answers") or not answerable_only]
            if qas:
                paragraphs.append({**paragraph, "qas": qas})
        articles.append({**article, "paragraphs": paragraphs})
    return {**obj, "data": articles}
