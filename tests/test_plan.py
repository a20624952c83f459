"""The pre-registered plan: window in epochs ending on an evaluation point, comparison.json, --plan-only,
post hoc labelling and the co-primary summary (with the abstention rate)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from albertzero_utils.cli import main
from albertzero_utils.early_gain import power, power_table, seeds_needed
from albertzero_utils.errors import ConfigError
from albertzero_utils.evaluation import eval_schedule
from albertzero_utils.experiment import parse_arms
from albertzero_utils.plan import build_plan, config_sha256, read_plan, register
from albertzero_utils.profiles import resolve, window_end_step
from albertzero_utils.results import early_window, summarize


@pytest.mark.parametrize("steps_per_epoch, epochs", [(39, 0.4), (4170, 1.0), (2780, 1.0), (7, 0.25), (100, 2.5),
                                                     (1, 1.0)])
def test_the_window_ends_on_an_evaluation_point_for_every_step_total(steps_per_epoch, epochs) -> None:
    for total in range(1, 5001):
        end = window_end_step(epochs, steps_per_epoch, total)
        assert 1 <= end <= total and end == min(total, max(1, int(epochs * steps_per_epoch + 0.5)))
        schedule = eval_schedule(total, window_steps=end, early_count=6, late_count=8)
        assert schedule[0] == 0 and schedule[-1] == total and schedule == sorted(set(schedule))
        early, definition = early_window(schedule, end)
        assert early[-1] == end and "not an evaluation point" not in definition, (total, end)


def test_the_schedule_with_an_interval_also_evaluates_the_window_end() -> None:
    assert eval_schedule(100, window_steps=33, interval=25) == [0, 25, 33, 50, 75, 100]


def test_power_has_one_definition_behind_the_table_and_the_seed_count() -> None:
    rows = power_table(5, (0.5, 1.0, 2.0), 2.0)
    assert [r["power"] for r in rows] == [power(5, sd, 2.0) for sd in (0.5, 1.0, 2.0)]
    assert rows[1]["power"] == pytest.approx(0.91, abs=0.01) and rows[2]["power"] == pytest.approx(0.40, abs=0.01)
    assert [r["seeds_needed"] for r in rows] == [seeds_needed(sd, 2.0) for sd in (0.5, 1.0, 2.0)] == [3, 5, 10]
    assert power(seeds_needed(2.0), 2.0) >= 0.8 > power(seeds_needed(2.0) - 1, 2.0)


def test_compare_plan_only_writes_the_plan_and_trains_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", "--profile", "colab", "--plan-only", "--output-dir", str(out)]) == 0  # no GPU, no Hub
    printed = capsys.readouterr().out
    assert not any(out.glob("*/seed-*"))  # no run started
    stored = json.loads((out / "comparison.json").read_text())
    plan = stored["plan"]
    assert stored["seeds"] == plan["seeds"] == [0, 1, 2, 3, 4] and [a["name"] for a in stored["arms"]] == [
        "baseline", "reinit"]
    assert plan["primary_metrics"] == ["f1", "best_f1"] and plan["reference_values"] == [0.0, 2.0]
    assert plan["confidence"] == 0.95 and plan["early_window_epochs"] == 1.0
    assert plan["config_sha256"] == config_sha256(resolve("colab", overrides={"seeds": (0, 1, 2, 3, 4)}))
    assert plan["settings"]["learning_rate"] == 3e-5 and plan["settings"]["profile"] == "colab"
    window = plan["early_window"]  # 130,319 questions x 12,155/11,873 windows, at batch 32
    assert window["train_windows_per_epoch"] == round(130_319 * 12_155 / 11_873)
    assert window["end_step"] == window["total_steps"] == window["steps_per_epoch"] == 4170
    assert window["examples"] == 4170 * 32 and "130,319 questions" in window["source"]
    assert [r["paired_sd"] for r in plan["power"]["rows"]] == [0.5, 1.0, 2.0]
    for text in ("steps 1-4170 of 4170", "133,440 training windows", "paired SD 1 points: power 0.91",
                 "ESTIMATE (not measured)", "T4 fp16", "f1 and best_f1"):
        assert text in printed, text


def test_plan_only_on_smoke_counts_the_windows(tmp_path: Path, capsys) -> None:
    assert main(["compare", "--profile", "smoke", "--plan-only", "--output-dir", str(tmp_path)]) == 0
    window = read_plan(tmp_path)["early_window"]
    assert (window["train_windows_per_epoch"], window["steps_per_epoch"], window["end_step"]) == (616, 39, 16)
    assert window["source"].startswith("counted") and "GPU time: no estimate" in capsys.readouterr().out


def test_a_registered_plan_cannot_change_once_a_run_started(tmp_path: Path) -> None:
    arms = parse_arms("baseline,reinit")
    first = register(tmp_path, build_plan(resolve("smoke"), arms, [0, 1]), runs_started=False)
    again = register(tmp_path, build_plan(resolve("smoke"), arms, [0, 1, 2]), runs_started=True)
    assert again["registered_at"] == first["registered_at"] and again["seeds"] == [0, 1]  # the plan stays
    assert json.loads((tmp_path / "comparison.json").read_text())["seeds"] == [0, 1, 2]  # seeds added later
    changed = build_plan(resolve("smoke", overrides={"early_window_epochs": 1.0}), arms, [0, 1])
    with pytest.raises(ConfigError, match="pre-registered plan has early_window_epochs=0.4"):
        register(tmp_path, changed, runs_started=True)
    assert register(tmp_path, changed, runs_started=False)["early_window_epochs"] == 1.0  # no run yet: allowed


def _write_runs(root: Path, gains: dict[str, list[float]], abstain: float) -> None:
    """Three seeds; reinit adds gains[metric][seed] to f1 / best_f1 after step 0; 10 steps per epoch."""
    for arm in ("baseline", "reinit"):
        for seed in range(3):
            run = root / arm / f"seed-{seed}"
            run.mkdir(parents=True)
            records = []
            for step in (0, 5, 10, 20, 30):
                extra = {m: (g[seed] if arm == "reinit" and step else 0.0) for m, g in gains.items()}
                records.append({"step": step, "examples_seen": 8 * step, "f1": 40.0 + seed + extra["f1"],
                                "best_f1": 50.0 + seed + extra["best_f1"], "HasAns_span_f1": 30.0 + step,
                                "abstain_rate": abstain if arm == "baseline" else 100 - abstain, "train_loss": 1.0})
            (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
            (run / "config.json").write_text(json.dumps({"steps_per_epoch": 10, "early_window_epochs": 1.0}))
            (run / "done.json").write_text("{}")


def _plan(root: Path) -> None:
    cfg = resolve("smoke", overrides={"headline_metric": "f1", "coprimary_metric": "best_f1",
                                      "early_window_epochs": 1.0})
    register(root, build_plan(cfg, parse_arms("baseline,reinit"), [0, 1, 2]), runs_started=False)


def test_summary_calls_each_coprimary_metric_and_their_agreement(tmp_path: Path) -> None:
    agree, disagree = tmp_path / "agree", tmp_path / "disagree"
    _write_runs(agree, {"f1": [1.9, 2.0, 2.1], "best_f1": [1.8, 2.0, 2.2]}, abstain=0.0)
    _write_runs(disagree, {"f1": [1.9, 2.0, 2.1], "best_f1": [-0.1, 0.0, 0.1]}, abstain=0.0)
    for root in (agree, disagree):
        _plan(root)
    summary = summarize(agree)
    verdict = summary["verdict"]
    assert verdict["pre_registered"] and verdict["primary_metrics"] == ["f1", "best_f1"]
    assert summary["early_window"]["steps"] == [5, 10] and summary["early_window"]["end_step"] == 10
    assert {m: c["call"] for m, c in verdict["calls"].items()} == {"f1": "claim-supported", "best_f1": "claim-supported"}
    assert verdict["call"] == "claim-supported" and verdict["reference_values"] == [0.0, 2.0]
    f1 = verdict["calls"]["f1"]
    assert f1["mean"] == pytest.approx(2.0) and f1["low"] < 2.0 < f1["high"] and f1["n"] == 3
    assert verdict["diagnostics"]["HasAns_span_f1"]["decides"] is False
    assert "f1: the paired gain" in verdict["text"] and "Overall call: claim-supported" in verdict["text"]
    split = summarize(disagree)["verdict"]
    assert split["calls"]["best_f1"]["call"] == "claim-ruled-out" and split["call"] == "inconclusive"
    assert "disagree" in split["reason"] and "the power line asks for" in split["text"]
    json.dumps(summary, allow_nan=False)


def test_summary_shows_the_abstention_rate_per_arm(tmp_path: Path) -> None:
    _write_runs(tmp_path, {"f1": [1.0, 2.0, 3.0], "best_f1": [1.0, 2.0, 3.0]}, abstain=100.0)
    _plan(tmp_path)
    summary = summarize(tmp_path)
    arms = summary["abstention"]["arms"]
    assert arms["baseline"]["window_mean"] == 100.0 and arms["reinit"]["max"] == 0.0
    assert summary["points"][1]["arms"]["baseline"]["abstain_rate"]["mean"] == 100.0
    assert "percent" in summary["abstention"]["unit"]


def test_a_post_hoc_metric_is_labelled_and_the_planned_call_stands(tmp_path: Path) -> None:
    _write_runs(tmp_path, {"f1": [1.9, 2.0, 2.1], "best_f1": [1.8, 2.0, 2.2]}, abstain=0.0)
    _plan(tmp_path)
    later = summarize(tmp_path, metrics=["HasAns_span_f1"])
    assert later["verdict"]["call"] == "claim-supported"  # pre-registered
    assert later["post_hoc"]["call"] == "claim-ruled-out" and later["post_hoc"]["label"] == "post hoc"
    assert "POST HOC" in later["verdict"]["text"] and "the pre-registered call stands" in later["verdict"]["text"]
    assert summarize(tmp_path, metrics=["f1", "best_f1"], early_window_epochs=1.0)["post_hoc"] is None  # = plan


def test_the_config_hash_does_not_depend_on_where_the_repository_lies(monkeypatch, tmp_path) -> None:
    """A clone in another folder registers the same plan: paths into the committed data/ are hashed as <data>."""
    import dataclasses as dc

    from albertzero_utils import paths, plan
    from albertzero_utils.profiles import resolve

    cfg = resolve("smoke")
    here = plan.config_sha256(cfg)
    moved = tmp_path / "clone" / "data"
    elsewhere = dc.replace(cfg, model=str(cfg.model).replace(str(paths.DATA_DIR), str(moved)))
    monkeypatch.setattr(paths, "DATA_DIR", moved)
    assert plan.config_sha256(elsewhere) == here
    assert plan.config_sha256(dc.replace(elsewhere, learning_rate=cfg.learning_rate * 2)) != here
