"""`make bench`: albertZero's performance against straightforward baselines, as ratios measured in one run.

Prints a table and writes ``bench/results.json`` (atomically) with the machine's description. Each figure
is a median over several runs or a single run; the ``runs`` fields say which. Inputs: the official dev set and
albert-base-v2 tokenizer committed under data/.
The GPU throughput of albert-base-v2 is a separate command: ``python bench/gpu_throughput.py``.

torch runs with one intra-op thread by default (``--threads``): on a small machine shared with other work,
idle OpenMP threads spin-wait for busy cores, which inflates both wall and CPU time erratically; with one
thread, both sides of every comparison do the same compute on one core.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench import (  # noqa: E402  (after the path set-up)
    bench_evaluate,
    bench_features,
    bench_metrics,
    bench_padding,
    bench_postprocess,
    bench_predict,
    bench_train,
    common,
)

RESULTS = REPO_ROOT / "bench" / "results.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of the fast benchmarks (default: 5)")
    parser.add_argument("--feature-runs", type=int, default=3, help="runs of the feature benchmark (default: 3)")
    parser.add_argument("--train-steps", type=int, default=11, help="optimizer steps per training run (default: 11)")
    parser.add_argument("--train-batch-size", type=int, default=16, help="training batch size (default: 16, smoke)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default: 1; see the module docstring)")
    parser.add_argument("--predict-questions", type=int, default=48,
                        help="questions for the inference benchmark (default: 48)")
    parser.add_argument("--padding-windows", type=int, default=32,
                        help="real windows timed with albert-base-v2 in the dynamic padding benchmark (default: 32)")
    return parser.parse_args(argv)


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every CPU benchmark, in order; the results dict that goes to results.json."""
    import datasets
    import torch

    torch.set_num_threads(args.threads)

    from albertzero_utils import data

    inputs = common.bench_inputs()
    results: dict[str, Any] = {"machine": common.machine_description(), "inputs": inputs.describe()}
    datasets.disable_progress_bars()
    examples = data.load_examples(inputs.dev_file, check_offsets=False)
    tokenizer = data.load_tokenizer(inputs.tokenizer_dir)
    say(f"inputs: {len(examples)} questions from {inputs.dev_file}")
    say("1/7 evaluation features ...")
    results["eval_features"], features = bench_features.run(examples, tokenizer, runs=args.feature_runs)
    say("2/7 post-processing ...")
    results["postprocess"] = bench_postprocess.run(examples, features, runs=args.repeats)
    say("3/7 metric ...")
    results["metric"] = bench_metrics.run(examples, runs=args.repeats)
    say("4/7 training step overhead ...")
    results["train_step"] = bench_train.run(args.train_steps, args.repeats, args.train_batch_size)
    say("5/7 inference throughput ...")
    results["predict"] = bench_predict.run(inputs.dev_file, args.predict_questions, repeats=max(1, args.repeats - 1))
    say("6/7 dynamic padding (albert-base-v2 architecture) ...")
    results["dynamic_padding"] = bench_padding.run(examples, features, tokenizer, windows=args.padding_windows)
    say("7/7 albertzero evaluate vs the official script (fresh processes) ...")
    results["evaluate_cli"] = bench_evaluate.run(inputs.dev_file, examples, runs=args.repeats)
    results["machine"]["load_average_at_end"] = common.load_average()
    return results


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _row(name: str, ours: str, baseline: str, figure: str, target: str, runs: str) -> list[str]:
    return [name, ours, baseline, figure, target, runs]


def table_rows(r: dict[str, Any]) -> list[list[str]]:
    """One row per benchmark: what, ours, baseline, ratio, target, runs."""
    f, p, m, t, q = r["eval_features"], r["postprocess"], r["metric"], r["train_step"], r["predict"]
    d, e = r["dynamic_padding"], r["evaluate_cli"]
    met = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    return [
        _row(f"eval features ({f['examples']} q, {f['features']} windows)", f"{f['ours']['wall_s']:.2f} s",
             f"tokenizer floor {f['tokenizer_floor']['wall_s']:.2f} s", f"ours = {f['ratio_ours_over_floor']:.2f}x the floor",
             f"<= 1.5x: {met(f['ratio_ours_over_floor'] <= 1.5)}; cached reload {f['cached_reload']['wall_s']:.2f} s",
             f"{f['ours']['runs']} / {f['tokenizer_floor']['runs']}"),
        _row(f"post-processing ({p['features']} windows)",
             f"{p['ours_answers_only']['wall_s']:.3f} s ({p['ours']['wall_s']:.3f} s with n-best)",
             f"utils_qa-style {p['reference']['wall_s']:.2f} s (loop alone {p['reference_loop_only']['wall_s']:.2f} s)",
             f"{p['speedup_answers_only_vs_loop_only']:.1f}x the loop ({p['speedup_vs_loop_only']:.1f}x with n-best)",
             f">= 5x the loop: {met(p['target_met'])}", f"{p['ours']['runs']} / {p['reference']['runs']}"),
        _row(f"metric ({m['questions']} q, with sweep)", f"{m['ours']['wall_s']:.3f} s",
             f"official loop {m['reference']['wall_s']:.3f} s", f"{m['speedup']:.2f}x", "same numbers",
             f"{m['ours']['runs']} / {m['reference']['runs']}"),
        _row(f"training step (tiny, batch {t['batch_size']} x {t['max_seq_length']})",
             f"{t['ours_step_cpu_s'] * 1e3:.0f} ms CPU ({t['ours_step_s'] * 1e3:.0f} wall)",
             f"bare loop {t['bare_step_cpu_s'] * 1e3:.0f} ms CPU ({t['bare_step_s'] * 1e3:.0f} wall)",
             f"{t['overhead_cpu'] * 100:+.1f}% CPU ({t['overhead_wall'] * 100:+.1f}% wall)",
             f"<= 5% (CPU): {met(t['target_met'])}", f"{t['repeats']} x {t['steps_per_run'] - 1} steps"),
        _row(f"inference (tiny, {q['questions']} q, {q['windows']} windows)", f"{q['ours_questions_per_s']:.1f} q/s",
             f"pipeline port {q['pipeline_questions_per_s']:.1f} q/s", f"{q['ratio']:.2f}x", "-",
             f"{q['ours']['runs']} / {q['pipeline_port']['runs']}"),
        _row(f"padding share (all {d['all_windows']['eval']} windows)",
             f"{d['padding_share_after']:.1%} train, {d['padding_share_after_eval']:.1%} eval",
             f"padded to 384: {d['padding_share_before']:.1%}", "-", "-", "-"),
        _row(f"train fwd+bwd (albert-base arch, {d['timed_windows']} windows)", f"{d['train_grouped']['wall_s']:.1f} s",
             f"padded to 384: {d['train_padded']['wall_s']:.1f} s", f"{d['train_speedup']:.2f}x",
             f">= 1.6x: {met(d['train_speedup'] >= 1.6)}", f"{d['train_grouped']['runs']} / {d['train_padded']['runs']}"),
        _row(f"eval forward (albert-base arch, {d['timed_windows']} windows)", f"{d['eval_sorted']['wall_s']:.1f} s",
             f"padded to 384: {d['eval_padded']['wall_s']:.1f} s", f"{d['eval_speedup']:.2f}x",
             f">= 1.6x, max |logit diff| {d['max_abs_logit_diff']:.1e} < 1e-4: "
             f"{met(d['eval_speedup'] >= 1.6 and d['max_abs_logit_diff'] < 1e-4)}",
             f"{d['eval_sorted']['runs']} / {d['eval_padded']['runs']}"),
        _row(f"`albertzero evaluate` ({e['questions']} q, fresh process)", f"{e['ours']['wall_s']:.2f} s",
             f"official script {e['official']['wall_s']:.2f} s", f"ours = {e['ours_over_official']:.2f}x the official",
             f"<= 3x: {met(e['target_met'])}", f"{e['ours']['runs']} / {e['official']['runs']}"),
    ]


def format_table(rows: list[list[str]]) -> str:
    header = ["benchmark", "ours", "baseline", "speedup (base / ours)", "target / note", "runs (ours / base)"]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-hf-cache-") as cache:
        os.environ["HF_DATASETS_CACHE"] = cache  # never read (or fill) the user's feature cache
        try:
            results = run_all(args)
        except AssertionError as exc:
            say(f"make bench: FAILED: {exc}")
            return 1
    m = results["machine"]
    print(f"\nmeasured on {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB, torch {m['torch']}, "
          f"transformers {m['transformers']}, {m['date']} (load average {m['load_average_at_start']})\n")
    print(format_table(table_rows(results)))
    common.write_json_atomic(args.output, results)
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
