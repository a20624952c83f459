"""The five calls against 0 and the claimed gain, at their boundaries, and the co-primary agreement rule."""
from __future__ import annotations

import math

import pytest

from albertzero_utils.verdict import CALLS, call_for, call_words, metric_call, overall_call


@pytest.mark.parametrize("low, high, expected", [
    (0.5, 3.0, "claim-supported"),
    (2.0, 2.5, "claim-supported"),        # low exactly at the claim: the claim is inside
    (0.1, 2.0, "claim-supported"),        # high exactly at the claim
    (1e-9, 5.0, "claim-supported"),
    (2.0 + 1e-9, 4.0, "larger-than-claim"),
    (2.5, 3.0, "larger-than-claim"),
    (0.1, 1.9, "smaller-than-claim"),
    (0.1, 2.0 - 1e-9, "smaller-than-claim"),
    (0.0, 1.0, "claim-ruled-out"),        # low exactly 0 does not exclude 0
    (-3.0, -1.0, "claim-ruled-out"),      # a degradation
    (-1.0, 1.99, "claim-ruled-out"),
    (0.0, 0.0, "claim-ruled-out"),        # zero spread at 0
    (0.0, 2.0, "inconclusive"),           # low exactly 0, high exactly the claim
    (-1.0, 5.0, "inconclusive"),
    (None, None, "inconclusive"),         # fewer than 2 seeds: no interval
    (1.0, None, "inconclusive"),
    (math.nan, 3.0, "inconclusive"),
])
def test_each_call_at_its_boundaries(low, high, expected) -> None:
    assert call_for(low, high, 2.0) == expected


def test_the_calls_follow_their_definitions_for_any_claim() -> None:
    """Every interval gets exactly the call its definition gives, on a grid across the boundaries."""
    grid = [-3.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0]
    for claim in (1.0, 2.0, 3.0):
        for low in grid:
            for high in (h for h in grid if h >= low):
                defined = [name for name, holds in (
                    ("claim-supported", low > 0 and low <= claim <= high),
                    ("larger-than-claim", low > claim),
                    ("smaller-than-claim", low > 0 and high < claim),
                    ("claim-ruled-out", low <= 0 and high < claim),
                    ("inconclusive", low <= 0 and high >= claim)) if holds]
                assert defined == [call_for(low, high, claim)], (low, high, claim)
    assert set(CALLS) == {"claim-supported", "larger-than-claim", "smaller-than-claim", "claim-ruled-out",
                          "inconclusive"}


def test_bad_intervals_and_claims_raise() -> None:
    with pytest.raises(ValueError):
        call_for(3.0, 1.0)
    with pytest.raises(ValueError):
        call_for(0.0, 1.0, claim_gain=0.0)


def test_words_tie_significance_to_0_and_name_the_claim() -> None:
    for call, (low, high) in {"claim-supported": (0.5, 3.0), "smaller-than-claim": (0.1, 0.7),
                              "larger-than-claim": (2.5, 3.0), "claim-ruled-out": (-1.0, 1.0),
                              "inconclusive": (-1.0, 4.0)}.items():
        words = call_words(call, low, high, 2.0, 0.95)
        assert words.startswith(call) and "+2" in words
        assert ("significant against 0" in words) == (low > 0)  # said exactly when the interval excludes 0
        assert "significant" not in words.replace("significant against 0", "")
    assert "rules out" in call_words("smaller-than-claim", 0.1, 0.7, 2.0, 0.95)  # +0.4 [0.1, 0.7] is no support
    assert "fewer than 2 seeds" in call_words("inconclusive", None, None, 2.0, 0.95)


def test_metric_call_records_the_interval_and_both_reference_values() -> None:
    entry = metric_call({"mean": 0.4, "low": 0.1, "high": 0.7, "n": 5, "std": 0.24}, 2.0, 0.95)
    assert entry["call"] == "smaller-than-claim" and entry["reference_values"] == [0.0, 2.0]
    assert (entry["low"], entry["high"], entry["mean"], entry["n"], entry["confidence"], entry["claim_gain"]) == (
        0.1, 0.7, 0.4, 5, 0.95, 2.0)
    missing = metric_call({"mean": 1.0, "low": None, "high": None, "n": 1, "std": None}, 2.0, 0.95)
    assert missing["call"] == "inconclusive" and "fewer than 2 seeds" in missing["reason"]


def test_overall_call_is_the_common_call_else_inconclusive_with_the_disagreement() -> None:
    agree = {"f1": {"call": "claim-supported"}, "best_f1": {"call": "claim-supported"}}
    assert overall_call(agree)[0] == "claim-supported"
    disagree = {"f1": {"call": "claim-supported"}, "best_f1": {"call": "claim-ruled-out"}}
    call, reason = overall_call(disagree)
    assert call == "inconclusive"
    assert "disagree" in reason and "f1 says claim-supported" in reason and "best_f1 says claim-ruled-out" in reason
    assert overall_call({"f1": {"call": "larger-than-claim"}})[0] == "larger-than-claim"
