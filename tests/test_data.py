"""SQuAD 2.0 loading, strict validation and features (tiny tokenizer; the committed real dev set and tokenizer)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets
import pytest

from albertzero_utils import data, features, paths
from albertzero_utils.errors import ConfigError, DataError

CONTEXT = "The Normans were the people who gave their name to Normandy, a region in France."


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes feature caches under its own tmp dir, never in ~/.cache."""
    cache = tmp_path / "hf-datasets"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def tiny_tokenizer():
    return data.load_tokenizer(paths.TINY_MODEL_DIR)


def qa(qid: str = "q1", question: str = "Who gave their name to Normandy?", text: str | None = "The Normans",
       start: object = 0, **extra: object) -> dict:
    answers = [] if text is None else [{"text": text, "answer_start": start}]
    return {"id": qid, "question": question, "answers": answers, "is_impossible": text is None, **extra}


def squad(*qas: dict, context: str = CONTEXT, title: str = "Normans") -> dict:
    return {"version": "v2.0", "data": [{"title": title, "paragraphs": [{"context": context, "qas": list(qas)}]}]}


def write(tmp_path: Path, obj: object, name: str = "bad-file.json") -> Path:
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def load_error(path: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as caught:
        data.load_squad_json(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and path.name in message
    return message


# --- validation --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("question, expected", [
    (qa(start=-1), "answer_start -1 is out of range"),
    (qa(start=len(CONTEXT)), "out of range"),
    (qa(start=True), "must be an integer, got True"),
    (qa(start="0"), "must be an integer"),
    (qa(start=4), "points at"),
    (qa(question="   "), "'question' must be a non-empty string"),
    (qa(question=7), "'question' must be a non-empty string"),
    (qa(text=""), "text must be a non-empty string"),
    ({**qa(), "is_impossible": True}, "'is_impossible' is true but there are 1 answers"),
    (qa(text=None, is_impossible=False), "'is_impossible' is false but there are 0 answers"),
    ({**qa(), "is_impossible": "no"}, "must be true or false"),
    ({**qa(), "answers": "The Normans"}, "'answers' must be a list"),
    ({k: v for k, v in qa().items() if k != "answers"}, "missing key 'answers'"),
    (qa(plausible_answers=[{"text": 3, "answer_start": 0}]), "plausible_answers[0].text"),
])
def test_each_question_problem_names_file_title_and_id(tmp_path, question, expected) -> None:
    message = load_error(write(tmp_path, squad(question)))
    assert expected in message
    assert "article 'Normans'" in message and "question q1" in message


def test_empty_context_and_structure_problems_name_the_place(tmp_path) -> None:
    assert "'context' must be a non-empty string" in load_error(write(tmp_path, squad(qa(), context=" ")))
    assert "'data' list" in load_error(write(tmp_path, {"version": "v2.0", "articles": []}))
    assert "'data' list" in load_error(write(tmp_path, [1, 2]))
    no_qas = {"data": [{"title": "Normans", "paragraphs": [{"context": CONTEXT}]}]}
    assert "article 'Normans'" in load_error(write(tmp_path, no_qas)) and "missing key 'qas'" in load_error(
        write(tmp_path, no_qas))
    assert "non-empty string 'id'" in load_error(write(tmp_path, squad({**qa(), "id": 12})))
    assert "'title' must be a string" in load_error(write(tmp_path, squad(qa(), title=None)))


def test_duplicate_ids_name_both_places(tmp_path) -> None:
    obj = squad(qa())
    obj["data"].append({"title": "Other", "paragraphs": [{"context": CONTEXT, "qas": [qa()]}]})
    message = load_error(write(tmp_path, obj))
    assert "article 'Other', question q1: duplicate id (first seen in article 'Normans')" in message


def test_invalid_json_and_utf8_name_the_position(tmp_path) -> None:
    message = load_error(write(tmp_path, '{"data": [\n  {"title": "x",}\n]}'))
    assert "invalid JSON at line 2, column" in message
    path = tmp_path / "latin1.json"
    path.write_bytes('{"data": []}\n"caf\xe9"'.encode("latin-1"))
    assert "invalid UTF-8 at byte 17 (line 2)" in load_error(path)
    with pytest.raises(DataError, match="cannot read file"):
        data.load_squad_json(tmp_path / "missing.json")


def test_first_problem_reported_with_a_count_of_the_rest(tmp_path) -> None:
    message = load_error(write(tmp_path, squad(qa("a", start=5), qa("b", start=-3), qa("c", question=""))))
    assert "question a:" in message and message.endswith("(and 2 more problems)")


def test_evaluation_ignores_offsets_like_the_official_script(tmp_path) -> None:
    path = write(tmp_path, squad(qa(start=4), qa("q2", start="nonsense")))
    load_error(path)
    assert data.load_squad_json(path, check_offsets=False)["data"][0]["title"] == "Normans"


def test_committed_dev_set_is_the_official_release_and_validates() -> None:
    digest = hashlib.md5(paths.SQUAD2_DEV.read_bytes()).hexdigest()
    assert digest == paths.SQUAD2_DEV_MD5 == "246adae8b7002f8679c027697b0b7cf8"  # byte-identical to the release
    obj = data.load_squad_json(paths.SQUAD2_DEV, check_offsets=True)
    assert (obj["version"], len(obj["data"])) == ("v2.0", 35)


# --- flattening and loading --------------------------------------------------------------------------------

def test_flatten_keeps_plausible_answers_and_fills_empty_lists(tmp_path) -> None:
    plausible = [{"text": "Normandy", "answer_start": CONTEXT.index("Normandy")}]
    obj = squad(qa(), qa("q2", question="Who named France?", text=None, plausible_answers=plausible))
    rows = data.flatten_squad(obj)
    assert [r["id"] for r in rows] == ["q1", "q2"]
    assert rows[0]["plausible_answers"] == {"text": [], "answer_start": []}
    assert rows[1]["answers"] == {"text": [], "answer_start": []}
    assert rows[1]["plausible_answers"] == {"text": ["Normandy"], "answer_start": [plausible[0]["answer_start"]]}
    examples = data.load_examples(write(tmp_path, obj, "ok.json"))
    assert examples.column_names == ["id", "title", "context", "question", "answers", "plausible_answers"]
    assert examples[1]["plausible_answers"]["text"] == ["Normandy"]
    assert data.gold_answers(examples) == {"q1": ["The Normans"], "q2": []}


def test_load_examples_sources(tmp_path) -> None:
    train = data.load_examples("sample:train", max_samples=5)
    assert len(train) == 5 and train[0]["id"] == data.flatten_squad(data.load_squad_json(paths.SAMPLE_TRAIN))[0]["id"]
    assert len(data.load_examples("sample:dev")) == len(data.flatten_squad(data.load_squad_json(paths.SAMPLE_DEV)))
    with pytest.raises(DataError, match="unknown sample"):
        data.load_examples("sample:test")
    with pytest.raises(ConfigError):
        data.load_examples("sample:dev", max_samples=0)
    with pytest.raises(DataError, match="cannot read file"):
        data.load_examples(tmp_path / "nope.json")


def test_hub_offline_is_one_line_with_alternatives() -> None:
    with pytest.raises(DataError) as caught:
        data.load_examples("rajpurkar/squad_v2", split="validation")
    message = str(caught.value)
    assert "\n" not in message and "rajpurkar/squad_v2" in message
    assert "--train-file/--eval-file" in message and "'smoke' profile" in message


# --- features ----------------------------------------------------------------------------------------------

def window_examples(tmp_path: Path, answer_start: int, answer: str, context: str) -> object:
    return data.load_examples(write(tmp_path, squad(
        qa("has", question="Which?", text=answer, start=answer_start),
        qa("none", question="Which not?", text=None), context=context), "windows.json"))


def test_train_labels_per_window(tmp_path, tiny_tokenizer) -> None:
    words = [f"w{i}" for i in range(60)]
    context = " ".join(words)
    answer = " ".join(words[20:27])
    examples = window_examples(tmp_path, context.index(answer), answer, context)
    cfg = data.FeatureConfig(max_seq_length=48, doc_stride=16, max_query_length=8)
    train = data.build_train_features(examples, tiny_tokenizer, cfg)
    evals = data.build_eval_features(examples, tiny_tokenizer, cfg)
    assert len(train) == len(evals) > 4 and max(map(len, train["input_ids"])) == 48
    start_char, end_char = context.index(answer), context.index(answer) + len(answer)
    seen = {"inside": 0, "cut": 0, "outside": 0}
    for window, offsets, qid in zip(train, evals["offset_mapping"], evals["example_id"]):
        spans = [o for o in offsets if o is not None]
        if qid == "none":
            assert (window["is_impossible"], window["start_positions"], window["end_positions"]) == (1, 0, 0)
            continue
        inside = spans[0][0] <= start_char and spans[-1][1] >= end_char
        overlaps = spans[0][0] < end_char and spans[-1][1] > start_char
        seen["inside" if inside else "cut" if overlaps else "outside"] += 1
        if inside:
            assert window["is_impossible"] == 0
            s, e = window["start_positions"], window["end_positions"]
            assert context[offsets[s][0]:offsets[e][1]] == answer
        else:
            assert (window["is_impossible"], window["start_positions"], window["end_positions"]) == (1, 0, 0)
    assert seen["inside"] and seen["cut"] and seen["outside"], seen


def test_features_are_unpadded_unless_padding_to_max_length(tmp_path, tiny_tokenizer) -> None:
    """Rows are as long as their tokens; ``pad_to_max_length`` gives the old padded rows, same tokens and labels."""
    context = " ".join(f"w{i}" for i in range(60))
    examples = window_examples(tmp_path, context.index("w20"), "w20 w21", context)
    cfg = data.FeatureConfig(max_seq_length=48, doc_stride=16, max_query_length=8)
    padded_cfg = data.FeatureConfig(max_seq_length=48, doc_stride=16, max_query_length=8, pad_to_max_length=True)
    for build in (data.build_train_features, data.build_eval_features):
        rows, padded = build(examples, tiny_tokenizer, cfg), build(examples, tiny_tokenizer, padded_cfg)
        assert len({len(row) for row in rows["input_ids"]}) > 1 and {len(r) for r in padded["input_ids"]} == {48}
        for row, old in zip(rows, padded):
            assert all(row["attention_mask"]) and sum(old["attention_mask"]) == len(row["input_ids"])
            for name, values in row.items():
                assert values == (old[name][:len(values)] if isinstance(values, list) else old[name]), name


def test_eval_offsets_only_on_context_tokens(tmp_path, tiny_tokenizer) -> None:
    examples = window_examples(tmp_path, 0, "The Normans", CONTEXT)
    evals = data.build_eval_features(examples, tiny_tokenizer, data.FeatureConfig(64, 16, 16))
    assert evals["example_id"] == ["has", "none"]
    for window in evals:
        columns = zip(window["token_type_ids"], window["attention_mask"], window["offset_mapping"])
        for token_type, mask, offset in columns:
            if offset is not None:
                assert token_type == 1 and mask == 1
        context_offsets = [o for o in window["offset_mapping"] if o is not None]
        assert window["offset_mapping"][0] is None and context_offsets[0][0] == 0
        assert context_offsets[-1][1] == len(CONTEXT)


def test_questions_are_left_stripped_and_capped(tmp_path, tiny_tokenizer) -> None:
    long_question = "   " + " ".join(["where"] * 40) + "?"
    questions, truncated = data.cap_questions([long_question, "  who?"], tiny_tokenizer, 8)
    assert truncated == [True, False] and questions[1] == "who?"
    assert len(tiny_tokenizer(questions[0], add_special_tokens=False)["input_ids"]) == 8
    assert long_question.lstrip().startswith(questions[0])
    examples = data.load_examples(write(tmp_path, squad(qa(question=long_question)), "long.json"))
    cfg = data.FeatureConfig(max_seq_length=64, doc_stride=16, max_query_length=8)
    window = data.build_train_features(examples, tiny_tokenizer, cfg)[0]
    assert window["token_type_ids"].index(1) == 8 + 2  # [CLS] + 8 question tokens + [SEP]
    assert data.inspect_features(examples, tiny_tokenizer, cfg)["questions_truncated"] == 1


def test_features_are_cached_and_keyed_on_settings(tmp_path, tiny_tokenizer, monkeypatch, private_cache) -> None:
    examples = data.load_examples("sample:dev", max_samples=20)
    first = data.build_train_features(examples, tiny_tokenizer)
    cache_file = first.cache_files[0]["filename"]
    assert cache_file.startswith(str(private_cache / "albertzero" / "features"))

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("features were rebuilt instead of read from the cache")

    monkeypatch.setattr(features, "_tokenize", no_tokenizing)
    again = data.build_train_features(data.load_examples("sample:dev", max_samples=20), tiny_tokenizer)
    assert again.cache_files[0]["filename"] == cache_file and again[:] == first[:]
    with pytest.raises(AssertionError, match="rebuilt"):
        data.build_train_features(examples, tiny_tokenizer, data.FeatureConfig(max_seq_length=128, doc_stride=32))


def test_feature_config_rejects_impossible_windows() -> None:
    with pytest.raises(ConfigError, match="doc_stride"):
        data.FeatureConfig(max_seq_length=64, doc_stride=64, max_query_length=16)


def test_recoverability_counts_exact_matches(tiny_tokenizer) -> None:
    examples = data.load_examples("sample:dev")
    report = data.answer_recoverability(examples, tiny_tokenizer, data.FeatureConfig(128, 32, 32))
    assert report.answerable == sum(1 for g in data.gold_answers(examples).values() if g)
    assert report.recoverable + len(report.unrecoverable_ids) == report.answerable
    broken = examples.map(lambda row: {"answers": {"text": [t + "x" for t in row["answers"]["text"]],
                                                    "answer_start": row["answers"]["answer_start"]}})
    assert data.answer_recoverability(broken, tiny_tokenizer).recoverable == 0


# --- the real albert-base-v2 tokenizer on the real dev set -------------------------------------------------

@pytest.fixture(scope="module")
def real_dev(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("real-cache")))
        examples = data.load_examples(paths.SQUAD2_DEV, check_offsets=True)
        tokenizer = data.load_tokenizer(paths.ALBERT_BASE_DIR)
        yield examples, tokenizer, data.inspect_features(examples, tokenizer)


def test_real_dev_features_and_recoverability(real_dev) -> None:
    _, _, summary = real_dev
    assert (summary["examples"], summary["answerable"], summary["unanswerable"]) == (11873, 5928, 5945)
    # 12,155 windows measured with the stock tokenizer (12,171 with match_original_albert=True).
    assert 12_100 <= summary["features"] <= 12_250 and summary["features_per_example_max"] >= 2
    # 5,926 of 5,928 measured: the other two are answers that end inside one token ("Japan" of "▁japanese").
    assert summary["answerable_recoverable"] >= 0.999 * summary["answerable"]
    # Character-exact is stricter: "1936," is labelled for "1936" (an exact match, but not the same string).
    assert summary["answerable_exact_string"] < summary["answerable_recoverable"]


def test_opt_in_tokenizer_matches_original_sentencepiece_segmentation(real_dev) -> None:
    tokenizer = data.load_tokenizer(paths.ALBERT_BASE_DIR, match_original_albert=True)
    assert tokenizer.tokenize("In 1936, Gallo-Romance (Norman)") == [
        "▁in", "▁1936", ",", "▁gallo", "-", "roman", "ce", "▁", "(", "norman", ")"]
    plain = real_dev[1]
    assert plain.tokenize("In 1936, Gallo-Romance") != tokenizer.tokenize("In 1936, Gallo-Romance")
    data.match_original_albert_tokenization(tokenizer)  # idempotent
    assert tokenizer.tokenize("In 1936,") == ["▁in", "▁1936", ","]


def test_hub_rows_gain_empty_plausible_answers_and_are_validated(monkeypatch) -> None:
    rows = [{"id": "h1", "title": "Normans", "context": CONTEXT, "question": "Who?",
             "answers": {"text": ["The Normans"], "answer_start": [0]}},
            {"id": "h2", "title": "Normans", "context": CONTEXT, "question": "Who not?",
             "answers": {"text": [], "answer_start": []}}]
    requested = []

    def fake_hub(name, split):
        requested.append((name, split))
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    examples = data.load_examples("someone/squad_like", split="train", max_samples=1)
    assert requested == [("someone/squad_like", "train")] and examples.column_names == list(data.EXAMPLE_FEATURES)
    assert len(examples) == 1 and examples[0]["plausible_answers"] == {"text": [], "answer_start": []}
    rows[1]["answers"] = {"text": ["Normans"], "answer_start": [0]}
    with pytest.raises(DataError, match=r"someone/squad_like, article 'Normans', question h2: .*points at"):
        data.load_examples("someone/squad_like")
