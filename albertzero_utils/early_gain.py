"""The verdict statistics of a comparison: the early-window AUC gain, the final gain and the power line.

Headline statistic: for each seed, the area under the headline-metric curve (F1 for the real experiment) over
the early window, by the trapezoid rule over *training examples seen* and divided by the window's width (so
it reads as the curve's mean height, in metric points, and uneven spacing cannot bias it); then the paired
difference re-init minus baseline, and a Student-t interval over seeds. The step-0 evaluation (the models as
initialised) is the reference for the initial model and belongs to no gain: the window starts at the first
evaluation after step 0. One statistic decided in advance carries the verdict; the gains at each evaluation
point are description (many comparisons, no correction).

Power line: from the observed standard deviation of the paired AUC gains, the number of seeds a two-sided
one-sample t-test at alpha = 0.05 needs to detect a +2 point gain with 80% power (noncentral t, scipy).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from scipy import integrate
from scipy import stats as scipy_stats

from .stats import judge_gain, mean_ci

#: The effect the power line is sized for, in metric points, and the test it assumes.
TARGET_GAIN = 2.0
ALPHA = 0.05
POWER = 0.80
MAX_SEEDS = 1000

#: runs[arm][seed][step] -> one metrics.jsonl record.
Runs = Mapping[str, Mapping[int, Mapping[int, Mapping[str, Any]]]]


def window_area(examples: Sequence[float], values: Sequence[float]) -> float:
    """Mean height of the curve ``values`` over ``examples``: trapezoid area / width (one point: its value)."""
    if len(examples) != len(values) or not values:
        raise ValueError("need as many values as x positions, and at least one")
    if len(values) == 1 or examples[-1] == examples[0]:
        return float(values[0])
    return float(integrate.trapezoid(values, examples)) / (examples[-1] - examples[0])


def _x(record: Mapping[str, Any]) -> float:
    """Training examples seen at an evaluation (the step when the run did not record them)."""
    seen = record.get("examples_seen")
    return float(record["step"] if seen is None else seen)


def seed_area(curve: Mapping[int, Mapping[str, Any]], steps: Sequence[int], metric: str) -> float | None:
    """One run's early-window area of `metric` (None when a value is missing)."""
    values = [curve[step].get(metric) for step in steps]
    if not steps or any(v is None for v in values):
        return None
    return window_area([_x(curve[step]) for step in steps], [float(v) for v in values])


def interval(per_seed: Sequence[float | None], confidence: float = 0.95) -> dict[str, Any]:
    """``{mean, low, high, n, std, per_seed}``: a t-interval over seeds (low/high null below 2 seeds)."""
    ci = mean_ci(per_seed, confidence)
    return {"mean": ci.mean, "low": ci.ci_low, "high": ci.ci_high, "n": ci.n, "std": ci.std,
            "per_seed": list(per_seed)}


def early_auc_gain(runs: Runs, arm: str, baseline: str, steps: Sequence[int], metric: str,
                   confidence: float = 0.95) -> dict[str, Any]:
    """Paired difference (arm - baseline) of the early-window areas, per seed, with its t-interval."""
    window = [s for s in steps if s > 0]  # step 0 is the initial-model reference, never part of a gain
    per_seed: list[float | None] = []
    for seed, base_curve in runs[baseline].items():
        a, b = seed_area(runs[arm][seed], window, metric), seed_area(base_curve, window, metric)
        per_seed.append(None if a is None or b is None else a - b)
    return {"arm": arm, "metric": metric, "steps": window, **interval(per_seed, confidence)}


def final_gain(finals: Mapping[str, Mapping[int, Mapping[str, Any]]], arm: str, baseline: str, metric: str,
               confidence: float = 0.95) -> dict[str, Any] | None:
    """Paired gain on each run's final evaluation (done.json), or None when a run has none.

    ``finals[arm][seed]`` is a run's done.json; ``eval_set`` says whether every final evaluation used the
    full eval set (colab, paper) or the periodic subset.
    """
    per_seed: list[float | None] = []
    used = set()
    for seed, base_done in finals[baseline].items():
        arm_done = finals[arm][seed]
        a, b = (done.get("final_metrics", {}).get(metric) for done in (arm_done, base_done))
        if a is None or b is None:
            return None
        per_seed.append(float(a) - float(b))
        used |= {arm_done.get("final_eval", "unknown"), base_done.get("final_eval", "unknown")}
    eval_set = used.pop() if len(used) == 1 else "mixed"
    return {"arm": arm, "metric": metric, "eval_set": eval_set, **interval(per_seed, confidence)}


def seeds_needed(std: float | None, target: float = TARGET_GAIN, alpha: float = ALPHA, power: float = POWER,
                 max_seeds: int = MAX_SEEDS) -> int | None:
    """Fewest seeds for a two-sided paired t-test at `alpha` to detect `target` with `power`, given the
    paired gains' `std` (noncentral t). None when `std` is unknown or more than `max_seeds` would be needed."""
    if std is None or not math.isfinite(std):
        return None
    if std == 0:
        return 2
    for n in range(2, max_seeds + 1):
        df, shift = n - 1, target / (std / math.sqrt(n))
        critical = scipy_stats.t.ppf(1 - alpha / 2, df)
        # P(T > c) + P(T < -c) for T ~ nct(df, shift); the lower tail is written as the upper tail of
        # nct(df, -shift), because scipy's nct.cdf returns NaN far in the tail (large shift), and a NaN
        # power would silently skip that number of seeds.
        achieved = scipy_stats.nct.sf(critical, df, shift) + scipy_stats.nct.sf(critical, df, -shift)
        if achieved >= power:
            return n
    return None


def power_line(gain: Mapping[str, Any]) -> dict[str, Any]:
    """The power object of summary.json, from an :func:`early_auc_gain` result."""
    needed = seeds_needed(gain["std"])
    if gain["std"] is None:
        text = "no power estimate: the spread of paired gains needs at least 2 seeds"
    elif needed is None:
        text = f"more than {MAX_SEEDS} seeds would be needed (paired AUC gain SD {gain['std']:.2f})"
    else:
        text = (f"with the observed SD of the paired early AUC gains ({gain['std']:.2f} points over "
                f"{gain['n']} seeds), {needed} seeds would detect a +{TARGET_GAIN:g} point early gain with "
                f"{POWER:.0%} power (two-sided alpha {ALPHA:g}, paired t-test); an estimate, as the SD is")
        text += " itself estimated from few seeds"
    return {"seeds_needed": needed, "target_gain": TARGET_GAIN, "alpha": ALPHA, "power": POWER,
            "observed_std": gain["std"], "observed_seeds": gain["n"], "statistic": "early_auc_gain",
            "text": text}


def verdict(summary: Mapping[str, Any]) -> str:
    """The verdict sentence: which statistic it rests on, its value, the final gain and the power line."""
    gain, final, confidence = summary["early_auc_gain"], summary["final_gain"], summary["confidence"]
    window = summary["early_window"]
    text = (f"Verdict, resting on one statistic fixed in advance, the paired gain of {gain['arm']} over "
            f"{summary['baseline']} in the area under the {gain['metric']} curve over the early window "
            f"({window['definition']}; trapezoid rule over training examples, step 0 excluded): "
            f"{judge_gain(gain['mean'], gain['low'], gain['high'], confidence)}.")
    if final is not None:
        where = {"full": "the full eval set", "subset": "the evaluation subset"}.get(final["eval_set"], "the eval set")
        text += f" Final gain on {where}: {judge_gain(final['mean'], final['low'], final['high'], confidence)}."
    text += (" The gains at each evaluation point are descriptive only: with many points, some intervals "
             "exclude 0 by chance. Power: " + summary["power"]["text"] + ".")
    return text
