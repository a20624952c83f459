"""`make bench`: performance ratios measured in one run (filled in by the benchmarks issue)."""
import sys

sys.stderr.write("make bench: not yet — the benchmark suite has not landed\n")
sys.exit(1)
