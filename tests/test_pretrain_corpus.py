"""The pretraining corpus: regenerable byte-identically, and disjoint from the QA sample."""
from __future__ import annotations

import random
import subprocess
import sys

from albertzero_utils import paths
from test_sample_data import load_script


def sample_names_and_text() -> tuple[set[str], str]:
    """Every name the QA sample uses (train and dev, drawn as make_sample.py draws them) and its text."""
    sample = load_script("make_sample")
    rng = random.Random(sample.SEED)
    names = sample.NameMaker(rng)
    splits = [sample.build_split(split, n, names, rng) for split, n in sample.SPLITS.items()]
    text = "\n".join(p["context"] + "\n" + "\n".join(qa["question"] for qa in p["qas"])
                     for split in splits for article in split["data"] for p in article["paragraphs"])
    return names.used, text


def test_corpus_is_regenerated_byte_identically(tmp_path) -> None:
    out = tmp_path / "corpus.txt"
    subprocess.run([sys.executable, str(paths.DATA_DIR / "make_corpus.py"), "--out", str(out)], check=True,
                   capture_output=True)
    assert out.read_bytes() == paths.PRETRAIN_CORPUS.read_bytes()


def test_corpus_shares_no_entity_and_no_paragraph_with_the_qa_sample() -> None:
    corpus_text, corpus_names = load_script("make_corpus").build_corpus()
    sample_names, sample_text = sample_names_and_text()
    assert len(corpus_names) > 500 and len(sample_names) > 300
    assert not corpus_names & sample_names
    assert not [name for name in corpus_names if name in sample_text]
    assert not [name for name in sample_names if name in corpus_text]
    sample_sentences = {s.strip() for s in sample_text.replace("\n", " ").split(". ")}
    corpus_sentences = {s.rstrip(".") for s in corpus_text.splitlines() if s}
    assert not sample_sentences & corpus_sentences  # every sentence names its entity, so none can repeat


def test_corpus_format_one_sentence_per_line_blank_line_between_documents() -> None:
    documents = paths.PRETRAIN_CORPUS.read_text(encoding="utf-8").strip().split("\n\n")
    assert len(documents) >= 500
    for document in documents[:50]:
        sentences = document.split("\n")
        assert len(sentences) >= 5 and all(s.endswith(".") for s in sentences)
