"""Small-sample statistics: mean +- Student-t interval, paired gains, gain tables and the verdict sentence.

The t quantiles come from ``scipy.stats.t`` (exact to machine precision); the rest is arithmetic on a
handful of seeds.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def t_quantile(p: float, df: float) -> float:
    """The t value with P(T <= t) = p for Student's t with ``df`` degrees of freedom (``scipy.stats.t``)."""
    from scipy import stats as scipy_stats  # a heavy import: only when an interval is computed

    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"need 0 < p < 1 and df > 0, got p={p}, df={df}")
    return float(scipy_stats.t.ppf(p, df))


@dataclass(frozen=True)
class MeanCI:
    """Mean of a small sample with its sample std (ddof=1) and two-sided t-interval.

    With fewer than two values the std and the interval are undefined and stay ``None``: no fake interval.
    """

    n: int
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def mean_ci(values: Iterable[float | None], confidence: float = 0.95) -> MeanCI:
    """Mean, std (ddof=1) and `confidence` t-interval (n-1 df) of the non-missing, finite values."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    sample = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(sample)
    if n == 0:
        return MeanCI(0, None, None, None, None)
    mean = math.fsum(sample) / n
    if n == 1:
        return MeanCI(1, mean, None, None, None)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in sample) / (n - 1))
    half_width = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    return MeanCI(n, mean, std, mean - half_width, mean + half_width)


# ------------------------------------------------------------------ paired comparison of training curves

#: runs[arm][seed][step] -> one evaluation record (metric name -> value, None when missing).
Runs = Mapping[str, Mapping[int, Mapping[int, Mapping[str, Any]]]]


def _value(record: Mapping[str, Any], metric: str) -> float | None:
    value = record.get(metric)
    return None if value is None else float(value)


def _paired_gains(runs: Runs, arm: str, baseline: str, step: int, metric: str) -> list[float | None]:
    """arm - baseline at `step`, one value per seed of the baseline (None where either is missing)."""
    gains: list[float | None] = []
    for seed, base_curve in runs[baseline].items():
        a, b = _value(runs[arm][seed][step], metric), _value(base_curve[step], metric)
        gains.append(None if a is None or b is None else a - b)
    return gains


def _point_gain(runs: Runs, arm: str, baseline: str, step: int, metric: str,
                confidence: float) -> dict[str, Any]:
    """The paired gain at one evaluation point: t-interval across seeds, with the per-seed values.

    Step 0 (the models as initialised) is the initial-model reference: it has no gain (all null)."""
    per_seed = _paired_gains(runs, arm, baseline, step, metric) if step > 0 else []
    return {**mean_ci(per_seed, confidence).as_dict(), "per_seed": per_seed}


def _window_gain(runs: Runs, arm: str, baseline: str, steps: Sequence[int], metric: str,
                 confidence: float) -> dict[str, Any]:
    """Each seed's gain averaged over `steps`, then a t-interval across seeds."""
    per_seed_points = zip(*(_paired_gains(runs, arm, baseline, step, metric) for step in steps), strict=True)
    per_seed = [mean_ci(points).mean for points in per_seed_points]
    return {**mean_ci(per_seed, confidence).as_dict(), "per_seed": per_seed}


def summarize_aligned(runs: Runs, *, baseline: str, steps: Sequence[int], early_steps: Sequence[int],
                      metrics: Sequence[str], confidence: float = 0.95) -> dict[str, Any]:
    """Per-point mean/std/CI of each arm and paired gains (arm - baseline), plus the mean of the per-point
    gains over the early window and the gain at the last evaluation point (descriptive statistics).

    Every arm must hold the same seeds and every run every step in `steps` (align before calling).
    """
    others = [arm for arm in runs if arm != baseline]
    first_run = next(iter(runs[baseline].values()))
    points = []
    for step in steps:
        points.append({
            "step": step,
            "examples_seen": first_run[step].get("examples_seen"),
            "early": step in early_steps,
            "arms": {arm: {m: mean_ci((_value(curve[step], m) for curve in runs[arm].values()),
                                      confidence).as_dict() for m in metrics} for arm in runs},
            "gains": {arm: {m: _point_gain(runs, arm, baseline, step, m, confidence) for m in metrics}
                      for arm in others},
        })
    return {
        "points": points,
        "early_gain": {arm: {m: _window_gain(runs, arm, baseline, early_steps, m, confidence)
                             for m in metrics} for arm in others},
        "last_point_gain": {arm: {m: _window_gain(runs, arm, baseline, steps[-1:], m, confidence)
                             for m in metrics} for arm in others},
    }


def headline(summary: Mapping[str, Any]) -> str:
    """The metric a comparison is judged on (``f1`` for the real experiment)."""
    return str(summary.get("headline_metric", "f1"))


def gain_table(summary: Mapping[str, Any], metric: str | None = None, arm: str | None = None) -> list[dict[str, Any]]:
    """One row per evaluation point: baseline and arm means, the paired gain and its CI.

    `metric` defaults to the summary's headline metric, `arm` to its first non-baseline arm.
    """
    metric = metric or headline(summary)
    baseline = summary["baseline"]
    arm = arm or next(a for a in summary["arms"] if a != baseline)
    rows = []
    for point in summary["points"]:
        gain = point["gains"][arm][metric]
        rows.append({
            "arm": arm,
            "step": point["step"],
            "examples_seen": point["examples_seen"],
            "early": point["early"],
            "baseline_mean": point["arms"][baseline][metric]["mean"],
            "arm_mean": point["arms"][arm][metric]["mean"],
            "gain_mean": gain["mean"],
            "ci_low": gain["ci_low"],
            "ci_high": gain["ci_high"],
            "n": gain["n"],
        })
    return rows


def judge_gain(mean: float | None, low: float | None, high: float | None, confidence: float, *,
               unit: str = " points", higher_is_better: bool = True) -> str:
    """'+1.23 points (95% CI +0.40 to +2.06; excludes 0: ...)': the one wording of a paired gain and its
    interval against 0, in the descriptive sentences and in the verdict. An interval that excludes 0 is
    called significant against 0 only, never proof, and never support for the claimed gain (that is the
    verdict's call, :mod:`verdict`): with no true gain, 1 - `confidence` of all intervals exclude 0."""
    if mean is None:
        return "not measured"
    if low is None:
        return f"{mean:+.2f}{unit} (no interval with 1 seed: no claim is possible)"
    if low == high:  # zero spread: every seed gave the same difference
        return f"{mean:+.2f}{unit} (identical on every seed: zero spread, no interval to judge)"
    if low <= 0.0 <= high:
        call = "includes 0: not distinguishable from seed-to-seed noise"
    else:
        better = (low > 0) == higher_is_better
        level = f"{1 - confidence:.0%}"
        call = (f"excludes 0: {'an improvement' if better else 'a degradation'} significant against 0 at the "
                f"{level} level (not a test of the claimed gain), which a true gain of 0 also gives in {level} "
                "of comparisons")
    return f"{mean:+.2f}{unit} ({confidence:.0%} CI {low:+.2f} to {high:+.2f}; {call})"


def conclusion(summary: Mapping[str, Any], metric: str | None = None) -> str:
    """A sentence per re-init arm, computed from the summary: seeds, early and final paired gain with CIs.

    A gain is only called significant against 0 when its interval excludes 0; one seed supports no claim at all.
    `metric` defaults to the summary's headline metric.
    """
    metric = metric or headline(summary)
    n, baseline, final_step = summary["n_seeds"], summary["baseline"], summary["final_step"]
    unit = "" if "loss" in metric else " points"
    higher_is_better = "loss" not in metric
    early_steps = summary["early_window"]["steps"]
    early_text = "the early window"
    if early_steps:
        first, last = early_steps[0], early_steps[-1]
        early_text += f" (step {first})" if first == last else f" (steps {first}-{last})"
    sentences = []
    for arm in (a for a in summary["arms"] if a != baseline):
        early, final = (judge_gain(gain["mean"], gain["ci_low"], gain["ci_high"], summary["confidence"], unit=unit,
                                   higher_is_better=higher_is_better)
                        for gain in (summary[key][arm][metric] for key in ("early_gain", "last_point_gain")))
        if n < 2:
            sentences.append(
                f"With 1 seed, {arm} minus {baseline} in {metric} was {early} over {early_text} and {final} "
                f"at the final step {final_step}; 1 seed cannot support any claim (no confidence interval exists).")
        else:
            sentences.append(
                f"With {n} seeds, the paired gain of {arm} over {baseline} in {metric} is {early} over "
                f"{early_text} (mean of the per-point gains), and {final} at the final step {final_step}; "
                f"these describe the curves, the verdict rests on the early-window AUC gain (early_gain.py).")
    return " ".join(sentences)
