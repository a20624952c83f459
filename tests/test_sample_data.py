"""The embedded default: the fictional SQuAD 2.0 sample, the tiny tokenizer and the tiny ALBERT config."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from transformers import AlbertConfig, AlbertModel, AutoTokenizer

from albertzero_utils import paths

SPLIT_FILES = {"train": paths.SAMPLE_TRAIN, "dev": paths.SAMPLE_DEV}
MINIMUM_COUNTS = {"train": (400, 40), "dev": (120, 12)}  # questions, paragraphs
SPECIAL_IDS = {"pad_token_id": 0, "unk_token_id": 1, "cls_token_id": 2, "sep_token_id": 3, "mask_token_id": 4}


def load_split(split: str) -> dict:
    with open(SPLIT_FILES[split], encoding="utf-8") as handle:
        return json.load(handle)


def questions(squad: dict) -> list[tuple[str, str, dict]]:
    """(title, context, qa) for every question of a file."""
    return [(article["title"], paragraph["context"], qa)
            for article in squad["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


def load_script(name: str) -> ModuleType:
    """Import one of the data/ generator scripts by path (data/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, paths.DATA_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(paths.TINY_MODEL_DIR)


@pytest.mark.parametrize("split", ["train", "dev"])
def test_every_answer_start_points_at_its_text(split: str) -> None:
    bad = []
    for title, context, qa in questions(load_split(split)):
        for answer in qa["answers"] + qa.get("plausible_answers", []):
            start = answer["answer_start"]
            if context[start:start + len(answer["text"])] != answer["text"]:
                bad.append((title, qa["id"], answer))
    assert bad == []


@pytest.mark.parametrize("split", ["train", "dev"])
def test_format_counts_and_unanswerable_share(split: str) -> None:
    squad = load_split(split)
    assert squad["version"] == "v2.0"
    rows = questions(squad)
    n_paragraphs = sum(len(article["paragraphs"]) for article in squad["data"])
    min_questions, min_paragraphs = MINIMUM_COUNTS[split]
    assert len(rows) >= min_questions and n_paragraphs >= min_paragraphs
    impossible = [qa for _, _, qa in rows if qa["is_impossible"]]
    assert 0.25 <= len(impossible) / len(rows) <= 0.40
    assert all(qa["answers"] == [] and qa["plausible_answers"] for qa in impossible)
    assert all(qa["answers"] for _, _, qa in rows if not qa["is_impossible"])


@pytest.mark.parametrize("split", ["train", "dev"])
def test_plausible_answers_are_facts_that_answer_another_question(split: str) -> None:
    """The trap of an unanswerable question is a span the paragraph states (the answer to one of its
    answerable questions), and no two answerable questions of a paragraph share their answer."""
    for article in load_split(split)["data"]:
        for paragraph in article["paragraphs"]:
            answerable = [qa for qa in paragraph["qas"] if not qa["is_impossible"]]
            facts = [(qa["answers"][0]["text"], qa["answers"][0]["answer_start"]) for qa in answerable]
            assert len(set(facts)) == len(facts), article["title"]
            for qa in paragraph["qas"]:
                if qa["is_impossible"]:
                    trap = qa["plausible_answers"][0]
                    assert (trap["text"], trap["answer_start"]) in facts, (article["title"], qa["id"])


@pytest.mark.parametrize("split", ["train", "dev"])
def test_some_paragraphs_need_several_windows(split: str, tokenizer) -> None:
    """With the smoke profile's windows (128 tokens, stride 64), 10-20% of the paragraphs are split."""
    paragraphs = [p for article in load_split(split)["data"] for p in article["paragraphs"]]
    split_paragraphs = 0
    for paragraph in paragraphs:
        question_texts = [qa["question"] for qa in paragraph["qas"]]
        encoding = tokenizer(question_texts, [paragraph["context"]] * len(question_texts), truncation="only_second",
                             max_length=128, stride=64, return_overflowing_tokens=True)
        split_paragraphs += len(encoding["input_ids"]) > len(question_texts)
    assert 0.10 <= split_paragraphs / len(paragraphs) <= 0.20


def test_dev_has_questions_with_several_golds() -> None:
    counts = [len(qa["answers"]) for _, _, qa in questions(load_split("dev"))]
    assert max(counts) >= 2 and sum(count >= 2 for count in counts) >= 10


def test_ids_unique_and_titles_disjoint_across_splits() -> None:
    ids = [qa["id"] for split in SPLIT_FILES for _, _, qa in questions(load_split(split))]
    assert len(ids) == len(set(ids))
    titles = {split: {article["title"] for article in load_split(split)["data"]} for split in SPLIT_FILES}
    assert len(titles["train"]) == len(load_split("train")["data"])
    assert titles["train"].isdisjoint(titles["dev"])


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    script = paths.DATA_DIR / "make_sample.py"
    subprocess.run([sys.executable, str(script), "--out-dir", str(tmp_path)], check=True, capture_output=True)
    for split, committed in SPLIT_FILES.items():
        assert (tmp_path / committed.name).read_bytes() == committed.read_bytes(), split


def test_tokenizer_is_fast_albert_with_albert_special_ids(tokenizer) -> None:
    assert tokenizer.is_fast and type(tokenizer).__name__ == "AlbertTokenizer"
    assert {name: getattr(tokenizer, name) for name in SPECIAL_IDS} == SPECIAL_IDS
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    assert tokenizer.tokenize("The BELL Festival") == tokenizer.tokenize("the bell festival")  # do_lower_case
    assert tokenizer("a", "b")["input_ids"][0] == 2 and tokenizer("a", "b")["input_ids"][-1] == 3


def test_offsets_map_context_tokens_back_to_answers(tokenizer) -> None:
    """Every gold answer of dev is exactly the text covered by the context tokens inside it."""
    misaligned = []
    for _, context, qa in questions(load_split("dev")):
        encoding = tokenizer(qa["question"], context, return_offsets_mapping=True, return_token_type_ids=True)
        sequence_ids = encoding.sequence_ids()
        context_offsets = [span for span, seq in zip(encoding["offset_mapping"], sequence_ids) if seq == 1]
        assert [t for t, seq in zip(encoding["token_type_ids"], sequence_ids) if seq == 1] == [1] * len(
            context_offsets)
        assert all(0 <= start < end <= len(context) for start, end in context_offsets)
        for answer in qa["answers"]:
            start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
            inside = [(s, e) for s, e in context_offsets if s >= start and e <= end]
            if not inside or context[inside[0][0]:inside[-1][1]] != answer["text"]:
                misaligned.append((qa["id"], answer["text"]))
    assert misaligned == []


def test_config_matches_tokenizer_and_generator(tokenizer) -> None:
    committed = json.loads((paths.TINY_MODEL_DIR / "config.json").read_text(encoding="utf-8"))
    assert committed == load_script("make_tokenizer").tiny_albert_config(len(tokenizer))
    assert committed["vocab_size"] == len(tokenizer)


def test_config_builds_twelve_layers_sharing_one_block(tokenizer) -> None:
    config = AlbertConfig.from_pretrained(paths.TINY_MODEL_DIR)
    assert config.model_type == "albert" and config.num_hidden_layers == 12
    torch.manual_seed(0)
    model = AlbertModel(config).eval()
    groups = model.encoder.albert_layer_groups
    assert len(groups) == 1 and len(groups[0].albert_layers) == 1
    block_params = sum(p.numel() for p in groups[0].parameters())
    encoder_params = sum(p.numel() for p in model.encoder.parameters())
    mapping_params = sum(p.numel() for p in model.encoder.embedding_hidden_mapping_in.parameters())
    assert encoder_params == block_params + mapping_params  # one block's weights, used 12 times
    batch = tokenizer("Who founded the town?", "It was founded by someone.", return_tensors="pt",
                      return_token_type_ids=True)
    with torch.no_grad():
        output = model(**batch, output_hidden_states=True)
    assert output.last_hidden_state.shape == (1, batch["input_ids"].shape[1], 128)
    assert len(output.hidden_states) == 13
