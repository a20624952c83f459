"""The SQuAD 2.0 metric: hand-worked cases, identical floats to a literal port of evaluate-v2.0.py, errors, CLI."""
from __future__ import annotations

import json
import random
import re

import pytest

from albertzero_utils import metrics, paths
from albertzero_utils.cli import main
from albertzero_utils.cli.evaluate import evaluate_files
from albertzero_utils.errors import DataError
from bench.official_eval import reference_metrics


# ---------------------------------------------------------------------------------- hand-worked cases
def test_normalisation_order_is_official() -> None:
    assert metrics.normalize_answer("  The  Cat, sat!  ") == "cat sat"
    # punctuation goes before articles: "an.apple" -> "anapple" (not "apple")
    assert metrics.normalize_answer("an.apple") == "anapple"
    assert metrics.normalize_answer("A theory") == "theory"


def test_exact_and_f1_partial_overlap() -> None:
    assert metrics.compute_exact("The Eiffel Tower", "eiffel tower.") == 1
    assert metrics.compute_exact("the quick brown fox", "quick fox jumps") == 0
    assert metrics.compute_f1("the quick brown fox", "quick fox jumps") == pytest.approx(2 / 3)
    assert metrics.compute_f1("", "") == 1 and metrics.compute_f1("", "fox") == 0
    assert metrics.compute_f1("the", "") == 1  # gold that normalises to empty agrees with ''


# Five questions; (gold answers, prediction, na-prob). q3 is worth F1 2/3 but exact 0.
_GOLDS = {"q1": ["Paris", "paris."], "q2": [], "q3": ["blue whale"], "q4": [], "q5": ["the", "red car"]}
_PREDS = {"q1": "Paris", "q2": "x", "q3": "whale", "q4": "", "q5": "Red car!"}
_NA = {"q1": 0.1, "q2": 0.3, "q3": 0.5, "q4": 0.9, "q5": 0.6}


def test_hand_worked_scores_and_key_order() -> None:
    out = metrics.squad_v2_metrics(_GOLDS, _PREDS)
    assert list(out) == ["exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total",
                         "NoAns_exact", "NoAns_f1", "NoAns_total"]
    assert out["exact"] == pytest.approx(100 * 3 / 5)
    assert out["f1"] == pytest.approx(100 * (1 + 0 + 2 / 3 + 1 + 1) / 5)
    assert out["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3 + 1) / 3) and out["HasAns_total"] == 3
    assert out["NoAns_exact"] == 50.0 and out["NoAns_total"] == 2


def test_only_present_groups_are_reported() -> None:
    out = metrics.squad_v2_metrics({"a": []}, {"a": ""})
    assert list(out) == ["exact", "f1", "total", "NoAns_exact", "NoAns_f1", "NoAns_total"]
    assert out["exact"] == 100.0


def test_na_prob_threshold_scores_as_no_answer() -> None:
    out = metrics.squad_v2_metrics(_GOLDS, _PREDS, _NA, na_prob_thresh=0.4)
    # q3 (0.5), q5 (0.6) answerable -> 0; q4 (0.9) unanswerable -> 1; q1 right, q2 wrong
    assert out["exact"] == pytest.approx(100 * 2 / 5) and out["f1"] == pytest.approx(100 * 2 / 5)


def test_best_threshold_sweep_by_hand() -> None:
    out = metrics.squad_v2_metrics(_GOLDS, _PREDS, _NA)
    # exact: 2 -> q1 3 -> q2 2 -> q3 2 -> q5 3 (a tie keeps the first best) -> q4 3
    assert out["best_exact"] == pytest.approx(60.0) and out["best_exact_thresh"] == 0.1
    # f1: 2 -> 3 -> 2 -> 2 2/3 -> 3 2/3 (new best at 0.6) -> 3 2/3
    assert out["best_f1"] == pytest.approx(100 * (3 + 2 / 3) / 5) and out["best_f1_thresh"] == 0.6
    assert "pr_exact_ap" not in out  # like the official script: only with an image directory


def test_answering_nothing_is_best_gives_threshold_zero() -> None:
    out = metrics.squad_v2_metrics({"a": [], "b": ["x"]}, {"a": "y", "b": "z"}, {"a": 0.2, "b": 0.7})
    assert out["best_f1"] == 50.0 and out["best_f1_thresh"] == 0.0


def test_precision_recall_ap_by_hand_and_images(tmp_path) -> None:
    out = metrics.squad_v2_metrics(_GOLDS, _PREDS, _NA, out_image_dir=tmp_path / "img")
    assert list(out)[-3:] == ["pr_exact_ap", "pr_f1_ap", "pr_oracle_ap"]
    assert out["pr_exact_ap"] == pytest.approx(100 * (1 / 3 + 1 / 2 * 1 / 3))
    assert out["pr_oracle_ap"] == pytest.approx(100 * (1 / 3 + 2 / 3 * 1 / 3 + 3 / 4 * 1 / 3))
    names = {"pr_exact.png", "pr_f1.png", "pr_oracle.png", "na_prob_hist_hasAns.png", "na_prob_hist_noAns.png"}
    assert {p.name for p in (tmp_path / "img").iterdir()} == names
    assert all((tmp_path / "img" / n).read_bytes()[:4] == b"\x89PNG" for n in names)


def test_tied_na_probs_only_cut_between_groups() -> None:
    na = dict(_NA, q3=0.5, q5=0.5)  # q3 (exact 0) and q5 (exact 1) now tie
    out = metrics.squad_v2_metrics(_GOLDS, _PREDS, na, out_image_dir=None)
    ref = reference_metrics(_GOLDS, _PREDS, na, 1.0)
    assert out["best_exact"] == ref["best_exact"] and out["best_exact_thresh"] == ref["best_exact_thresh"]


def test_identical_floats_to_the_official_logic(tmp_path) -> None:
    rng = random.Random(0)
    words = ["the", "a", "cat", "dog", "red", "blue", "Paris", "river", "an", "1945", "King's", "x-ray"]
    golds, preds, na = {}, {}, {}
    for i in range(400):
        qid = f"q{i}"
        answerable = rng.random() < 0.5
        golds[qid] = [" ".join(rng.choices(words, k=rng.randint(1, 4))) for _ in range(rng.randint(1, 3))] \
            if answerable else []
        preds[qid] = "" if rng.random() < 0.3 else " ".join(rng.choices(words, k=rng.randint(1, 5)))
        na[qid] = round(rng.uniform(-3, 3), 1)  # many ties
    for thresh in (1.0, 0.0, -0.5):
        out = metrics.squad_v2_metrics(golds, preds, na, thresh, out_image_dir=tmp_path)
        assert out == reference_metrics(golds, preds, na, thresh)  # exact float equality, same keys
        assert list(out) == list(reference_metrics(golds, preds, na, thresh))


# ------------------------------------------------------------------------------------------- errors
def _write(path, obj) -> str:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


@pytest.fixture()
def data_file(tmp_path) -> str:
    context = "Paris is the capital of France."
    qas = [{"id": "q1", "question": "Capital?", "answers": [{"text": "Paris", "answer_start": 0}],
            "is_impossible": False},
           {"id": "q2", "question": "Moon?", "answers": [], "is_impossible": True,
            "plausible_answers": [{"text": "France", "answer_start": 24}]}]
    obj = {"version": "v2.0", "data": [{"title": "France", "paragraphs": [{"context": context, "qas": qas}]}]}
    return _write(tmp_path / "data.json", obj)


@pytest.mark.parametrize("content, expected", [
    ("{not json", "not valid JSON"),
    (["Paris"], "must be a JSON object"),
    ({"q1": 3, "q2": ""}, "question q1"),
    ({"q1": "Paris"}, "1 of 2 questions have no prediction (first: q2)"),
])
def test_bad_prediction_files_are_one_line_errors(tmp_path, data_file, content, expected) -> None:
    pred = _write(tmp_path / "pred.json", content)
    with pytest.raises(DataError, match=re.escape(expected)) as info:
        evaluate_files(data_file, pred)
    assert "pred.json" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("content, expected", [
    ({"q1": "high", "q2": 0.1}, "question q1"),
    ({"q1": 0.2, "q2": float("nan")}, "question q2"),
    ({"q1": True, "q2": 0.1}, "question q1"),
    ({"q1": 0.2}, "1 of 2 questions have no na-prob (first: q2)"),
])
def test_bad_na_prob_files_are_one_line_errors(tmp_path, data_file, content, expected) -> None:
    pred = _write(tmp_path / "pred.json", {"q1": "Paris", "q2": ""})
    na = _write(tmp_path / "na.json", content)
    with pytest.raises(DataError, match=re.escape(expected)) as info:
        evaluate_files(data_file, pred, na)
    assert "na.json" in str(info.value) and "\n" not in str(info.value)


def test_unknown_prediction_ids_are_ignored(tmp_path, data_file) -> None:
    pred = _write(tmp_path / "pred.json", {"q1": "Paris", "q2": "", "zzz": "extra"})
    na = _write(tmp_path / "na.json", {"zzz": 5.0, "q1": 0.0, "q2": 0.9})
    out = evaluate_files(data_file, pred, na, out_image_dir=tmp_path / "img")
    assert out["exact"] == 100.0 and out["total"] == 2 and out["pr_oracle_ap"] == 100.0


def test_cli_prints_or_writes_official_json(tmp_path, data_file, capsys) -> None:
    pred = _write(tmp_path / "pred.json", {"q1": "the Paris", "q2": "France"})
    na = _write(tmp_path / "na.json", {"q1": 0.1, "q2": 0.8})
    assert main(["evaluate", data_file, pred, "-n", na, "-t", "0.5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["exact"] == 100.0 and printed["best_f1_thresh"] == 0.1
    assert main(["evaluate", data_file, pred, "--out-file", str(tmp_path / "eval.json")]) == 0
    assert json.loads((tmp_path / "eval.json").read_text())["exact"] == 50.0
    assert main(["evaluate", data_file, str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("albertzero evaluate: error:") and "missing.json" in err[0]


# --------------------------------------------------------------------------------- the real dev set
def test_known_values_on_the_official_dev_set(tmp_path) -> None:
    from albertzero_utils.data import flatten_squad, gold_answers, load_squad_json

    golds = gold_answers(flatten_squad(load_squad_json(paths.SQUAD2_DEV, check_offsets=False)))
    empty = evaluate_files(paths.SQUAD2_DEV, _write(tmp_path / "empty.json", {q: "" for q in golds}))
    assert empty["exact"] == empty["f1"] == 50.07159100480081
    assert empty["HasAns_exact"] == empty["HasAns_f1"] == 0.0
    assert empty["NoAns_exact"] == empty["NoAns_f1"] == 100.0
    assert (empty["total"], empty["HasAns_total"], empty["NoAns_total"]) == (11873, 5928, 5945)
    gold = metrics.squad_v2_metrics(golds, {q: (a[0] if a else "") for q, a in golds.items()})
    assert gold["exact"] == gold["f1"] == 100.0
