"""Notebook helpers: which dev data a chapter reads (the committed official dev set unless told otherwise)."""
from __future__ import annotations

import os
import warnings
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


def test_quiet_notebook_silences_progress_bars_and_library_notices(monkeypatch) -> None:
    import datasets
    from transformers.utils import logging as hf_logging

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    verbosity = hf_logging.get_verbosity()
    with warnings.catch_warnings():
        notebook_tools.quiet_notebook()
        assert "TQDM_DISABLE" not in os.environ  # each run's own training bar (and ETA) stays for students
        assert hf_logging.get_verbosity() == hf_logging.ERROR
        assert not datasets.is_progress_bar_enabled() and not hf_logging.is_progress_bar_enabled()
        with warnings.catch_warnings(record=True) as caught:
            warnings.warn("IProgress not found. Please update jupyter and ipywidgets.")
            warnings.warn("old API", FutureWarning)
            warnings.warn("something else")
        assert [str(w.message) for w in caught] == ["something else"]
    hf_logging.set_verbosity(verbosity)
    hf_logging.enable_progress_bar()
    datasets.enable_progress_bars()
