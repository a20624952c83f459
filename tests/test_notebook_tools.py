"""Notebook helpers: which dev data a chapter reads (the committed official dev set unless told otherwise)."""
from __future__ import annotations

from pathlib import Path

from albertzero_utils import notebook_tools, paths


def test_dev_data_defaults_to_the_committed_official_dev_set_for_every_profile() -> None:
    for profile in (None, "smoke", "colab", "paper"):
        found = notebook_tools.dev_data(profile=profile)
        assert (found.source, found.tokenizer) == (str(paths.SQUAD2_DEV), str(paths.ALBERT_BASE_DIR))
        assert "official" in found.description
    assert paths.SQUAD2_DEV.is_file() and (paths.ALBERT_BASE_DIR / "spiece.model").is_file()


def test_dev_data_takes_a_given_file(tmp_path: Path) -> None:
    own = notebook_tools.dev_data(tmp_path / "mine.json")
    assert own.source == str(tmp_path / "mine.json") and own.tokenizer == str(paths.ALBERT_BASE_DIR)
    assert "mine.json" in own.description
