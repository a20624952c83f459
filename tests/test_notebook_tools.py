"""Notebook helpers: which dev data a chapter reads, with and without ../shared."""
from __future__ import annotations

from pathlib import Path

import pytest

from albertzero_utils import notebook_tools, paths


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ../shared at an empty temporary directory (absent until a test creates the files)."""
    monkeypatch.setattr(paths, "SHARED_DEV", tmp_path / "squad2" / "dev-v2.0.json")
    monkeypatch.setattr(paths, "SHARED_ALBERT_BASE", tmp_path / "albert-base-v2")
    return tmp_path


def test_dev_data_without_shared_uses_the_sample_offline_and_the_hub_otherwise(shared: Path) -> None:
    smoke = notebook_tools.dev_data()
    assert (smoke.source, smoke.tokenizer) == ("sample:dev", str(paths.TINY_MODEL_DIR))
    assert "sample" in smoke.description
    colab = notebook_tools.dev_data(profile="colab")
    assert (colab.source, colab.tokenizer) == ("rajpurkar/squad_v2", "albert/albert-base-v2")


def test_dev_data_prefers_shared_then_a_given_file(shared: Path) -> None:
    paths.SHARED_DEV.parent.mkdir(parents=True)
    paths.SHARED_DEV.write_text("{}")
    paths.SHARED_ALBERT_BASE.mkdir()
    (paths.SHARED_ALBERT_BASE / "spiece.model").write_bytes(b"")
    found = notebook_tools.dev_data(profile="colab")
    assert (found.source, found.tokenizer) == (str(paths.SHARED_DEV), str(paths.SHARED_ALBERT_BASE))
    assert "official" in found.description
    own = notebook_tools.dev_data(shared / "mine.json")
    assert own.source == str(shared / "mine.json") and own.tokenizer == str(paths.SHARED_ALBERT_BASE)
    assert "mine.json" in own.description
