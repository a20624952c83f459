"""`albertzero inspect`: a JSON summary of a SQuAD 2.0 file's features, one-line errors on bad data."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from albertzero_utils import data, paths
from albertzero_utils.cli import main


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))


def test_inspect_sample_prints_the_summary(capsys) -> None:
    code = main(["inspect", "sample:dev", "--tokenizer", str(paths.TINY_MODEL_DIR), "--max-seq-length", "96",
                 "--doc-stride", "32", "--max-query-length", "24"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    examples = data.load_examples("sample:dev")
    golds = data.gold_answers(examples)
    assert summary["data"] == "sample:dev"
    assert summary["examples"] == len(examples) == summary["answerable"] + summary["unanswerable"]
    assert summary["answerable"] == sum(1 for g in golds.values() if g)
    assert summary["features"] >= summary["examples"] and summary["features_per_example_max"] > 1
    assert summary["features_per_example_mean"] == round(summary["features"] / summary["examples"], 3)
    assert 0 < summary["answerable_recoverable"] <= summary["answerable"]
    assert summary["settings"]["max_seq_length"] == 96 and summary["settings"]["doc_stride"] == 32
    assert summary["settings"]["max_query_length"] == 24


def test_inspect_bad_file_is_one_line_exit_2(tmp_path, capsys) -> None:
    bad = {"data": [{"title": "Normans", "paragraphs": [{"context": "The Normans.", "qas": [
        {"id": "q7", "question": "Who?", "answers": [{"text": "Normans", "answer_start": 0}]}]}]}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert main(["inspect", str(path), "--tokenizer", str(paths.TINY_MODEL_DIR)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("albertzero inspect: error:")
    assert "bad.json" in err[0] and "article 'Normans'" in err[0] and "question q7" in err[0]


def test_inspect_impossible_settings_are_one_line(capsys) -> None:
    code = main(["inspect", "sample:dev", "--tokenizer", str(paths.TINY_MODEL_DIR), "--max-seq-length", "64",
                 "--doc-stride", "64"])
    assert code == 2 and "doc_stride" in capsys.readouterr().err


def test_inspect_as_a_subprocess(tmp_path) -> None:
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "albertzero_utils", "inspect", "sample:train", "--tokenizer",
                           str(paths.TINY_MODEL_DIR)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["examples"] == len(data.load_examples("sample:train"))


def test_inspect_defaults_to_the_committed_dev_set_and_albert_base_v2_tokenizer() -> None:
    from albertzero_utils.cli import build_parser

    args = build_parser().parse_args(["inspect"])
    assert (args.data, args.tokenizer) == (str(paths.SQUAD2_DEV), str(paths.ALBERT_BASE_DIR))
    assert data.load_tokenizer(args.tokenizer).tokenize("Normandy") == ["▁normandy"]
