"""`albertzero pretrain`: pretrain an ALBERT with n-gram masked LM and sentence-order prediction.

Settings come from a profile (tiny: the embedded default on a CPU; gpu: a bigger small ALBERT), then
``--config FILE`` (YAML/JSON), then the flags. ``final/`` is what ``albertzero train --model DIR/final`` takes.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

HELP = "pretrain an ALBERT (n-gram masked LM + sentence-order prediction) on a one-sentence-per-line corpus"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    def option(*flags: str, **kwargs: Any) -> None:
        parser.add_argument(*flags, default=None, **kwargs)

    # No `choices`: the profiles live in ..pretrain, which imports torch; resolve() names the valid ones.
    option("--profile", metavar="tiny|gpu",
           help="base settings: tiny (the embedded default, CPU) or gpu (a bigger small ALBERT on GPUs)")
    option("--config", metavar="FILE", help="YAML or JSON file of options (applied after the profile)")
    option("--corpus", metavar="FILE", help="one sentence per line, a blank line between documents")
    option("--model-config", metavar="DIR", help="directory with the AlbertConfig (config.json) and tokenizer")
    option("--output-dir", metavar="DIR", help="where the run's files go (default runs/pretrain-PROFILE)")
    option("--seed", type=int, help="seed of the initial weights, the data order, the swaps and the masks")
    option("--heldout-share", type=float, metavar="R", help="share of documents held out for evaluation")
    option("--mask-probability", type=float, metavar="P",
           help="share of tokens masked in training (tiny profile 0.4; ALBERT's is 0.15, which held-out data "
                "always uses)")
    option("--max-seq-length", type=int, metavar="N")
    option("--max-steps", type=int, metavar="N", help="optimizer steps")
    option("--global-batch-size", "--batch-size", type=int, metavar="N", dest="global_batch_size",
           help="pairs per optimizer step over all processes")
    option("--micro-batch-size", type=int, metavar="N", help="at most N pairs per forward pass (accumulate the rest)")
    option("--eval-batch-size", type=int, metavar="N")
    option("--learning-rate", type=float, metavar="LR")
    option("--weight-decay", type=float, metavar="WD")
    option("--warmup-ratio", type=float, metavar="R")
    option("--eval-steps", type=int, metavar="N", help="evaluate on the held-out documents every N steps")
    option("--save-steps", type=int, metavar="N", help="checkpoint every N steps")
    option("--save-total-limit", type=int, metavar="K", help="keep the last K checkpoints")
    option("--resume-from-checkpoint", metavar="PATH|latest", help="continue a run exactly where it stopped")
    option("--overwrite-output-dir", action="store_true", help="replace a run already in --output-dir")
    option("--mixed-precision", choices=["no", "fp16", "bf16", "auto"])
    option("--cpu", action=argparse.BooleanOptionalAction, help="run on the CPU even if a GPU is present")


def run(args: argparse.Namespace) -> int:
    from ..pretrain import PretrainConfig, pretrain, resolve  # torch: imported only to run

    fields = {f.name for f in dataclasses.fields(PretrainConfig)} - {"profile"}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if overrides.get("overwrite_output_dir") is False:
        del overrides["overwrite_output_dir"]
    cfg = resolve(args.profile, args.config, overrides)
    if int(os.environ.get("RANK", "0")) == 0:
        settings = "\n".join(f"  {k}: {v}" for k, v in dataclasses.asdict(cfg).items())
        print(f"albertzero pretrain: profile {cfg.profile!r}, resolved settings:\n{settings}", flush=True)
    pretrain(cfg)
    return 0
