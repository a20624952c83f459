"""The verdict statistics of a comparison: the early-window AUC gain, the final gain and the power line.

Headline statistic: for each seed, the area under the headline-metric curve (`f1` for colab/paper, `HasAns_span_f1`
for smoke and cpu-real) over the early window, by the trapezoid rule over *training examples seen* and divided by
the window's width (so it reads as the curve's mean height, in metric points, and uneven spacing cannot bias it);
then the paired difference re-init minus baseline, and a Student-t interval over seeds. The step-0 evaluation (the
models as initialised) is the reference for the initial model and belongs to no gain: the window starts at the
first evaluation after step 0. One statistic per co-primary metric, fixed in the plan, carries the verdict; the
gains at each evaluation point are description (many comparisons, no correction).

Each co-primary metric's interval is then called against 0 and the claimed gain (:mod:`verdict`), and the
overall call is their common call (:func:`decide`). Power line: from the observed standard deviation of the
paired AUC gains, the number of seeds a two-sided one-sample t-test at alpha = 0.05 needs to detect the
claimed gain (+2 points) with 80% power (noncentral t, scipy; :func:`power` is the one computation).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from scipy import integrate
from scipy import stats as scipy_stats

from .stats import judge_gain, mean_ci
from .verdict import INCONCLUSIVE, call_for, metric_call, overall_call

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


def power(n: int, std: float, target: float = TARGET_GAIN, alpha: float = ALPHA) -> float:
    """Power of a two-sided paired (one-sample) t-test at `alpha` with `n` seeds to detect a true mean gain
    `target` when the paired gains have standard deviation `std` (noncentral t, scipy)."""
    if n < 2:
        return 0.0
    if std == 0:
        return 1.0
    df, shift = n - 1, target / (std / math.sqrt(n))
    critical = scipy_stats.t.ppf(1 - alpha / 2, df)
    # P(T > c) + P(T < -c) for T ~ nct(df, shift); the lower tail is written as the upper tail of
    # nct(df, -shift), because scipy's nct.cdf returns NaN far in the tail (large shift), and a NaN
    # power would silently skip that number of seeds.
    return float(scipy_stats.nct.sf(critical, df, shift) + scipy_stats.nct.sf(critical, df, -shift))


def seeds_needed(std: float | None, target: float = TARGET_GAIN, alpha: float = ALPHA, power_wanted: float = POWER,
                 max_seeds: int = MAX_SEEDS) -> int | None:
    """Fewest seeds for a two-sided paired t-test at `alpha` to detect `target` with `power_wanted`, given the
    paired gains' `std` (:func:`power`). None when `std` is unknown or more than `max_seeds` would be needed."""
    if std is None or not math.isfinite(std):
        return None
    if std == 0:
        return 2
    return next((n for n in range(2, max_seeds + 1) if power(n, std, target, alpha) >= power_wanted), None)


def power_table(n: int, sds: Sequence[float], target: float = TARGET_GAIN) -> list[dict[str, Any]]:
    """For each paired SD: the power of `n` seeds to detect `target`, and the seeds 80% power needs."""
    return [{"paired_sd": sd, "power": power(n, sd, target), "seeds_needed": seeds_needed(sd, target)}
            for sd in sds]


def power_line(gain: Mapping[str, Any], target: float = TARGET_GAIN) -> dict[str, Any]:
    """The power object of summary.json, from an :func:`early_auc_gain` result and the claimed gain."""
    needed = seeds_needed(gain["std"], target)
    if gain["std"] is None:
        text = "no power estimate: the spread of paired gains needs at least 2 seeds"
    elif needed is None:
        text = f"more than {MAX_SEEDS} seeds would be needed (paired AUC gain SD {gain['std']:.2f})"
    else:
        text = (f"with the observed SD of the paired early AUC gains ({gain['std']:.2f} points over "
                f"{gain['n']} seeds), {needed} seeds would detect a +{target:g} point early gain with "
                f"{POWER:.0%} power (two-sided alpha {ALPHA:g}, paired t-test); an estimate, as the SD is")
        text += " itself estimated from few seeds"
    return {"seeds_needed": needed, "target_gain": target, "alpha": ALPHA, "power": POWER,
            "observed_std": gain["std"], "observed_seeds": gain["n"], "statistic": "early_auc_gain",
            "text": text}


def decide(runs: Runs, finals: Mapping[str, Mapping[int, Mapping[str, Any]]], arm: str, baseline: str,
           early_steps: Sequence[int], metrics: Sequence[str], claim_gain: float, confidence: float = 0.95,
           diagnostics: Sequence[str] = ("HasAns_span_f1",)) -> dict[str, Any]:
    """One re-init arm's calls: per co-primary metric (``calls``), the overall call with its reason, the
    final gain per metric (description), the diagnostics (computed, never deciding), and the headline's
    ``early_auc_gain``, ``final_gain`` and ``power``."""
    calls, aucs, ends = {}, {}, {}
    for metric in metrics:
        aucs[metric] = early_auc_gain(runs, arm, baseline, early_steps, metric, confidence)
        calls[metric] = metric_call(aucs[metric], claim_gain, confidence)
        final = ends[metric] = final_gain(finals, arm, baseline, metric, confidence)
        calls[metric]["final_gain"] = None if final is None else {
            **{k: final[k] for k in ("mean", "low", "high", "n", "eval_set")},
            "call": call_for(final["low"], final["high"], claim_gain),
            "note": "the gain at the end of training: description, not the pre-registered call"}
    call, reason = overall_call(calls)
    diagnostic = {}
    for metric in (m for m in diagnostics if m not in metrics):
        auc = early_auc_gain(runs, arm, baseline, early_steps, metric, confidence)
        diagnostic[metric] = {**{k: auc[k] for k in ("mean", "low", "high", "n", "std")}, "decides": False}
    headline = metrics[0]
    return {"call": call, "reason": reason, "calls": calls, "diagnostics": diagnostic,
            "early_auc_gain": aucs[headline], "power": power_line(aucs[headline], claim_gain),
            "final_gain": ends[headline]}


def _metric_sentence(metric: str, entry: Mapping[str, Any], arm: str, baseline: str) -> str:
    mean = "not measured" if entry["mean"] is None else f"{entry['mean']:+.2f} points"
    return (f"{metric}: the paired gain of {arm} over {baseline} in the area under the {metric} curve over the "
            f"early window is {mean}; {entry['words']}.")


def verdict(summary: Mapping[str, Any]) -> str:
    """The verdict sentence: the plan it rests on, each co-primary call in words, the overall call, the final
    gain, the diagnostics, what is post hoc, and the power line (with its seed count when inconclusive)."""
    decision, window = summary["verdict"], summary["early_window"]
    gain, final, confidence = summary["early_auc_gain"], summary["final_gain"], summary["confidence"]
    claim = decision["claim_gain"]
    registered = ("pre-registered in comparison.json" if decision["pre_registered"]
                  else "NOT pre-registered (no plan in comparison.json; read from the runs' settings)")
    text = (f"Verdict on {gain['arm']} vs {summary['baseline']}, {registered}: each co-primary metric's early "
            f"AUC gain ({window['definition']}; trapezoid rule over training examples, step 0 excluded) is "
            f"called against 0 and the claimed +{claim:g}. ")
    text += " ".join(_metric_sentence(m, e, gain["arm"], summary["baseline"]) for m, e in decision["calls"].items())
    text += f" Overall call: {decision['call']} ({decision['reason']})."
    if decision["call"] == INCONCLUSIVE:
        needed = summary["power"]["seeds_needed"]
        text += (f" To decide, the power line asks for {needed} seeds (80% power for +{claim:g})." if needed
                 else " The power line cannot size the next attempt yet (it needs at least 2 seeds with a spread).")
    if gain["mean"] is not None and gain["low"] is None:
        text += f" With 1 seed: {judge_gain(gain['mean'], None, None, confidence)}."
    if final is not None:
        where = {"full": "the full eval set", "subset": "the evaluation subset"}.get(final["eval_set"], "the eval set")
        text += (f" Final gain in {gain['metric']} at the end of training on {where} (description): "
                 f"{judge_gain(final['mean'], final['low'], final['high'], confidence)}.")
    for metric, diag in decision["diagnostics"].items():
        text += (f" Diagnostic {metric} (never decides): "
                 f"{judge_gain(diag['mean'], diag['low'], diag['high'], confidence)}.")
    for note in decision["post_hoc_notes"]:
        text += f" {note}"
    text += (" The gains at each evaluation point are descriptive only: with many points, some intervals "
             "exclude 0 by chance. Power: " + summary["power"]["text"] + ".")
    return text
