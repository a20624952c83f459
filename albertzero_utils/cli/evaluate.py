"""`albertzero evaluate`: the official SQuAD 2.0 evaluation (same arguments as evaluate-v2.0.py)."""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from pathlib import Path

from ..errors import DataError
from ..fileio import write_text_atomic
from .arguments import number

HELP = "Score predictions.json against a SQuAD 2.0 file, exactly like the official evaluate-v2.0.py."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The official script's arguments, with the same short flags and defaults."""
    parser.add_argument("data_file", metavar="data.json", help="Input data JSON file.")
    parser.add_argument("pred_file", metavar="pred.json", help="Model predictions.")
    parser.add_argument("--out-file", "-o", metavar="eval.json",
                        help="Write accuracy metrics to file (default is stdout).")
    parser.add_argument("--na-prob-file", "-n", metavar="na_prob.json",
                        help="Model estimates of probability of no answer (e.g. null_odds.json).")
    parser.add_argument("--na-prob-thresh", "-t", type=number, default=1.0,
                        help='Predict "" if no-answer probability exceeds this (default = 1.0).')
    parser.add_argument("--out-image-dir", "-p", metavar="out_images", default=None,
                        help="Save precision-recall curves to directory.")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="Also report, on stderr, predictions for ids that are not in the data file.")


def run(args: argparse.Namespace) -> int:
    """Evaluate, then print the metrics (indent 2) or write them to --out-file (compact, like the original)."""
    from ..metrics import read_predictions

    out_eval = evaluate_files(args.data_file, args.pred_file, args.na_prob_file, args.na_prob_thresh,
                              args.out_image_dir)
    if args.verbose:
        _report_ignored(args.data_file, read_predictions(args.pred_file, only={}))
    if args.out_file:
        write_text_atomic(Path(args.out_file), json.dumps(out_eval))
    else:
        print(json.dumps(out_eval, indent=2))
    return 0


def evaluate_files(data_file: str | os.PathLike, pred_file: str | os.PathLike,
                   na_prob_file: str | os.PathLike | None = None, na_prob_thresh: float = 1.0,
                   out_image_dir: str | os.PathLike | None = None) -> collections.OrderedDict:
    """``evaluate-v2.0.py DATA PRED [-n NA_PROB] [-t THRESH] [-p IMAGE_DIR]`` as a function."""
    from ..squad_json import flatten_squad, gold_answers, load_squad_json
    from ..metrics import check_covered, read_na_probs, read_predictions, squad_v2_metrics

    golds = gold_answers(flatten_squad(load_squad_json(data_file, check_offsets=False)))
    if not golds:
        raise DataError(f"{data_file}: no questions to score (is its 'data' list empty?)")
    preds = read_predictions(pred_file, only=golds)
    check_covered(golds, preds, "prediction", str(pred_file))
    na_probs = None
    if na_prob_file is not None:
        na_probs = read_na_probs(na_prob_file)
        check_covered(golds, na_probs, "na-prob", str(na_prob_file))
    return squad_v2_metrics(golds, preds, na_probs, na_prob_thresh, out_image_dir)


def _report_ignored(data_file: str, preds: dict[str, str]) -> None:
    from ..squad_json import flatten_squad, load_squad_json

    known = {row["id"] for row in flatten_squad(load_squad_json(data_file, check_offsets=False))}
    unknown = [qid for qid in preds if qid not in known]
    sys.stderr.write(f"{len(preds)} predictions, {len(unknown)} for ids not in {data_file} (ignored)\n")
