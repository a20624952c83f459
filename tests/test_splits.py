"""The real dev set split by article: the counts, no shared article or context, the sources the CLI accepts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from albertzero_utils import data, paths, profiles, splits
from albertzero_utils.errors import ConfigError, DataError

#: A split prepared elsewhere for the same experiment (beside the repository), compared when present.
SHARED_SPLITS = paths.REPO_ROOT.parent / "shared" / "squad2" / "splits"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))


@pytest.fixture(scope="module")
def dev() -> dict:
    return data.load_squad_json(paths.SQUAD2_DEV, check_offsets=False)


def questions(obj: dict) -> list[dict]:
    return [qa for article in obj["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


@pytest.mark.parametrize("part, articles, total, answerable", [("heldout7", 7, 2382, 1136),
                                                               ("train28", 28, 9491, 4792)])
def test_split_counts(dev: dict, part: str, articles: int, total: int, answerable: int) -> None:
    split = splits.split_articles(dev, part)
    assert len(split["data"]) == articles
    assert len(questions(split)) == total
    assert sum(bool(qa["answers"]) for qa in questions(split)) == answerable
    only = splits.split_articles(dev, part, answerable_only=True)
    assert len(questions(only)) == answerable and all(qa["answers"] for qa in questions(only))


def test_held_out_articles_are_every_fifth_and_share_nothing_with_train(dev: dict) -> None:
    train, held = splits.split_articles(dev, "train28"), splits.split_articles(dev, "heldout7")
    assert [a["title"] for a in held["data"]] == [a["title"] for a in dev["data"][::5]]
    assert not {a["title"] for a in train["data"]} & {a["title"] for a in held["data"]}
    contexts = [{p["context"] for a in part["data"] for p in a["paragraphs"]} for part in (train, held)]
    assert not contexts[0] & contexts[1]
    ids = [{qa["id"] for qa in questions(part)} for part in (train, held)]
    assert not ids[0] & ids[1] and len(ids[0] | ids[1]) == len(questions(dev))


def test_sources_load_as_examples() -> None:
    held = data.load_examples("squad2-dev:heldout7:answerable", check_offsets=False)
    assert len(held) == 1136 and all(row["answers"]["text"] for row in held)
    assert len(data.load_examples("squad2-dev:heldout7", check_offsets=False, max_samples=10)) == 10
    with pytest.raises(DataError, match="unknown split 'squad2-dev:train'"):
        data.load_examples("squad2-dev:train")


def test_profiles_accept_split_sources_and_name_a_wrong_one() -> None:
    cfg = profiles.resolve("smoke", None, {"train_file": "squad2-dev:train28:answerable",
                                           "eval_file": "squad2-dev:heldout7"})
    assert (cfg.train_file, cfg.eval_file) == ("squad2-dev:train28:answerable", "squad2-dev:heldout7")
    with pytest.raises(ConfigError, match="--eval-file squad2-dev:heldout8: unknown split"):
        profiles.resolve("smoke", None, {"eval_file": "squad2-dev:heldout8"})


def _shared_ids(path: Path) -> set[str]:
    obj = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(obj, dict) and "data" in obj:
        return {qa["id"] for qa in questions(obj)}
    return {item if isinstance(item, str) else item["id"] for item in obj}


@pytest.mark.skipif(not SHARED_SPLITS.is_dir(), reason=f"no shared split files in {SHARED_SPLITS}")
def test_split_matches_the_shared_split_files(dev: dict) -> None:
    compared = 0
    for path in sorted(SHARED_SPLITS.glob("*.json")):
        part = "heldout7" if "held" in path.name else "train28" if "train" in path.name else None
        if part is None:
            continue
        expected = _shared_ids(path)
        answerable = "answerable" in path.name
        assert expected == {qa["id"] for qa in questions(splits.split_articles(dev, part, answerable_only=answerable))}
        compared += 1
    assert compared, f"{SHARED_SPLITS} holds no *train*/*held* JSON file to compare with"
