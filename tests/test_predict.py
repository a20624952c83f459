"""Prediction with the tiny random model: well-formed outputs, batching, files the evaluator reads, the CLI."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from albertzero_utils import data, paths
from albertzero_utils.cli import main
from albertzero_utils.cli.evaluate import evaluate_files
from albertzero_utils.modeling import load_qa_model
from albertzero_utils.postprocess import PostprocessConfig
from albertzero_utils.predict import answer_question, heads_trained, predict_file, predict_logits, window_settings

FEATURES = data.FeatureConfig(max_seq_length=48, doc_stride=16, max_query_length=16)
SMALL = ["--max-seq-length", "48", "--doc-stride", "16", "--max-query-length", "16", "--batch-size", "8"]


@pytest.fixture(autouse=True)
def private_feature_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny model needs no intra-op parallelism; on a busy 2-core machine it only adds contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_and_tokenizer():
    return load_qa_model(paths.TINY_MODEL_DIR, seed=0), data.load_tokenizer(paths.TINY_MODEL_DIR)


@pytest.fixture()
def small_squad(tmp_path) -> str:
    """Four questions (two unanswerable), one of them on a context longer than one window."""
    long_context = " ".join(["The Seine flows through Paris and then to the sea."] * 3)
    paragraphs = [
        {"context": "Paris is the capital of France.",
         "qas": [{"id": "a1", "question": "What is the capital of France?", "is_impossible": False,
                  "answers": [{"text": "Paris", "answer_start": 0}]},
                 {"id": "a2", "question": "What is the capital of Mars?", "is_impossible": True, "answers": []}]},
        {"context": long_context,
         "qas": [{"id": "b1", "question": "What flows through Paris?", "is_impossible": False,
                  "answers": [{"text": "The Seine", "answer_start": 0}]},
                 {"id": "b2", "question": "Who painted the Seine?", "is_impossible": True, "answers": []}]},
    ]
    path = tmp_path / "small.json"
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "France", "paragraphs": paragraphs}]}))
    return str(path)


def test_predict_file_is_well_formed_and_evaluates(model_and_tokenizer, small_squad, tmp_path) -> None:
    model, tokenizer = model_and_tokenizer
    predictions = predict_file(model, tokenizer, small_squad, batch_size=3, feature_cfg=FEATURES,
                               cfg=PostprocessConfig(null_threshold=1e9))  # answer everything with a span
    contexts = {row["id"]: row["context"] for row in data.flatten_squad(data.load_squad_json(small_squad))}
    assert set(predictions.answers) == set(predictions.null_odds) == set(predictions.nbest) == set(contexts)
    for qid, answer in predictions.answers.items():
        assert answer in contexts[qid] and answer == predictions.span_answers[qid]
        assert np.isfinite(predictions.null_odds[qid])
        assert sum(entry["probability"] for entry in predictions.nbest[qid]) == pytest.approx(1.0)
    assert any(answer for answer in predictions.answers.values())
    files = predictions.write(tmp_path / "out")
    result = evaluate_files(small_squad, files["predictions"], files["null_odds"])
    assert result["total"] == 4 and result["HasAns_total"] == 2 and "best_f1_thresh" in result


def _real_tokens(features, width: int) -> np.ndarray:
    """[F, width] bool: True on each window's real tokens."""
    real = np.zeros((len(features), width), dtype=bool)
    for row, mask in enumerate(features["attention_mask"]):
        real[row, :len(mask)] = np.asarray(mask, dtype=bool)
    return real


def test_batching_and_padding_cut_do_not_change_logits(model_and_tokenizer, small_squad) -> None:
    model, tokenizer = model_and_tokenizer
    features = data.build_eval_features(data.load_examples(small_squad), tokenizer, FEATURES)
    assert len(features) > 4  # the long context spans several windows
    lengths = [len(row) for row in features["input_ids"]]
    assert len(set(lengths)) > 1 and max(lengths) <= FEATURES.max_seq_length  # stored unpadded
    model.train()
    one = predict_logits(model, features, batch_size=1)
    assert model.training  # the caller's mode is restored
    many = predict_logits(model, features, batch_size=3)
    real = _real_tokens(features, max(lengths))
    for a, b in zip(one, many):
        assert a.shape[0] == b.shape[0] == len(features) and a.shape[1] in (max(lengths), 2)
    np.testing.assert_allclose(one[0][real], many[0][real], atol=1e-4)
    np.testing.assert_allclose(one[1][real], many[1][real], atol=1e-4)
    np.testing.assert_allclose(one[2], many[2], atol=1e-4)
    assert np.isneginf(one[0][~real]).all()  # padding positions can never be chosen


def test_sorted_dynamic_batches_give_the_padded_logits_in_feature_order(model_and_tokenizer, small_squad) -> None:
    """Unpadded windows run longest first come back in feature order, equal to the old padded path."""
    model, tokenizer = model_and_tokenizer
    examples = data.load_examples(small_squad)
    padded_cfg = dataclasses.replace(FEATURES, pad_to_max_length=True)
    padded = data.build_eval_features(examples, tokenizer, padded_cfg)
    dynamic = data.build_eval_features(examples, tokenizer, FEATURES)
    assert {len(row) for row in padded["input_ids"]} == {FEATURES.max_seq_length}
    assert dynamic["example_id"] == padded["example_id"]
    old = predict_logits(model, padded, batch_size=len(padded))  # file order, one batch
    new = predict_logits(model, dynamic, batch_size=2)
    width = new[0].shape[1]
    real = _real_tokens(dynamic, width)
    assert old[0].shape[1] == FEATURES.max_seq_length and np.isneginf(old[0][:, width:]).all()
    for before, after in zip(old[:2], new[:2]):
        np.testing.assert_allclose(before[:, :width][real], after[real], atol=1e-4)
    np.testing.assert_allclose(old[2], new[2], atol=1e-4)
    cfg = PostprocessConfig(null_threshold=1e9)
    answers_old = predict_file(model, tokenizer, small_squad, batch_size=len(padded), feature_cfg=padded_cfg, cfg=cfg)
    answers_new = predict_file(model, tokenizer, small_squad, batch_size=2, feature_cfg=FEATURES, cfg=cfg)
    assert answers_new.answers == answers_old.answers
    assert answers_new.null_odds == pytest.approx(answers_old.null_odds, abs=1e-4)


def test_answer_question_is_a_json_object(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    context = "Paris is the capital of France. It lies on the Seine."
    result = answer_question(model, tokenizer, "What is the capital?", context, feature_cfg=FEATURES)
    assert set(result) == {"answer", "is_answerable", "null_odds", "nbest"}
    assert result["answer"] in context and result["is_answerable"] == (result["answer"] != "")
    assert all(entry["text"] in context for entry in result["nbest"])
    json.dumps(result, allow_nan=False)


@pytest.fixture()
def trained_run(tmp_path):
    """A run directory as `train` leaves it: RUN/config.json (its settings) and RUN/final/ (an AVPool model)."""
    run = tmp_path / "run"
    load_qa_model(paths.TINY_MODEL_DIR, seed=0).save_pretrained(run / "final")
    data.load_tokenizer(paths.TINY_MODEL_DIR).save_pretrained(run / "final")
    (run / "config.json").write_text(json.dumps({"max_seq_length": 48, "doc_stride": 16, "max_query_length": 16,
                                                 "match_original_albert_tokenizer": False}))
    return run


def test_predict_reads_the_windows_of_the_trained_run(trained_run, small_squad, tmp_path) -> None:
    final = trained_run / "final"
    assert heads_trained(final) and not heads_trained(paths.TINY_MODEL_DIR)
    assert window_settings(final) == FEATURES  # the run's 48/16/16, not the 384/128/64 defaults
    assert window_settings(final, doc_stride=8).doc_stride == 8  # a flag still wins
    assert window_settings(paths.TINY_MODEL_DIR) == data.FeatureConfig()
    out = tmp_path / "preds"
    assert main(["predict", "--model", str(final), "--data", small_squad, "--output-dir", str(out)]) == 0
    assert len(json.loads((out / "predictions.json").read_text())) == 4


def test_predict_refuses_untrained_heads_unless_allowed(tmp_path, capsys) -> None:
    encoder = tmp_path / "encoder"  # a pretrained encoder without QA heads, as albert/albert-base-v2 on the Hub
    from transformers import AlbertConfig, AlbertModel

    AlbertModel(AlbertConfig.from_pretrained(paths.TINY_MODEL_DIR)).save_pretrained(encoder)
    for model in (encoder, paths.TINY_MODEL_DIR):
        assert main(["predict", "--model", str(model), "-q", "Capital?", "-c", "Paris is the capital."]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "heads were never trained" in err[0] and "--allow-untrained-heads" in err[0]


def test_cli_question_and_file(small_squad, tmp_path, capsys) -> None:
    model = str(paths.TINY_MODEL_DIR)
    untrained = ["--allow-untrained-heads", *SMALL]
    assert main(["predict", "--model", model, "-q", "Capital?", "-c", "Paris is the capital.", *untrained]) == 0
    assert json.loads(capsys.readouterr().out)["answer"] in "Paris is the capital."
    out = tmp_path / "preds"
    assert main(["predict", "--model", model, "--data", small_squad, "--output-dir", str(out), *untrained]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["nbest_predictions.json", "null_odds.json", "predictions.json"]
    assert main(["evaluate", small_squad, str(out / "predictions.json"), "-n", str(out / "null_odds.json")]) == 0


@pytest.mark.parametrize("argv, expected", [
    (["--model", "/no/such/model", "-q", "x", "-c", "y"], "/no/such/model"),
    (["--model", str(paths.TINY_MODEL_DIR), "-q", "x", "--allow-untrained-heads"], "--context"),
])
def test_cli_errors_are_one_line(argv, expected, capsys) -> None:
    assert main(["predict", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("albertzero predict: error:") and expected in err[0]
