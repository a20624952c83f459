"""The calls of a comparison: where an interval of the paired gain lies against 0 AND the claimed gain.

An interval that excludes 0 says the gain is probably not 0; it says nothing about the card's claim (+2 F1
early). Each co-primary metric gets one of five calls, from its interval ``[low, high]`` and the claim ``c``:

- ``claim-supported``: low > 0 and low <= c <= high (a real gain, and the claimed size is inside);
- ``larger-than-claim``: low > c (the whole interval lies above the claim);
- ``smaller-than-claim``: low > 0 and high < c (a real gain, smaller than claimed: the claim is ruled out);
- ``claim-ruled-out``: low <= 0 and high < c (no real gain shown, and the claim is ruled out; a degradation
  is one);
- ``inconclusive``: low <= 0 and high >= c (0 and the claim both fit), or no interval (fewer than 2 seeds).

The overall call is the common call of the co-primary metrics when they agree, else ``inconclusive``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

CALLS = ("claim-supported", "larger-than-claim", "smaller-than-claim", "claim-ruled-out", "inconclusive")
INCONCLUSIVE = "inconclusive"


def _known(value: float | None) -> bool:
    return value is not None and math.isfinite(float(value))


def call_for(low: float | None, high: float | None, claim_gain: float = 2.0) -> str:
    """The call for the interval ``[low, high]`` of a paired gain against 0 and `claim_gain` (module doc);
    ``inconclusive`` when the interval is missing (None: fewer than 2 seeds) or not finite."""
    if not claim_gain > 0:
        raise ValueError(f"claim_gain must be positive, got {claim_gain}")
    if not (_known(low) and _known(high)):
        return INCONCLUSIVE
    if low > high:
        raise ValueError(f"an interval needs low <= high, got [{low}, {high}]")
    if low > claim_gain:
        return "larger-than-claim"
    if low > 0:
        return "claim-supported" if high >= claim_gain else "smaller-than-claim"
    return INCONCLUSIVE if high >= claim_gain else "claim-ruled-out"


def call_words(call: str, low: float | None, high: float | None, claim_gain: float, confidence: float) -> str:
    """The call in words: what the interval says against 0 and against the claim."""
    level, claim = f"{confidence:.0%}", f"+{claim_gain:g}"
    if not (_known(low) and _known(high)):
        return f"{call}: no {level} interval (fewer than 2 seeds), so neither 0 nor {claim} can be ruled out"
    span = f"the {level} interval [{low:+.2f}, {high:+.2f}]"
    if low == high:
        span += " (identical on every seed: zero spread)"
    return {
        "claim-supported": f"{call}: {span} excludes 0 (significant against 0 at the {1 - confidence:.0%} level) "
                           f"and contains the claimed {claim}",
        "larger-than-claim": f"{call}: {span} excludes 0 (significant against 0 at the {1 - confidence:.0%} level) "
                             f"and lies wholly above the claimed {claim}",
        "smaller-than-claim": f"{call}: {span} excludes 0 (significant against 0 at the {1 - confidence:.0%} "
                              f"level) but lies below the claimed {claim}, which it rules out",
        "claim-ruled-out": f"{call}: {span} does not exclude 0 (or lies below it) and lies below the claimed "
                           f"{claim}, which it rules out",
        "inconclusive": f"{call}: {span} contains both 0 and the claimed {claim}; these seeds cannot tell them "
                        "apart",
    }[call]


def metric_call(gain: Mapping[str, Any], claim_gain: float, confidence: float) -> dict[str, Any]:
    """``verdict.calls[METRIC]`` of summary.json from an early-AUC gain ``{mean, low, high, n, std, ...}``."""
    call = call_for(gain["low"], gain["high"], claim_gain)
    result = {"call": call, "low": gain["low"], "high": gain["high"], "mean": gain["mean"], "n": gain["n"],
              "std": gain["std"], "confidence": confidence, "reference_values": [0.0, claim_gain],
              "claim_gain": claim_gain, "words": call_words(call, gain["low"], gain["high"], claim_gain, confidence)}
    if gain["low"] is None:
        result["reason"] = "no interval: fewer than 2 seeds with a value"
    return result


def overall_call(calls: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """(call, reason): the common call when every co-primary metric agrees, else ``inconclusive``."""
    distinct = {entry["call"] for entry in calls.values()}
    names = " and ".join(calls)
    if len(distinct) == 1:
        call = distinct.pop()
        return call, (f"{names} agree" if len(calls) > 1 else f"the one primary metric {names}") + f": {call}"
    said = ", ".join(f"{metric} says {entry['call']}" for metric, entry in calls.items())
    return INCONCLUSIVE, f"the co-primary metrics disagree ({said}), so the overall call is {INCONCLUSIVE}"
