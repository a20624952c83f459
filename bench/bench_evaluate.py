"""Benchmark 7: `albertzero evaluate` as a user runs it, against the official evaluate-v2.0.py, on the dev set.

Both run as fresh processes (start-up and imports included: the point of issue 21's speed item) on the same
files: the dev set, realistic predictions and seeded na-probs (:mod:`bench_metrics`), written to a temporary
directory. The official side is evaluate-v2.0.py's ``main`` (read the three files, score, print the JSON) over
the literal port in ``official_eval.py``. Goal: ours within 3x of the official script's wall time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .bench_metrics import realistic_predictions
from .common import Timing, ratio, timed

#: evaluate-v2.0.py's main(): the data file's golds (the official rule: texts of 'answers'), preds, na-probs.
OFFICIAL_MAIN = """
import json, sys
sys.path.insert(0, {root!r})
from bench.official_eval import reference_metrics
data = json.load(open(sys.argv[1]))["data"]
golds = {{qa["id"]: [a["text"] for a in qa["answers"]] for article in data for p in article["paragraphs"]
          for qa in p["qas"]}}
preds = json.load(open(sys.argv[2]))
na_probs = json.load(open(sys.argv[3]))
print(json.dumps(reference_metrics(golds, preds, na_probs, pr_curves=False), indent=2))
"""


def _time_command(command: list[str], runs: int, env: dict[str, str]) -> tuple[Timing, dict]:
    timing, out = Timing(), {}
    for _ in range(runs):
        with timed(timing):
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        out = json.loads(done.stdout)
    return timing, out


def run(dev_file: Path, examples: Any, runs: int = 5) -> dict[str, Any]:
    """Median wall time of ``albertzero evaluate DEV PRED -n NA`` and of the official main, same numbers."""
    golds, preds, na_probs = realistic_predictions(examples)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with tempfile.TemporaryDirectory() as tmp:
        pred_file, na_file = Path(tmp) / "predictions.json", Path(tmp) / "na_probs.json"
        pred_file.write_text(json.dumps(preds))
        na_file.write_text(json.dumps(na_probs))
        ours, ours_out = _time_command([sys.executable, "-m", "albertzero_utils", "evaluate", str(dev_file),
                                        str(pred_file), "-n", str(na_file)], runs, env)
        main = OFFICIAL_MAIN.format(root=str(Path(__file__).resolve().parent.parent))
        official, official_out = _time_command([sys.executable, "-c", main, str(dev_file), str(pred_file),
                                                str(na_file)], runs, env)
    gaps = {k: abs(float(ours_out[k]) - float(official_out[k])) for k in official_out}
    if max(gaps.values()) > 1e-9:
        raise AssertionError(f"albertzero evaluate differs from the official script: {gaps}")
    slowdown = ratio(ours.wall, official.wall)
    return {"what": "`albertzero evaluate DEV PRED -n NA` vs evaluate-v2.0.py's main, fresh processes, dev set",
            "questions": len(golds), "same_numbers": True, "ours": ours.summary(), "official": official.summary(),
            "ours_over_official": slowdown, "target_met": slowdown <= 3.0}
