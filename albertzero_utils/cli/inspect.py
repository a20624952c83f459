"""`albertzero inspect`: how a SQuAD 2.0 file turns into windows (features) for a given tokenizer."""
from __future__ import annotations

import argparse
import json

HELP = "Validate a SQuAD 2.0 file and summarise its features (windows, truncation, label recoverability)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """DATA plus the tokenizer and window settings."""
    from ..paths import ALBERT_BASE_DIR, SQUAD2_DEV

    parser.add_argument("data", metavar="DATA", nargs="?", default=str(SQUAD2_DEV),
                        help="official-format SQuAD 2.0 JSON file, or sample:train / sample:dev "
                             "(default: the official dev set committed in data/squad2/)")
    parser.add_argument("--tokenizer", default=str(ALBERT_BASE_DIR), metavar="NAME_OR_DIR",
                        help="tokenizer directory or Hub id (default: data/albert-base-v2, albert-base-v2's "
                             "tokenizer; the tiny model's is data/tiny-albert)")
    parser.add_argument("--max-seq-length", type=int, default=384, help="tokens per window (default 384)")
    parser.add_argument("--doc-stride", type=int, default=128, help="overlap between windows (default 128)")
    parser.add_argument("--max-query-length", type=int, default=64, help="question token cap (default 64)")


def run(args: argparse.Namespace) -> int:
    """Print the summary as one JSON object; validation problems raise DataError (one line, exit 2)."""
    from ..data import FeatureConfig, inspect_features, load_examples, load_tokenizer

    cfg = FeatureConfig(max_seq_length=args.max_seq_length, doc_stride=args.doc_stride,
                        max_query_length=args.max_query_length)
    examples = load_examples(args.data, check_offsets=True)
    summary = inspect_features(examples, load_tokenizer(args.tokenizer), cfg)
    print(json.dumps({"data": args.data, **summary}, indent=2))
    return 0
