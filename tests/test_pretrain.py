"""`albertzero pretrain`: n-gram masks, sentence-order pairs, metrics, final/ for fine-tuning, exact resume."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from albertzero_utils import model_card, paths
from albertzero_utils.cli import main
from albertzero_utils.data import load_tokenizer
from albertzero_utils.modeling import load_qa_model
from albertzero_utils.pretrain import PretrainConfig, pretrain, resolve
from albertzero_utils.pretrain_data import (IGNORE_INDEX, PretrainingDataset, SegmentPair, split_documents, build_segment_pairs, ngram_mask,
                                            read_documents, example_rng, render_example,
                                            neighbour_table_accuracy)
from albertzero_utils.errors import ConfigError, DataError

SMALL = dict(max_steps=4, eval_steps=2, global_batch_size=4, eval_batch_size=16, max_seq_length=48, heldout_share=0.2)
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # exact replays, and the small machine is shared


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(paths.TINY_MODEL_DIR)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    """The first 20 documents of the bundled corpus."""
    documents = paths.PRETRAIN_CORPUS.read_text(encoding="utf-8").split("\n\n")[:20]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    return path


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_segment_pairs_fit_the_sequence_and_keep_sentence_order(tokenizer) -> None:
    documents = read_documents(paths.PRETRAIN_CORPUS)[:30]
    pairs = build_segment_pairs(documents, tokenizer, max_seq_length=64)
    assert len(pairs) > 30
    assert all(len(p.first) + len(p.second) + 3 <= 64 and p.first and p.second for p in pairs)
    first_document = tokenizer(" ".join(documents[0]), add_special_tokens=False)["input_ids"]
    assert pairs[0].first + pairs[0].second == first_document[:len(pairs[0].first) + len(pairs[0].second)]


@pytest.mark.parametrize("share", [0.15, 0.4])
def test_ngram_masking_covers_the_share_in_spans_of_one_to_three(tokenizer, share: float) -> None:
    ids = list(range(10, 210))
    masked_share, span_lengths, replaced = [], [], []
    for seed in range(50):
        masked, labels = ngram_mask(ids, list(range(len(ids))), example_rng(seed, 0, 0), mask_id=4,
                                    vocab_size=len(tokenizer), special_ids={0, 1, 2, 3, 4}, mask_probability=share)
        chosen = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
        assert all(labels[i] == ids[i] for i in chosen)
        assert all(masked[i] == ids[i] for i in range(len(ids)) if i not in chosen)
        masked_share.append(len(chosen) / len(ids))
        runs, length = [], 1
        for a, b in zip(chosen, chosen[1:]):
            if b == a + 1:
                length += 1
            else:
                runs.append(length)
                length = 1
        span_lengths += runs + [length]
        replaced += [masked[i] == 4 for i in chosen]
    assert share - 0.01 <= sum(masked_share) / len(masked_share) <= share + 0.01
    assert 0.75 <= sum(replaced) / len(replaced) <= 0.85  # 80% become [MASK]
    assert max(span_lengths) > 1  # n-grams, not single tokens only (adjacent spans may merge)


def test_examples_are_a_function_of_seed_epoch_and_index(tokenizer) -> None:
    pairs = build_segment_pairs(read_documents(paths.PRETRAIN_CORPUS)[:10], tokenizer, 64)
    data = PretrainingDataset(pairs, tokenizer, seed=7)
    first = [data[i] for i in range(len(pairs))]
    assert first == [PretrainingDataset(pairs, tokenizer, seed=7)[i] for i in range(len(pairs))]
    data.set_epoch(1)
    assert [data[i] for i in range(len(pairs))] != first
    swapped = [e["sentence_order_label"] for e in first]
    assert 0 < sum(swapped) < len(swapped)
    for example, pair in zip(first, pairs):
        segment_a = sum(1 for t in example["token_type_ids"] if t == 0) - 2
        expected_first = pair.second if example["sentence_order_label"] else pair.first
        assert segment_a == len(expected_first)
        labels = example["labels"]
        restored = [l if l != IGNORE_INDEX else t for t, l in zip(example["input_ids"], labels)]
        assert restored[1:1 + segment_a] == expected_first


def test_render_example_shows_each_masked_position_with_its_target(tokenizer) -> None:
    pairs = build_segment_pairs(read_documents(paths.PRETRAIN_CORPUS)[:3], tokenizer, 64)
    for index in range(len(pairs)):
        example = PretrainingDataset(pairs, tokenizer, seed=0)[index]
        body, order = render_example(example, tokenizer).split("\n")
        shown = body.split(" ")
        assert len(shown) == len(example["input_ids"])
        for piece, token_id, label in zip(shown, example["input_ids"], example["labels"]):
            seen = tokenizer.convert_ids_to_tokens(token_id)
            expected = seen if label == IGNORE_INDEX else f"{seen}({tokenizer.convert_ids_to_tokens(label)})"
            assert piece == expected
        assert order == ("-> segments swapped (label 1)" if example["sentence_order_label"]
                         else "-> segments in order (label 0)")


def test_the_neighbour_table_yardstick_learns_from_the_training_pairs(tokenizer) -> None:
    train, heldout = split_documents(read_documents(paths.PRETRAIN_CORPUS)[:120], heldout_share=0.1)
    train_pairs, heldout_pairs = (build_segment_pairs(docs, tokenizer, 128) for docs in (train, heldout))
    data = PretrainingDataset(heldout_pairs, tokenizer, seed=0, vary_by_epoch=False)
    table = neighbour_table_accuracy(train_pairs, data)
    assert 0.2 < table < 0.9  # the corpus's templates make many masked tokens guessable from their neighbours
    # Held-out pairs as their own training data: the table has seen every context, so it can only do better.
    assert neighbour_table_accuracy(heldout_pairs, data) > table
    # A table that never saw these templates falls back to the commonest token and guesses far less.
    shuffled = [SegmentPair(p.first[::-1], p.second[::-1]) for p in train_pairs]
    assert neighbour_table_accuracy(shuffled, data) < table / 2


def test_training_masks_its_share_and_held_out_data_always_15_percent(tokenizer) -> None:
    pairs = build_segment_pairs(read_documents(paths.PRETRAIN_CORPUS)[:40], tokenizer, 128)

    def share(data: PretrainingDataset) -> float:
        examples = [data[i] for i in range(len(pairs))]
        return (sum(l != IGNORE_INDEX for e in examples for l in e["labels"])
                / sum(len(e["labels"]) - 3 for e in examples))  # [CLS] and two [SEP] are never masked

    assert share(PretrainingDataset(pairs, tokenizer, seed=0, mask_probability=0.4)) == pytest.approx(0.4, abs=0.01)
    assert share(PretrainingDataset(pairs, tokenizer, seed=0, vary_by_epoch=False)) == pytest.approx(0.15, abs=0.01)
    with pytest.raises(ConfigError, match="--mask-probability must be in"):
        resolve("tiny", None, {"mask_probability": 1.0})


def test_pretrain_cli_writes_metrics_and_a_final_model_that_train_accepts(tmp_path, small_corpus) -> None:
    out = tmp_path / "pt"
    code = main(["pretrain", "--corpus", str(small_corpus), "--output-dir", str(out), "--max-steps", "4",
                 "--eval-steps", "2", "--global-batch-size", "4", "--max-seq-length", "48", "--heldout-share", "0.2",
                 "--mask-probability", "0.3"])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["mask_probability"] == 0.3 and 0 < config["heldout_neighbour_table_accuracy"] < 1
    records = _records(out)
    assert [r["step"] for r in records] == [0, 2, 4]
    for record in records:
        assert {"mlm_loss", "mlm_accuracy", "sop_loss", "sop_accuracy"} <= set(record)
        assert 0 <= record["mlm_accuracy"] <= 1 and 0 <= record["sop_accuracy"] <= 1
    assert records[-1]["mlm_loss"] < records[0]["mlm_loss"]
    assert (out / "final" / "model.safetensors").is_file()
    model = load_qa_model(out / "final", seed=0)
    from safetensors.torch import load_file
    saved = load_file(str(out / "final" / "model.safetensors"))
    name = "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn_output.weight"
    assert torch.equal(dict(model.named_parameters())[name], saved[name])
    code = main(["train", "--model", str(out / "final"), "--max-steps", "2", "--max-train-samples", "16",
                 "--max-eval-samples", "8", "--batch-size", "4", "--output-dir", str(tmp_path / "ft")])
    assert code == 0 and (tmp_path / "ft" / "done.json").is_file()

    # The export that `make pretrain-tiny` runs: the model files, the records and a card written from them.
    exported = tmp_path / "exported"
    assert model_card.main([str(out), str(exported)]) == 0
    assert {p.name for p in exported.iterdir()} == {*model_card.MODEL_FILES, model_card.METRICS_FILE,
                                                    model_card.CONFIG_FILE, "README.md"}
    card = (exported / "README.md").read_text(encoding="utf-8")
    last = records[-1]
    assert f"**after 4 steps** | **{last['mlm_loss']:.3f}** | **{last['mlm_accuracy']:.3f}**" in card
    assert "30% of the tokens masked" in card
    assert f"| {config['heldout_neighbour_table_accuracy']:.3f} |" in card
    command = card.split("**Reproduce:** `")[1].split("`")[0]
    assert command.startswith("albertzero pretrain --profile tiny --corpus ")
    assert "--max-steps 4 " in command and "--mask-probability 0.3" in command and "--seed" not in command
    assert model_card.reproduce_command(dataclasses.asdict(resolve("tiny"))) == "`make pretrain-tiny`"
    assert json.loads((out / "config.json").read_text())["machine"]["cpu"] in card
    assert torch.equal(load_qa_model(exported, seed=0).state_dict()[name], saved[name])
    assert model_card.main([str(tmp_path / "ft"), str(tmp_path / "nowhere")]) == 2  # a fine-tuning run

def test_resume_from_a_checkpoint_replays_the_same_records(tmp_path, small_corpus) -> None:
    cfg = dict(SMALL, corpus=str(small_corpus), save_steps=2)
    pretrain(PretrainConfig(**cfg, output_dir=str(tmp_path / "a")), log=lambda _: None)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "done.json").unlink()
    pretrain(PretrainConfig(**cfg, output_dir=str(tmp_path / "b"),
                            resume_from_checkpoint=str(tmp_path / "b" / "checkpoints" / "step-2")), log=lambda _: None)
    strip = lambda records: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in records]  # noqa: E731
    assert strip(_records(tmp_path / "b")) == strip(_records(tmp_path / "a"))


def test_bad_corpus_and_options_give_one_line_errors(tmp_path, capsys) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("one sentence only\n", encoding="utf-8")
    with pytest.raises(DataError, match="no document with two or more sentences"):
        read_documents(empty)
    with pytest.raises(ConfigError, match="--max-steps must be a positive integer"):
        resolve("tiny", None, {"max_steps": 0})
    assert main(["pretrain", "--corpus", str(tmp_path / "missing.txt")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_tiny_random_names_the_random_init_control() -> None:
    from albertzero_utils.profiles import resolve as resolve_run

    model = load_qa_model("tiny-random", seed=0)
    assert model.config.hidden_size == 128 and model.config.num_hidden_layers == 12
    assert load_tokenizer("tiny-random").vocab_size == load_tokenizer(paths.TINY_MODEL_DIR).vocab_size
    assert resolve_run("smoke", None, {"model": "tiny-random"}).model == "tiny-random"


def test_held_out_metrics_pool_every_masked_token_and_every_pair() -> None:
    """evaluate_pretraining on logits written by hand: losses and accuracies derived independently."""
    import math
    from types import SimpleNamespace

    from accelerate import Accelerator

    from albertzero_utils.pretrain import evaluate_pretraining

    three = math.log(3.0)  # logits (0, ln 3, 0): probabilities 1/5, 3/5, 1/5
    batches = [  # batch 1: two masked tokens (one right), its pair right; batch 2: one masked token (right), pair wrong
        {"input_ids": torch.zeros(1, 3, dtype=torch.long), "labels": torch.tensor([[IGNORE_INDEX, 1, 2]]),
         "sentence_order_label": torch.tensor([0]),
         "mlm": torch.tensor([[[0.0, 0.0, 0.0], [0.0, three, 0.0], [0.0, three, 0.0]]]),
         "sop": torch.tensor([[2.0, 0.0]])},
        {"input_ids": torch.zeros(1, 3, dtype=torch.long), "labels": torch.tensor([[0, IGNORE_INDEX, IGNORE_INDEX]]),
         "sentence_order_label": torch.tensor([0]),
         "mlm": torch.tensor([[[three, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
         "sop": torch.tensor([[0.0, 1.0]])},
    ]

    class HandWritten(torch.nn.Module):
        def forward(self, input_ids, mlm, sop):
            return SimpleNamespace(prediction_logits=mlm, sop_logits=sop)

    metrics = evaluate_pretraining(HandWritten(), batches, Accelerator(cpu=True))
    right, wrong = -math.log(3 / 5), -math.log(1 / 5)
    assert metrics["mlm_accuracy"] == pytest.approx(2 / 3)  # pooled over the 3 masked tokens, not per batch
    assert metrics["mlm_loss"] == pytest.approx((right + wrong + right) / 3)
    assert metrics["sop_accuracy"] == pytest.approx(1 / 2)
    sop_right = -math.log(math.exp(2) / (math.exp(2) + 1))
    sop_wrong = -math.log(1 / (1 + math.e))
    assert metrics["sop_loss"] == pytest.approx((sop_right + sop_wrong) / 2)


def test_a_bad_start_never_costs_the_finished_run_and_one_writer_holds_the_directory(tmp_path, small_corpus,
                                                                                     capsys) -> None:
    """Validate, then write: --overwrite-output-dir with a corpus that cannot be used leaves the old run as it
    was; a second pretraining on a directory another one holds is refused at once (issue 21)."""
    from albertzero_utils.locks import OutputLock

    out = tmp_path / "pt"
    flags = ["--output-dir", str(out), "--max-steps", "2", "--eval-steps", "2", "--global-batch-size", "4",
             "--max-seq-length", "48", "--heldout-share", "0.2"]
    assert main(["pretrain", "--corpus", str(small_corpus), *flags]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and "lock" not in p.name}
    bad = tmp_path / "one-sentence.txt"
    bad.write_text("one sentence only\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["pretrain", "--corpus", str(bad), "--overwrite-output-dir", *flags]) == 2
    assert "no document with two or more sentences" in capsys.readouterr().err
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and "lock" not in p.name}
    assert after == before and not list(out.glob(".replaced-*"))
    with OutputLock(out):
        assert main(["pretrain", "--corpus", str(small_corpus), "--overwrite-output-dir", *flags]) == 2
    assert str(os.getpid()) in capsys.readouterr().err
