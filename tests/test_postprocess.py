"""Post-processing: a hand-worked case, agreement with a plain HF-style loop on random logits, files, threshold."""
from __future__ import annotations

import json
import math
import os
from collections import defaultdict

import datasets
import numpy as np
import pytest

from albertzero_utils import metrics
from albertzero_utils.errors import DataError
from albertzero_utils.postprocess import (
    NO_SPAN_NULL_ODDS,
    PostprocessConfig,
    Predictions,
    postprocess,
)

_WORDS = ["Paris", "is", "the", "capital", "of", "France", "and", "its", "largest", "city", "river", "Seine"]
_QUESTION_TOKENS = 3  # [CLS] q q q [SEP] context... [SEP] [PAD]...


def _synthetic(num_examples: int, seq_len: int, rng: np.random.Generator) -> tuple[list[dict], list[dict]]:
    """Examples with whitespace 'tokens' and sliding windows over them, shaped like build_eval_features."""
    capacity, first = seq_len - _QUESTION_TOKENS - 3, _QUESTION_TOKENS + 2
    examples, features = [], []
    for i in range(num_examples):
        words = list(rng.choice(_WORDS, size=int(rng.integers(3, 3 * capacity))))
        context = " ".join(words)
        spans, pos = [], 0
        for word in words:
            spans.append([pos, pos + len(word)])
            pos += len(word) + 1
        examples.append({"id": f"q{i}", "context": context})
        for window_start in range(0, max(len(spans) - capacity, 0) + capacity // 2, capacity // 2):
            window = spans[window_start:window_start + capacity]
            offsets = [None] * first + window + [None] * (seq_len - first - len(window))
            features.append({"example_id": f"q{i}", "offset_mapping": offsets})
            if window_start + capacity >= len(spans):
                break
    return examples, features


def _reference(examples, features, start, end, has, cfg) -> tuple[dict, dict]:
    """HF utils_qa style: argsort per feature, a Python loop over start x end, per-example max / min."""
    by_example = defaultdict(list)
    for index, feature in enumerate(features):
        by_example[feature["example_id"]].append(index)
    answers, odds = {}, {}
    for example in examples:
        best, min_null, min_diff = None, math.inf, math.inf
        for f in by_example[example["id"]]:
            offsets = features[f]["offset_mapping"]
            min_null = min(min_null, start[f][0] + end[f][0])
            if has is not None:
                min_diff = min(min_diff, has[f][1] - has[f][0])
            for a in np.argsort(start[f])[-1:-cfg.n_best - 1:-1]:
                for b in np.argsort(end[f])[-1:-cfg.n_best - 1:-1]:
                    if offsets[a] is None or offsets[b] is None or b < a or b - a + 1 > cfg.max_answer_length:
                        continue
                    score = start[f][a] + end[f][b]
                    if best is None or score > best[0]:
                        best = (score, example["context"][offsets[a][0]:offsets[b][1]])
        if best is None:
            odds[example["id"]], answers[example["id"]] = NO_SPAN_NULL_ODDS, ""
            continue
        value = cfg.null_weight * (min_null - best[0]) + (cfg.has_ans_weight * min_diff if has is not None else 0)
        odds[example["id"]] = value
        answers[example["id"]] = "" if value > cfg.null_threshold else best[1]
    return answers, odds


@pytest.mark.parametrize("use_has, cfg", [
    (False, PostprocessConfig(null_weight=1.0, has_ans_weight=0.0)),
    (True, PostprocessConfig()),
    (True, PostprocessConfig(n_best=5, max_answer_length=4, null_threshold=-1.0)),
])
def test_same_answers_as_a_plain_loop_on_random_logits(use_has, cfg) -> None:
    rng = np.random.default_rng(0)
    examples, features = _synthetic(60, 24, rng)
    start, end = rng.normal(size=(2, len(features), 24)) * 3
    has = rng.normal(size=(len(features), 2)) if use_has else None
    got = postprocess(examples, features, start, end, has, cfg)
    answers, odds = _reference(examples, features, start, end, has, cfg)
    assert got.answers == answers
    assert got.null_odds == pytest.approx(odds)
    assert 0 < sum(a != "" for a in answers.values()) < len(answers)  # the case exercises both decisions
    assert any(sum(f["example_id"] == e["id"] for f in features) > 1 for e in examples)  # multi-window


def test_datasets_and_lists_give_the_same_result() -> None:
    rng = np.random.default_rng(1)
    examples, features = _synthetic(20, 20, rng)
    start, end = rng.normal(size=(2, len(features), 20))
    from_lists = postprocess(examples, features, start, end)
    from_datasets = postprocess(datasets.Dataset.from_list(examples),
                                datasets.Dataset.from_list(features).select(range(len(features))), start, end)
    assert from_lists == from_datasets
    unpadded = [dict(f, offset_mapping=_strip_padding(f["offset_mapping"])) for f in features]
    assert any(len(f["offset_mapping"]) < 20 for f in unpadded)
    assert postprocess(examples, unpadded, start, end) == from_lists


def _strip_padding(offsets: list) -> list:
    """Drop the trailing non-context entries (rows shorter than the logits, as from unpadded features)."""
    while offsets and offsets[-1] is None:
        offsets = offsets[:-1]
    return offsets


def _one_example() -> tuple[list[dict], list[dict]]:
    context = "Paris is the capital of France"
    #            0    5  8   12      20 23
    words = [[0, 5], [6, 8], [9, 12], [13, 20], [21, 23], [24, 30]]
    window_a = [None, None, *words[:4], None]  # two windows of 7 tokens: [CLS] q ctx ctx ctx ctx [SEP]
    window_b = [None, None, *words[2:], None]
    return [{"id": "q", "context": context}], [{"example_id": "q", "offset_mapping": window_a},
                                               {"example_id": "q", "offset_mapping": window_b}]


def test_hand_worked_two_windows() -> None:
    examples, features = _one_example()
    start = np.full((2, 7), -10.0)
    end = np.full((2, 7), -10.0)
    start[0, 0], end[0, 0] = 1.0, 1.0  # null score 2.0 in window a
    start[1, 0], end[1, 0] = 0.5, 0.0  # null score 0.5 in window b: the minimum
    start[1, 1], end[1, 1] = 50.0, 50.0  # a question token: never a span
    start[0, 5], end[0, 4] = 9.0, 9.0  # "capital" .. "the": end before start, never a span
    start[1, 2], start[1, 4], end[1, 5] = 3.5, 3.0, 2.0  # "the capital of France" 5.5 (4 tokens), "of France" 5.0
    has = np.array([[0.0, 1.0], [2.0, -1.0]])  # no-answer minus has-answer: 1.0 and -3.0 -> min -3.0
    cfg = PostprocessConfig(max_answer_length=3, null_weight=1.0, has_ans_weight=0.5)
    got = postprocess(examples, features, start, end, has, cfg)
    assert got.span_answers == got.answers == {"q": "of France"}
    assert got.null_odds["q"] == pytest.approx(1.0 * (0.5 - 5.0) + 0.5 * -3.0)
    assert got.nbest["q"][0]["offsets"] == [21, 30]
    longer = postprocess(examples, features, start, end, has, PostprocessConfig(null_threshold=-10.0))
    assert longer.span_answers == {"q": "the capital of France"}
    assert longer.null_odds["q"] == pytest.approx(0.5 * (0.5 - 5.5) + 0.5 * -3.0)
    assert longer.answers == {"q": ""}  # -4.0 > -10.0: no answer
    without_head = postprocess(examples, features, start, end, None, cfg)
    assert without_head.null_odds["q"] == pytest.approx(0.5 - 5.0)


def test_nbest_is_well_formed_and_json_serialisable() -> None:
    rng = np.random.default_rng(2)
    examples, features = _synthetic(15, 24, rng)
    start, end = rng.normal(size=(2, len(features), 24))
    cfg = PostprocessConfig(n_best=7)
    got = postprocess(examples, features, start, end, rng.normal(size=(len(features), 2)), cfg)
    contexts = {e["id"]: e["context"] for e in examples}
    for qid, entries in got.nbest.items():
        scores = [e["score"] for e in entries]
        assert scores == sorted(scores, reverse=True) and 1 <= len(entries) <= cfg.n_best + 1
        assert sum(e["probability"] for e in entries) == pytest.approx(1.0)
        assert [e["offsets"] for e in entries].count(None) == 1
        spans = [e for e in entries if e["offsets"] is not None]
        assert all(e["text"] == contexts[qid][slice(*e["offsets"])] for e in spans)
        assert len({tuple(e["offsets"]) for e in spans}) == len(spans)
        assert all(e["score"] == pytest.approx(e["start_logit"] + e["end_logit"]) for e in entries)
        assert got.span_answers[qid] == (spans[0]["text"] if spans else "")
    assert sum(len(entries) > 1 for entries in got.nbest.values()) > len(examples) // 2
    json.dumps(got.nbest, allow_nan=False)


def test_no_valid_span_means_no_answer() -> None:
    examples, features = _one_example()
    start = np.zeros((2, 7))
    start[:, 0] = 100.0  # every top start is [CLS] or a question token when n_best = 2
    start[:, 1] = 90.0
    got = postprocess(examples, features, start, np.zeros((2, 7)), cfg=PostprocessConfig(n_best=2))
    assert got.answers == {"q": ""} and got.null_odds == {"q": NO_SPAN_NULL_ODDS}
    assert [e["offsets"] for e in got.nbest["q"]] == [None] and got.nbest["q"][0]["probability"] == 1.0


def test_write_is_official_format(tmp_path) -> None:
    examples, features = _one_example()
    got = postprocess(examples, features, np.eye(2, 7), np.eye(2, 7, 2))
    files = got.write(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        ["nbest_predictions.json", "null_odds.json", "predictions.json"]
    assert json.loads(files["predictions"].read_text()) == got.answers
    assert json.loads(files["null_odds"].read_text()) == got.null_odds
    assert json.loads(files["nbest"].read_text()) == got.nbest


def test_the_metric_tunes_the_threshold_on_span_answers_and_null_odds() -> None:
    golds = {"a": ["red"], "b": [], "c": ["big blue"], "d": []}
    preds = Predictions(answers={}, nbest={}, span_answers={"a": "red", "b": "x", "c": "blue", "d": "y"},
                        null_odds={"a": -2.0, "b": -1.0, "c": 0.5, "d": 3.0})
    # sweep from 2 (all ''): a +1 -> 3 at -2.0; b -1 -> 2; c +2/3 -> 2.67; d -1 -> 1.67
    sweep = metrics.squad_v2_metrics(golds, preds.span_answers, preds.null_odds)
    threshold, best_f1 = sweep["best_f1_thresh"], sweep["best_f1"]
    assert threshold == -2.0 and best_f1 == pytest.approx(75.0)
    assert metrics.squad_v2_metrics(golds, preds.with_threshold(threshold).answers)["f1"] == pytest.approx(best_f1)
    assert preds.with_threshold(0.5).answers == {"a": "red", "b": "x", "c": "blue", "d": ""}


def test_mismatched_inputs_are_clear_errors() -> None:
    examples, features = _one_example()
    logits = np.zeros((2, 7))
    with pytest.raises(DataError, match="question zzz"):
        postprocess(examples, [*features, {"example_id": "zzz", "offset_mapping": [None] * 7}],
                    np.zeros((3, 7)), np.zeros((3, 7)))
    with pytest.raises(DataError, match="question other"):
        postprocess([*examples, {"id": "other", "context": "x"}], features, logits, logits)
    with pytest.raises(DataError, match="question q: this question id appears more than once"):
        postprocess([*examples, *examples], features, logits, logits)
    with pytest.raises(ValueError, match="has_logits"):
        postprocess(examples, features, logits, logits, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="logits"):
        postprocess(examples, features, logits, np.zeros((2, 6)))


def _reference_nbest(examples, features, start, end, cfg) -> dict:
    """A plain loop: every window's top start x end pairs, best first, one entry per character span, then
    the null entry of the window with the lowest null score; softmax over the list."""
    nbest = {}
    for example in examples:
        windows = [f for f, feature in enumerate(features) if feature["example_id"] == example["id"]]
        spans = []
        for f in windows:
            offsets = features[f]["offset_mapping"]
            for a in np.argsort(start[f])[-1:-cfg.n_best - 1:-1]:
                for b in np.argsort(end[f])[-1:-cfg.n_best - 1:-1]:
                    if a < len(offsets) and b < len(offsets) and offsets[a] is not None and offsets[b] is not None \
                            and a <= b < a + cfg.max_answer_length:
                        spans.append((float(start[f][a] + end[f][b]), offsets[a][0], offsets[b][1],
                                      float(start[f][a]), float(end[f][b])))
        entries, seen = [], set()
        for score, char_a, char_b, start_logit, end_logit in sorted(spans, key=lambda span: -span[0]):
            if (char_a, char_b) not in seen and len(entries) < cfg.n_best:
                seen.add((char_a, char_b))
                entries.append({"text": example["context"][char_a:char_b], "offsets": [char_a, char_b],
                                "start_logit": start_logit, "end_logit": end_logit, "score": score})
        f = min(windows, key=lambda w: start[w][0] + end[w][0])
        entries.append({"text": "", "offsets": None, "start_logit": float(start[f][0]),
                        "end_logit": float(end[f][0]), "score": float(start[f][0] + end[f][0])})
        entries.sort(key=lambda entry: -entry["score"])
        total = sum(math.exp(e["score"] - entries[0]["score"]) for e in entries)
        for entry in entries:
            entry["probability"] = math.exp(entry["score"] - entries[0]["score"]) / total
        nbest[example["id"]] = entries
    return nbest


def _without_probability(entries: list[dict]) -> list[dict]:
    return [{key: value for key, value in entry.items() if key != "probability"} for entry in entries]


@pytest.mark.parametrize("cfg, dtype", [(PostprocessConfig(), np.float64), (PostprocessConfig(n_best=4), np.float32),
                                        (PostprocessConfig(n_best=6, max_answer_length=3), np.float64)])
def test_nbest_matches_a_plain_loop(cfg, dtype) -> None:
    rng = np.random.default_rng(3)
    examples, features = _synthetic(40, 24, rng)
    start, end = (rng.normal(size=(2, len(features), 24)) * 2).astype(dtype)
    got = postprocess(examples, features, start, end, None, cfg).nbest
    expected = _reference_nbest(examples, features, start.astype(np.float64), end.astype(np.float64), cfg)
    assert set(got) == set(expected)
    for qid, entries in expected.items():
        assert _without_probability(got[qid]) == _without_probability(entries), qid
        assert [e["probability"] for e in got[qid]] == pytest.approx([e["probability"] for e in entries], rel=1e-12)
    assert any(sum(f["example_id"] == e["id"] for f in features) > 2 for e in examples)  # overlapping windows


def test_windows_need_not_be_grouped_by_question() -> None:
    rng = np.random.default_rng(4)
    examples, features = _synthetic(25, 20, rng)
    start, end = rng.normal(size=(2, len(features), 20))
    has = rng.normal(size=(len(features), 2))
    shuffled = rng.permutation(len(features))
    in_order = postprocess(examples, features, start, end, has)
    mixed = postprocess(examples, [features[i] for i in shuffled], start[shuffled], end[shuffled], has[shuffled])
    assert mixed == in_order  # answers, span answers, null odds and n-best


def test_nbest_is_built_on_first_access_only_once(monkeypatch) -> None:
    from albertzero_utils import postprocess as module

    calls = []
    original = module.build_nbest
    monkeypatch.setattr(module, "build_nbest", lambda *args: calls.append(1) or original(*args))
    examples, features = _one_example()
    got = postprocess(examples, features, np.eye(2, 7), np.eye(2, 7, 2))
    assert calls == []
    assert got.nbest is got.nbest and got.with_threshold(5.0).nbest is got.nbest
    assert calls == [1]


def test_equal_scores_go_to_the_earliest_span_in_answers_and_nbest() -> None:
    examples, features = _one_example()
    start = np.full((2, 7), -10.0)
    end = np.full((2, 7), -10.0)
    start[0, 3], end[0, 3], start[0, 4], end[0, 4] = 5.0, 5.0, 5.0, 5.0  # 'is', 'is the', 'the' all score 10
    got = postprocess(examples, features, start, end, cfg=PostprocessConfig(n_best=3))
    assert got.span_answers == got.answers == {"q": "is"}
    assert [e["text"] for e in got.nbest["q"]][:3] == ["is", "is the", "the"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_honour_the_umask(tmp_path, umask) -> None:
    examples, features = _one_example()
    got = postprocess(examples, features, np.eye(2, 7), np.eye(2, 7, 2))
    previous = os.umask(umask)
    try:
        files = got.write(tmp_path)
    finally:
        os.umask(previous)
    assert {oct(path.stat().st_mode & 0o777) for path in files.values()} == {oct(0o666 & ~umask)}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(path.name for path in files.values())  # no temp left


def test_same_answers_as_the_bench_reference_loop_on_the_sample() -> None:
    from albertzero_utils import data, paths
    from bench.bench_postprocess import check_same, random_logits, reference_postprocess

    examples = data.load_examples("sample:dev")
    tokenizer = data.load_tokenizer(paths.TINY_MODEL_DIR)
    features = data.build_eval_features(examples, tokenizer, data.FeatureConfig(96, 32, 24))
    assert len(features) > len(examples)  # some questions span several windows
    start, end = random_logits(features)
    got = postprocess(examples, features, start, end, None, PostprocessConfig(null_weight=1.0, has_ans_weight=0.0))
    threshold = float(np.median(list(got.null_odds.values())))  # so that about half are answered
    columns = (examples["id"], examples["context"], features["example_id"], features["offset_mapping"])
    check_same(got.with_threshold(threshold), *reference_postprocess(*map(list, columns), start, end,
                                                                     null_threshold=threshold))
    assert 0 < sum(answer != "" for answer in got.with_threshold(threshold).answers.values()) < len(got.answers)
