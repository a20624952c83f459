"""`albertzero plot DIR [DIR ...]`: recompute summary.json and redraw the figures of comparison directories."""
from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import fraction

HELP = "recompute summary.json and draw early_gain/loss_curves/hasans_noans PNGs for comparison directories"


def add_early_fraction_argument(parser: argparse.ArgumentParser) -> None:
    """--early-fraction, shared with `albertzero compare`."""
    from ..results import DEFAULT_EARLY_FRACTION

    parser.add_argument("--early-fraction", type=fraction, default=DEFAULT_EARLY_FRACTION, metavar="F",
                        help="the early window: the first F of the training steps, over which the verdict "
                             "integrates the headline curve; fix it before seeing results (default "
                             f"{DEFAULT_EARLY_FRACTION}, the window the schedule evaluates evenly)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("compare_dirs", nargs="+", type=Path, metavar="DIR",
                        help="a comparison directory written by `albertzero compare` (ARM/seed-S/ runs)")
    add_early_fraction_argument(parser)


def run(args: argparse.Namespace) -> int:
    from ..fileio import write_json_atomic
    from ..plots import subject_of, write_figures
    from ..results import summarize

    for compare_dir in args.compare_dirs:
        summary = summarize(compare_dir, early_fraction=args.early_fraction)
        write_json_atomic(compare_dir / "summary.json", summary)
        print(compare_dir / "summary.json")
        for path in write_figures(summary, compare_dir, subject=subject_of(summary, compare_dir)):
            print(path)
    return 0
