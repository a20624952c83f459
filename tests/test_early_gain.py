"""The verdict statistics: early-window AUC gain (trapezoid over examples), final gain from done.json, power."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from albertzero_utils.early_gain import early_auc_gain, seeds_needed, window_area
from albertzero_utils.results import summarize

T_975_DF2 = 4.302652730


def test_window_area_is_the_trapezoid_mean_height_over_examples() -> None:
    # Uneven spacing: 0..100 at height 10 rising to 20 at 100, then flat to 300: area 1500 + 4000 over 300.
    assert window_area([0, 100, 300], [10, 20, 20]) == pytest.approx(5500 / 300)
    # Evenly spaced points agree with the plain trapezoid rule; one point is its own value.
    assert window_area([10, 20, 30], [1.0, 2.0, 6.0]) == pytest.approx((1.5 * 10 + 4 * 10) / 20)
    assert window_area([7], [3.0]) == 3.0


def _curve(values: dict[int, float]) -> dict[int, dict]:
    return {step: {"step": step, "examples_seen": 16 * step, "f1": value} for step, value in values.items()}


def test_early_auc_gain_is_paired_and_ignores_step_0() -> None:
    base = {0: _curve({0: 5.0, 10: 10.0, 20: 20.0}), 1: _curve({0: 50.0, 10: 30.0, 20: 40.0})}
    arm = {0: _curve({0: 99.0, 10: 12.0, 20: 22.0}), 1: _curve({0: 0.0, 10: 31.0, 20: 43.0})}
    gain = early_auc_gain({"baseline": base, "reinit": arm}, "reinit", "baseline", [0, 10, 20], "f1")
    assert gain["steps"] == [10, 20]  # the step-0 values (99 vs 5, 0 vs 50) change nothing
    assert gain["per_seed"] == pytest.approx([2.0, 2.0])  # seed 1: mean of 1 and 3 (trapezoid over 10..20)
    assert gain["mean"] == pytest.approx(2.0) and gain["std"] == 0.0 and gain["low"] == pytest.approx(2.0)


def test_seeds_needed_matches_the_textbook_sample_sizes() -> None:
    # One-sample (paired) t-test, two-sided alpha 0.05, power 0.8: effect size d = 1 needs 10, d = 0.5 needs 34.
    assert seeds_needed(2.0, target=2.0) == 10
    assert seeds_needed(4.0, target=2.0) == 34
    assert seeds_needed(None) is None and seeds_needed(0.0) == 2 and seeds_needed(1e6) is None


def test_seeds_needed_never_falls_as_the_spread_grows() -> None:
    # A large effect (target / std) puts the t distribution's lower tail where scipy's nct.cdf gives NaN;
    # read as "not powered", that once made SD 0.30 need 7 seeds while SD 0.5 needed 3.
    spreads = [0.05 * k for k in range(1, 61)]
    needed = [seeds_needed(std) for std in spreads]
    assert needed == sorted(needed) and needed[0] == 2
    assert seeds_needed(0.295) == 3 and seeds_needed(0.3) == 3  # power 0.999 at 3 seeds (Monte Carlo agrees)


def write_run(run: Path, f1_by_step: dict[int, float], final: dict) -> None:
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"headline_metric": "f1"}))
    records = [{"step": s, "examples_seen": 32 * s, "f1": f1, "train_loss": None if s == 0 else 1.0}
               for s, f1 in f1_by_step.items()]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run / "done.json").write_text(json.dumps(final))


def test_summary_holds_auc_gain_reference_final_gain_on_the_full_set_and_power(tmp_path: Path) -> None:
    steps = [0, 10, 20, 30, 40, 100, 160]  # early window: 0 < step <= 40
    for seed, (gain, final_gain) in enumerate([(1.0, 0.5), (2.0, 1.0), (3.0, 0.0)]):
        for arm, extra, final_extra in (("baseline", 0.0, 0.0), ("reinit", gain, final_gain)):
            curve = {s: 30.0 + s / 10 + seed + (extra if s else -20.0) for s in steps}
            write_run(tmp_path / arm / f"seed-{seed}", curve,
                      {"final_eval": "full", "final_metrics": {"f1": 60.0 + seed + final_extra}})
    summary = summarize(tmp_path)
    assert summary["early_window"]["steps"] == [10, 20, 30, 40]
    assert summary["initial_reference"]["arms"]["reinit"]["mean"] == pytest.approx(11.0)
    auc = summary["early_auc_gain"]
    half = T_975_DF2 * 1.0 / math.sqrt(3)  # per-seed AUC gains 1, 2, 3: mean 2, SD 1
    assert (auc["mean"], auc["low"], auc["high"]) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    final = summary["final_gain"]  # from done.json (the full eval set), not from the last metrics.jsonl point
    assert final["eval_set"] == "full" and final["per_seed"] == pytest.approx([0.5, 1.0, 0.0])
    assert summary["power"]["seeds_needed"] == seeds_needed(1.0) and summary["power"]["target_gain"] == 2.0
    assert summary["points"][0]["gains"]["reinit"]["f1"]["mean"] is None  # step 0: no gain
    text = summary["verdict"]["text"]
    assert "area under the f1 curve over the early window" in text
    assert "descriptive only" in text and "full eval set" in text
    # interval 2 +- 2.48 holds 0 and +2: inconclusive, and the sentence says how many seeds the power line asks
    assert summary["verdict"]["call"] == "inconclusive" and summary["verdict"]["calls"]["f1"]["call"] == "inconclusive"
    assert f"asks for {seeds_needed(1.0)} seeds" in text
    assert not summary["verdict"]["pre_registered"] and "NOT pre-registered" in text
    json.dumps(summary, allow_nan=False)


def test_final_gain_is_null_without_a_final_evaluation(tmp_path: Path) -> None:
    for arm in ("baseline", "reinit"):
        write_run(tmp_path / arm / "seed-0", {0: 1.0, 10: 2.0, 40: 3.0}, {})
    summary = summarize(tmp_path)
    assert summary["final_gain"] is None and summary["power"]["seeds_needed"] is None
    assert summary["early_auc_gain"]["low"] is None and "no claim" in summary["verdict"]["text"]
    assert summary["verdict"]["call"] == "inconclusive" and "fewer than 2 seeds" in summary["verdict"]["text"]


def test_verdict_calls_a_zero_spread_gain_identical_on_every_seed(tmp_path: Path) -> None:
    for seed in (0, 1, 2):  # both arms score the same on every seed: a zero-width interval at 0
        for arm in ("baseline", "reinit"):
            write_run(tmp_path / arm / f"seed-{seed}", {0: 1.0, 10: 2.0 + seed, 40: 3.0}, {})
    summary = summarize(tmp_path)
    text = summary["verdict"]["text"]
    assert "identical on every seed" in text and "includes 0" not in text
    assert summary["verdict"]["call"] == "claim-ruled-out"  # [0, 0] lies below +2 and does not exclude 0
