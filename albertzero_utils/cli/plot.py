"""`albertzero plot DIR [DIR ...]`: recompute summary.json and redraw the figures of comparison directories.

The calls follow each comparison's pre-registered plan (comparison.json). ``--early-window-epochs`` and
``--metric`` look at other choices: computed, labelled "post hoc" in summary.json, the verdict and the figure,
and deciding nothing.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import positive_float

HELP = "recompute summary.json and draw early_gain/loss_curves/hasans_noans PNGs for comparison directories"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..profiles import HEADLINE_METRICS

    parser.add_argument("compare_dirs", nargs="+", type=Path, metavar="DIR",
                        help="a comparison directory written by `albertzero compare` (ARM/seed-S/ runs)")
    parser.add_argument("--early-window-epochs", type=positive_float, metavar="E",
                        help="a window other than the plan's (first E epochs): shown, labelled post hoc, never "
                             "the verdict's call")
    parser.add_argument("--metric", action="append", choices=HEADLINE_METRICS, metavar="M",
                        help="metrics other than the plan's co-primary ones (repeat for several): shown, "
                             f"labelled post hoc, never the verdict's call (one of {', '.join(HEADLINE_METRICS)})")


def run(args: argparse.Namespace) -> int:
    from ..fileio import write_json_atomic
    from ..plots import subject_of, write_figures
    from ..results import summarize

    for compare_dir in args.compare_dirs:
        summary = summarize(compare_dir, early_window_epochs=args.early_window_epochs, metrics=args.metric)
        write_json_atomic(compare_dir / "summary.json", summary)
        print(compare_dir / "summary.json")
        if summary["post_hoc"] is not None:
            print(summary["post_hoc"]["note"])
        for path in write_figures(summary, compare_dir, subject=subject_of(summary, compare_dir)):
            print(path)
    return 0
