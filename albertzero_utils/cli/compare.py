"""`albertzero compare`: baseline vs re-init arms over several seeds (paired), then summary, table and figures.

The plan (arms, seeds, window, metrics, reference values: :mod:`plan`) is written to ``OUT/comparison.json``
before any run starts; ``--plan-only`` writes and prints it, with the power and a GPU-time estimate, and trains
nothing (no GPU, no Hub). Runs go to ``OUT/ARM/seed-S/`` in seed-major order, so an interrupted sweep already
holds complete pairs; running the same command again skips finished runs and resumes unfinished ones.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .train import add_dry_run_argument, add_training_arguments, overrides_from_args
from ..stats import headline

HELP = "compare baseline and re-init arms over seeds (paired design): runs, summary.json, table and figures"

#: Per-run options that the comparison sets itself (--arms, --seeds, automatic resume).
PER_RUN_OPTIONS = ("seed", "reinit", "resume_from_checkpoint", "overwrite_output_dir")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..experiment import DEFAULT_ARMS

    parser.add_argument("--arms", default=DEFAULT_ARMS, metavar="ARM[,ARM]",
                        help="baseline (no re-init), reinit (ffn_output), another re-init target of --model "
                             "(ALBERT: attention_output, attention_qkv, ffn, ffn_output, layer_norms; a name the "
                             "model lacks is refused before any training, with the model's list) or NAME=T1+T2, e.g. top_ffn_output=top:1/ffn_output "
                             f"(default {DEFAULT_ARMS})")
    parser.add_argument("--seeds", metavar="S[,S]", help="seeds, one paired run per arm each (default: the "
                                                         "profile's, 0,1,2)")
    parser.add_argument("--plan-only", action="store_true",
                        help="write comparison.json and print the plan (window in steps and examples, power for "
                             "the claimed gain, estimated GPU time per run) without training")
    add_training_arguments(parser, exclude=PER_RUN_OPTIONS)
    add_dry_run_argument(parser)
    for action in parser._actions:  # argparse has no public way to reword an inherited option's help
        if action.dest == "output_dir":
            action.help = "the comparison directory: OUT/ARM/seed-S/ runs, summary.json, figures (default " \
                          "runs/PROFILE/compare)"


def _output_dir(args: argparse.Namespace, profile: str) -> Path:
    """--output-dir, else a config file's output_dir, else runs/PROFILE/compare."""
    from ..profiles import load_config_file

    if args.output_dir:
        return Path(args.output_dir)
    from_file = load_config_file(args.config).get("output_dir") if args.config else None
    return Path(from_file) if from_file else Path("runs") / profile / "compare"


def _ci(stats: dict[str, Any], signed: bool = False) -> str:
    """'12.34 [10.01, 14.67]' (or 'no CI (1 seed)'), signed for gains."""
    if stats["mean"] is None:
        return "n/a"
    number = "{:+.2f}" if signed else "{:.2f}"
    if stats["ci_low"] is None:
        return number.format(stats["mean"]) + " (no CI: 1 seed)"
    return f"{number.format(stats['mean'])} [{number.format(stats['ci_low'])}, {number.format(stats['ci_high'])}]"


def format_table(summary: dict[str, Any], metric: str | None = None) -> str:
    """Per arm: final mean of `metric` (default: the headline) with CI, and the early and final paired gains."""
    metric = metric or headline(summary)
    level = f"{summary['confidence']:.0%} CI"
    header = (f"{'arm':<18} {f'final {metric} [{level}]':<30} {f'mean early gain [{level}]':<30} "
              f"{f'last-point gain [{level}]':<30}")
    lines = [header, "-" * len(header)]
    final_point = summary["points"][-1]
    for arm in summary["arms"]:
        is_baseline = arm == summary["baseline"]
        early = "-" if is_baseline else _ci(summary["early_gain"][arm][metric], signed=True)
        final = "-" if is_baseline else _ci(summary["last_point_gain"][arm][metric], signed=True)
        lines.append(f"{arm:<18} {_ci(final_point['arms'][arm][metric]):<30} {early:<30} {final:<30}")
    return "\n".join(lines)


def gpu_estimate(cfg: Any) -> str:
    """Estimated GPU hours per run, LABELLED AS AN ESTIMATE: FLOPs of albert-base-v2 on SQuAD 2.0
    (colab.squad_run_cost) over an ASSUMED throughput (colab.ASSUMED_TFLOPS); none for a CPU profile."""
    from ..colab import ASSUMED_TFLOPS, squad_run_cost

    if cfg.cpu or cfg.train_file is not None:
        return ("GPU time: no estimate (the estimate is for albert-base-v2 on SQuAD 2.0 from the Hub; this "
                "comparison trains on the CPU or on a local file)")
    flops = squad_run_cost(cfg)["flops"]
    hours = ", ".join(f"{flops / (tflops * 1e12 * 3600):.2f} h on {gpu} (assumed {tflops:g} TFLOP/s)"
                      for gpu, tflops in ASSUMED_TFLOPS.items())
    return (f"GPU time per run, ESTIMATE (not measured): {flops:.3g} FLOPs (anatomy's FLOP count of albert-base-v2 "
            f"at SQuAD 2.0's mean 181 real tokens per window, training x3, plus evaluations) at {hours}")


def run(args: argparse.Namespace) -> int:
    from ..experiment import parse_arms, parse_seeds, run_comparison
    from ..stats import conclusion
    from ..plots import subject_of, write_figures
    from ..plan import describe
    from ..profiles import is_main_process, resolve

    arms = parse_arms(args.arms)
    overrides = overrides_from_args(args)
    for name in ("arms", "seeds", "plan_only"):
        overrides.pop(name, None)
    if args.seeds is not None:
        overrides["seeds"] = tuple(parse_seeds(args.seeds))
    cfg = resolve(args.profile, args.config, overrides)
    out = _output_dir(args, cfg.profile)
    seeds = parse_seeds(",".join(map(str, cfg.seeds)))
    if args.dry_run:
        from ..dry_run import dry_run

        what = f"the comparison ({len(arms)} arms x {len(seeds)} seeds)"
        print("\n".join(dry_run(cfg, runs=len(arms) * len(seeds), output_dir=out, what=what)), flush=True)
        return 0
    main = is_main_process()  # under `accelerate launch`, the other processes only train
    if main:
        print(f"albertzero compare: profile {cfg.profile!r}, arms {', '.join(a.name for a in arms)}, "
              f"seeds {', '.join(map(str, seeds))} -> {out}", flush=True)
    if args.plan_only:
        result = run_comparison(cfg, arms, seeds, out, plan_only=True)
        if main:
            print(f"{describe(result['plan'])}\n{gpu_estimate(cfg)}\n{out / 'comparison.json'}")
        return 0
    summary = run_comparison(cfg, arms, seeds, out, log=lambda line: print(line, flush=True))
    if not main:
        return 0
    window = summary["early_window"]
    print(f"\n{summary['n_seeds']} seed(s); final step {summary['final_step']}; early window: {window['definition']}")
    metrics = dict.fromkeys([headline(summary), "f1"])  # the headline first, then F1
    for metric in metrics:
        print(f"\n{format_table(summary, metric)}\n\n{conclusion(summary, metric)}")
    print(f"\n{summary['verdict']['text']}\n")
    print(out / "summary.json")
    for path in write_figures(summary, out, subject=subject_of(summary, out)):
        print(path)
    return 0
