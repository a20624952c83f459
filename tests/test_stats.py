"""Mean +- t-interval (scipy's t quantiles against table values), paired summaries, gain table, conclusion."""
from __future__ import annotations

import math

import pytest

from albertzero_utils.stats import (
    conclusion,
    gain_table,
    mean_ci,
    summarize_aligned,
    t_quantile,
)

# Two-sided 95% critical values t_{0.975, df} to 17 digits (40-digit mpmath; df 1 and 2 have closed forms:
# tan(0.475 pi) and 0.95 / sqrt(0.04875)). The hand-written CDF inversion this replaces was off from the
# 12th digit on.
T_975 = {1: 12.706204736174705, 2: 4.3026527297494639, 4: 2.7764451051977944, 30: 2.0422724563012383}


@pytest.mark.parametrize("df", sorted(T_975))
def test_intervals_use_the_exact_t_quantiles(df: int) -> None:
    # n = df + 1 values spaced 1 apart around 0: the half-width is t * std / sqrt(n).
    values = [i - df / 2 for i in range(df + 1)]
    ci = mean_ci(values)
    half = T_975[df] * math.sqrt((df + 1) * (df + 2) / 12) / math.sqrt(df + 1)
    assert ci.mean == pytest.approx(0.0, abs=1e-15)
    assert ci.ci_high == pytest.approx(half, rel=1e-13) and ci.ci_low == pytest.approx(-half, rel=1e-13)


def test_t_quantile_is_exact_and_symmetric() -> None:
    for df, expected in T_975.items():
        assert t_quantile(0.975, df) == pytest.approx(expected, rel=1e-13)
        assert t_quantile(0.025, df) == pytest.approx(-expected, rel=1e-13)
    for bad_p, bad_df in ((0.0, 3), (1.0, 3), (0.5, 0)):
        with pytest.raises(ValueError):
            t_quantile(bad_p, bad_df)


def test_mean_ci_by_hand() -> None:
    # mean 4, std 2, half-width = t_{0.975,2} * 2 / sqrt(3)
    ci = mean_ci([2.0, 4.0, 6.0])
    half = T_975[2] * 2.0 / math.sqrt(3)
    assert (ci.n, ci.mean, ci.std) == (3, 4.0, pytest.approx(2.0))
    assert (ci.ci_low, ci.ci_high) == (pytest.approx(4.0 - half, rel=1e-13), pytest.approx(4.0 + half, rel=1e-13))
    # n = 2: std sqrt(2), half-width t_{0.975,1} * sqrt(2) / sqrt(2) = t_{0.975,1}
    assert mean_ci([1.0, 3.0]).ci_high == pytest.approx(2.0 + T_975[1], rel=1e-13)
    assert mean_ci([1.0, 3.0], confidence=0.5).ci_high == pytest.approx(3.0)  # t_{0.75,1} = 1
    assert mean_ci([1.0, 3.0], confidence=0.9).ci_high == pytest.approx(2.0 + 6.313751514675043, rel=1e-13)
    same = mean_ci([5.0, 5.0, 5.0])
    assert (same.std, same.ci_low, same.ci_high) == (0.0, 5.0, 5.0)  # no spread: a zero-width interval


def test_mean_ci_is_undefined_below_two_values_and_ignores_missing() -> None:
    one = mean_ci([5.0, None, float("nan")])
    assert (one.n, one.mean, one.std, one.ci_low, one.ci_high) == (1, 5.0, None, None, None)
    assert mean_ci([]).mean is None
    for bad in (0.0, 1.0, 95):
        with pytest.raises(ValueError, match="confidence"):
            mean_ci([1.0, 2.0], confidence=bad)


def _runs(f1: dict[str, dict[int, list[float]]], steps: list[int]) -> dict:
    """runs[arm][seed][step] records from per-arm, per-seed F1 curves (train_loss = 3 - F1/50)."""
    return {arm: {seed: {step: {"step": step, "examples_seen": 8 * step, "f1": value, "train_loss": 3 - value / 50}
                         for step, value in zip(steps, curve, strict=True)}
                  for seed, curve in by_seed.items()}
            for arm, by_seed in f1.items()}


def _summary(f1: dict[str, dict[int, list[float]]], steps: list[int], early: list[int]) -> dict:
    seeds = sorted(next(iter(f1.values())))
    aligned = summarize_aligned(_runs(f1, steps), baseline="baseline", steps=steps, early_steps=early,
                                metrics=["f1", "train_loss"])
    return {"baseline": "baseline", "arms": list(f1), "seeds": seeds, "n_seeds": len(seeds), "confidence": 0.95,
            "final_step": steps[-1], "early_window": {"steps": early, "fraction": 0.25}, **aligned}


STEPS = [0, 10, 20, 100]


def test_paired_gains_early_window_and_final_point_by_hand() -> None:
    summary = _summary({
        "baseline": {0: [10, 20, 30, 70], 1: [20, 30, 40, 80], 2: [30, 40, 50, 90]},
        "reinit":   {0: [10, 21, 33, 70], 1: [20, 31.5, 42.5, 81], 2: [30, 42, 54, 89]},
    }, STEPS, early=[10, 20])
    # Early gain per seed = mean over steps 10 and 20: seed0 (1+3)/2=2, seed1 (1.5+2.5)/2=2, seed2 (2+4)/2=3.
    early = summary["early_gain"]["reinit"]["f1"]
    assert early["per_seed"] == pytest.approx([2.0, 2.0, 3.0])
    std = math.sqrt(((2 - 7 / 3) ** 2 * 2 + (3 - 7 / 3) ** 2) / 2)
    assert early["mean"] == pytest.approx(7 / 3)
    assert early["ci_low"] == pytest.approx(7 / 3 - T_975[2] * std / math.sqrt(3))
    final = summary["last_point_gain"]["reinit"]["f1"]
    assert final["per_seed"] == pytest.approx([0.0, 1.0, -1.0]) and final["mean"] == pytest.approx(0.0)
    rows = gain_table(summary)
    assert [r["step"] for r in rows] == STEPS and [r["early"] for r in rows] == [False, True, True, False]
    assert rows[1]["baseline_mean"] == pytest.approx(30) and rows[1]["arm_mean"] == pytest.approx(31.5)
    assert rows[1]["gain_mean"] == pytest.approx(1.5) and rows[1]["n"] == 3


def test_conclusion_calls_a_gain_significant_only_when_its_ci_excludes_zero() -> None:
    summary = _summary({
        "baseline": {0: [10, 20, 30, 70], 1: [20, 30, 40, 80], 2: [30, 40, 50, 90]},
        "reinit":   {0: [10, 22, 32, 70], 1: [20, 32.2, 42.1, 81], 2: [30, 41.9, 52.2, 89]},
    }, STEPS, early=[10, 20])
    text = conclusion(summary)
    early_part, final_part = text.split(" over the early window")
    assert text.startswith("With 3 seeds")
    assert "excludes 0: an improvement significant against 0 at the 5% level" in early_part
    assert "(not a test of the claimed gain)" in early_part  # "significant" never stands alone
    assert "a true gain of 0 also gives in 5% of comparisons" in early_part  # never called proof
    assert "includes 0" in final_part and "significant" not in final_part
    assert "+2.07 points" in early_part  # (2.0 + 2.15 + 2.05) / 3, computed by hand


def test_conclusion_judges_a_loss_by_its_direction() -> None:
    summary = _summary({
        "baseline": {0: [10, 20, 30, 70], 1: [20, 30, 40, 80], 2: [30, 40, 50, 90]},
        "reinit":   {0: [10, 22, 32, 72], 1: [20, 32.2, 42.1, 82.3], 2: [30, 41.9, 52.2, 91.8]},
    }, STEPS, early=[10, 20])
    # Higher F1 means lower train_loss here (3 - F1/50): the loss difference is negative, an improvement.
    assert "an improvement significant against 0" in conclusion(summary, metric="train_loss")
    assert "points" not in conclusion(summary, metric="train_loss")


def test_conclusion_with_one_seed_claims_nothing() -> None:
    summary = _summary({"baseline": {0: [10, 20, 30, 70]}, "reinit": {0: [10, 25, 36, 75]}}, STEPS, early=[10, 20])
    text = conclusion(summary)
    assert text.startswith("With 1 seed") and "cannot support any claim" in text
    assert "real" not in text and "CI" not in text
    assert summary["early_gain"]["reinit"]["f1"]["ci_low"] is None
    assert summary["points"][1]["gains"]["reinit"]["f1"]["mean"] == pytest.approx(5.0)


def test_conclusion_calls_a_zero_spread_gain_identical_not_includes_zero() -> None:
    # Both arms score the same on every seed (as NoAns F1 = 0 for a model that never abstains): the interval has
    # zero width, and "the CI includes 0" would wrongly suggest an interval was judged.
    summary = _summary({"baseline": {0: [0, 0, 0, 0], 1: [0, 0, 0, 0], 2: [0, 0, 0, 0]},
                        "reinit": {0: [0, 0, 0, 0], 1: [0, 0, 0, 0], 2: [0, 0, 0, 0]}}, STEPS, early=[10, 20])
    text = conclusion(summary)
    assert "identical on every seed" in text and "includes 0" not in text
