"""Notebook views: text tables, highlighted examples, counts, and windows placed on a context's tokens."""
from __future__ import annotations

import json

import datasets
import pytest

from albertzero_utils import display, paths
from albertzero_utils.data import load_examples, load_tokenizer
from albertzero_utils.evaluation import eval_schedule
from albertzero_utils.features import FeatureConfig


def example(context: str, answer: str | None, plausible: str | None = None, **extra: str) -> dict:
    def spans(text: str | None) -> dict:
        return {"text": [text], "answer_start": [context.index(text)]} if text else {"text": [], "answer_start": []}

    return {"id": "q1", "title": "T", "question": "Who?", "context": context, "answers": spans(answer),
            "plausible_answers": spans(plausible), **extra}


def test_format_table_aligns_numbers_right_and_applies_formats() -> None:
    rows = [{"model": "bert", "params": 109482240, "ratio": 1 / 3, "note": None},
            {"model": "albert-xxlarge", "params": 5, "ratio": 2.0, "note": "x"}]
    lines = display.format_table(rows, formats={"params": ",d"}).splitlines()
    assert lines[0].split() == ["model", "params", "ratio", "note"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["bert", "109,482,240", "0.3333", "-"]
    assert lines[3].split() == ["albert-xxlarge", "5", "2", "x"]
    assert lines[2].index("109,482,240") + len("109,482,240") == lines[3].index(" 5") + 2  # right-aligned
    assert display.format_table(rows, columns=["params"]).splitlines()[2].strip() == "109482240"
    assert display.format_table(rows, columns=["model"], max_width=6).splitlines()[3] == "alber…"


def test_render_example_marks_the_gold_answer_and_escapes_html() -> None:
    view = display.render_example(example("Tom & Jerry met <Spike> in 1940.", "<Spike>"))
    assert "Tom & Jerry met [[<Spike>]] in 1940." in view.text
    assert "answerable" in view.text.splitlines()[0]
    assert "&amp; Jerry met <mark" in view.html and "&lt;Spike&gt;</mark> in 1940." in view.html
    assert view._repr_html_() == view.html and repr(view) == view.text


def test_render_example_marks_the_plausible_answer_of_an_unanswerable_question() -> None:
    view = display.render_example(example("Paris is in France.", None, plausible="France"))
    assert "Paris is in <<France>>." in view.text and "unanswerable" in view.text
    assert "plausible (wrong) answer: France" in view.text
    bare = display.render_example(example("Paris is in France.", None))
    assert "Paris is in France." in bare.text and "<<" not in bare.text and "(none given)" in bare.text


@pytest.mark.parametrize("answer", ["alpha", "omega"])
def test_render_example_excerpt_keeps_the_answer_within_max_chars(answer: str) -> None:
    context = "alpha " + "filler " * 200 + "omega"
    view = display.render_example(example(context, answer), max_chars=60)
    body = view.text.splitlines()[-1]
    assert f"[[{answer}]]" in body
    assert len(body.replace("[[", "").replace("]]", "").strip("…")) == 60
    assert body.startswith("…") != (answer == "alpha") and body.endswith("…") != (answer == "omega")


def test_squad_counts_match_the_raw_sample_file() -> None:
    raw = json.loads(paths.SAMPLE_DEV.read_text(encoding="utf-8"))
    qas = [qa for article in raw["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    counts = display.squad_counts(load_examples("sample:dev"))
    assert counts["articles"] == len(raw["data"])
    assert counts["paragraphs"] == sum(len(article["paragraphs"]) for article in raw["data"])
    assert counts["questions"] == len(qas)
    assert counts["unanswerable"] == sum(qa["is_impossible"] for qa in qas)
    assert counts["answerable"] + counts["unanswerable"] == len(qas)
    assert counts["unanswerable_with_plausible_answer"] == sum(
        bool(qa["is_impossible"] and qa.get("plausible_answers")) for qa in qas)


def test_paired_questions_picks_the_longest_shared_context_and_the_latest_answer() -> None:
    short, long = "a b c", "one two three four five"
    rows = [example(short, "a", id="s1"), example(short, None, id="s2"),
            example(long, "two", id="l1"), example(long, "four", id="l2"), example(long, None, id="l3"),
            example(long + " six seven", "six", id="only-answerable")]
    assert display.paired_questions(datasets.Dataset.from_list(rows)) == (3, 4)
    with pytest.raises(ValueError):
        display.paired_questions(datasets.Dataset.from_list(rows[2:4]))


@pytest.fixture(scope="module")
def long_example() -> dict:
    examples = load_examples("sample:dev")
    index = max(range(len(examples)), key=lambda i: (len(examples[i]["context"]), bool(examples[i]["answers"]["text"])))
    return examples[index]


def test_context_windows_cover_the_context_with_stride_overlaps(long_example: dict) -> None:
    tokenizer = load_tokenizer(paths.TINY_MODEL_DIR)
    cfg = FeatureConfig(max_seq_length=64, doc_stride=16, max_query_length=24)
    layout = display.context_windows(long_example, tokenizer, cfg)
    windows = layout.windows
    assert len(windows) >= 3
    assert datasets.is_caching_enabled()  # restored after the in-memory build
    assert windows[0]["first_token"] == 0 and windows[-1]["last_token"] == layout.num_context_tokens - 1
    for before, after in zip(windows, windows[1:]):
        assert before["last_token"] - after["first_token"] + 1 == cfg.doc_stride
    first, last = layout.answer_tokens
    for window in windows:
        covers = window["first_token"] <= first and last <= window["last_token"]
        assert window["contains_answer"] == covers == (window["is_impossible"] == 0)
        if covers:
            assert window["end_position"] - window["start_position"] == last - first
        else:
            assert window["start_position"] == window["end_position"] == 0


def test_context_windows_of_an_unanswerable_question_are_all_impossible(long_example: dict) -> None:
    tokenizer = load_tokenizer(paths.TINY_MODEL_DIR)
    question = {**long_example, "answers": {"text": [], "answer_start": []}}
    layout = display.context_windows(question, tokenizer, FeatureConfig(max_seq_length=64, doc_stride=16,
                                                                        max_query_length=24))
    assert layout.answer_tokens is None
    assert all(w["is_impossible"] == 1 and w["start_position"] == 0 for w in layout.windows)


def test_the_window_plot_draws_one_bar_per_window() -> None:
    import matplotlib

    matplotlib.use("Agg")
    layout = display.WindowLayout([{"window": 0, "first_token": 0, "last_token": 9, "contains_answer": False},
                                   {"window": 1, "first_token": 6, "last_token": 14, "contains_answer": True}],
                                  15, (11, 12))
    fig = display.plot_windows(layout, title="w")
    ax = fig.axes[0]
    assert [p.get_x() for p in ax.patches[:2]] == [0, 6] and ax.get_title() == "w"
    assert ax.get_xlabel().endswith("(tokens)")
    matplotlib.pyplot.close("all")


# ------------------------------------------------------------------------- chapters 03-05 (re-init, CLI)
def test_parameter_changes_flags_exactly_the_redrawn_tensors() -> None:
    import torch

    from albertzero_utils.modeling import load_qa_model
    from albertzero_utils.reinit import reinit_layers

    model = load_qa_model(paths.TINY_MODEL_DIR, seed=0)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    redrawn = reinit_layers(model, "ffn_output", seed=1)
    rows = display.parameter_changes(before, model.state_dict())
    assert [row["name"] for row in rows] == list(before)
    changed = [row["name"] for row in rows if row["changed"]]
    assert changed == [name for name in redrawn if name.endswith("weight")]  # a fresh bias is 0 before and after
    bias = next(row for row in rows if row["name"].endswith("ffn_output.bias"))
    assert bias["std_after"] == 0.0 and bias["shape"] == "128"
    weight = next(row for row in rows if row["name"].endswith("ffn_output.weight"))
    assert weight["shape"] == "128x512" and abs(weight["std_after"] - 0.02) < 0.001
    scalar = display.parameter_changes({"s": torch.tensor([1.0])}, {"s": torch.tensor([2.0])})
    assert scalar == [{"name": "s", "shape": "1", "changed": True, "std_before": None, "std_after": None}]
    with pytest.raises(ValueError, match="shape"):
        display.parameter_changes({"w": torch.zeros(2)}, {"w": torch.zeros(3)})
    with pytest.raises(ValueError, match="names"):
        display.parameter_changes({"w": torch.zeros(2)}, {"v": torch.zeros(2)})


def test_run_cli_returns_stdout_and_raises_with_the_error_line(tmp_path) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"version": "v2.0", "data": [{"title": "T", "paragraphs": [{
        "context": "Ada wrote code.", "qas": [{"id": "q1", "question": "Who?", "is_impossible": False,
                                               "answers": [{"text": "Ada", "answer_start": 0}]}]}]}]}))
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({"q1": "Ada"}))
    scores = json.loads(display.run_cli(["albertzero", "evaluate", str(data), str(preds)]))
    assert scores["exact"] == 100.0 and scores["total"] == 1
    with pytest.raises(RuntimeError, match="albertzero evaluate exited with 2: .*missing.json"):
        display.run_cli(["albertzero", "evaluate", str(data), str(tmp_path / "missing.json")])
    with pytest.raises(ValueError, match="albertzero"):
        display.run_cli(["python", "-c", "print(1)"])


def test_run_cost_counts_steps_evaluations_and_flops() -> None:
    from albertzero_utils.profiles import resolve

    colab = display.run_cost(resolve("colab"), train_windows=1000, eval_questions=500, windows_per_question=1.5,
                             flops_per_token=2.0)
    assert colab["steps"] == 32 and colab["train_windows"] == 32 * 32  # 63 batches of 16, 2 per step
    assert colab["eval_questions_each"] == 500 and not colab["final_full_eval"]  # 500 < the 2,000 subset
    assert colab["eval_windows"] == round(colab["evaluations"] * 500 * 1.5)
    assert colab["flops"] == (3 * 32 * 32 + colab["eval_windows"]) * 384 * 2.0
    subset = display.run_cost(resolve("colab"), 1000, 5000, 1.0, 1.0)
    assert subset["eval_questions_each"] == 2000 and subset["final_full_eval"]
    assert subset["eval_windows"] == subset["evaluations"] * 2000 + 5000
    short = display.run_cost(resolve("smoke", overrides={"max_steps": 8}), 925, 212, 1.3, 1.0)
    cfg = resolve("smoke", overrides={"max_steps": 8})
    # 925 windows are 58 steps per epoch: the 0.4-epoch window (23 steps) is cut to the run's 8 steps
    assert short["steps"] == 8 and short["evaluations"] == len(eval_schedule(
        8, window_steps=8, early_count=cfg.eval_early_count, late_count=cfg.eval_late_count)) == 6


def test_run_cost_counts_the_real_tokens_of_dynamically_padded_windows() -> None:
    from albertzero_utils.profiles import resolve

    padded = display.run_cost(resolve("colab"), 1000, 500, 1.5, 2.0)
    dynamic = display.run_cost(resolve("colab"), 1000, 500, 1.5, 2.0, tokens_per_window=181)
    assert padded["tokens_per_window"] == 384 and dynamic["tokens_per_window"] == 181
    assert dynamic["flops"] == pytest.approx(padded["flops"] * 181 / 384)
