"""`make bench`: performance ratios of albertZero against straightforward baselines (see bench/run.py)."""
