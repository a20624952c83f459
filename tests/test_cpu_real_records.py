"""The committed records of `make experiment-cpu` (data/results/cpu-real/): they re-summarise to the committed
summary, every run of the plan is there, and no weights were committed. Skipped until they are recorded."""
from __future__ import annotations

import json

import pytest

from albertzero_utils import paths, results

CPU_REAL = paths.CPU_REAL_RESULTS
recorded = pytest.mark.skipif(not (CPU_REAL / "summary.json").is_file(),
                              reason=f"{CPU_REAL} is not recorded yet (make experiment-cpu)")


@recorded
def test_committed_records_give_the_committed_summary() -> None:
    committed = json.loads((CPU_REAL / "summary.json").read_text(encoding="utf-8"))
    again = json.loads(json.dumps(results.summarize(CPU_REAL)))  # the window and metrics of the stored plan
    committed.pop("compare_dir")
    again.pop("compare_dir")
    assert again == committed


@recorded
def test_every_planned_run_is_finished_and_no_weights_are_committed() -> None:
    plan = json.loads((CPU_REAL / "comparison.json").read_text(encoding="utf-8"))
    assert len(plan["arms"]) == 3 and len(plan["seeds"]) >= 5
    for arm in plan["arms"]:
        for seed in plan["seeds"]:
            run = results.run_dir(CPU_REAL, arm["name"], seed)
            assert {"config.json", "metrics.jsonl", "done.json"} <= {p.name for p in run.iterdir()}, run
    files = [p for p in CPU_REAL.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in {".safetensors", ".bin", ".pt", ".pth"} or p.parent.name == "final"]
    assert all(p.stat().st_size < 2_000_000 for p in files)
