"""`albertzero predict`: answer one question, or write official-format predictions for a whole file."""
from __future__ import annotations

import argparse
import json
import sys

from .arguments import finite_float

HELP = "Answer a question (--question/--context) or every question of a SQuAD 2.0 file (--data)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Model, input (one question or a file) and the window / post-processing settings."""
    parser.add_argument("--model", required=True, metavar="DIR",
                        help="A trained model directory (e.g. RUN/final), or a hub id.")
    parser.add_argument("--tokenizer", metavar="DIR", default=None, help="Tokenizer (default: the model's).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--question", "-q", help="One question (with --context); prints a JSON object.")
    source.add_argument("--data", metavar="FILE",
                        help="A SQuAD 2.0 JSON file (or sample:dev, or a hub id) to answer in full.")
    parser.add_argument("--context", "-c", help="The passage for --question.")
    parser.add_argument("--output-dir", default="predictions", metavar="DIR",
                        help="Where --data writes predictions.json, null_odds.json, nbest_predictions.json "
                             "(default: %(default)s).")
    parser.add_argument("--allow-untrained-heads", action="store_true",
                        help="Predict even with QA heads that were never trained (a Hub encoder or a config-only "
                             "directory): random answers, for teaching only.")
    window = "(default: the trained run's, from RUN/config.json next to RUN/final; else {})"
    parser.add_argument("--max-seq-length", type=int, help="Window length " + window.format(384))
    parser.add_argument("--doc-stride", type=int, help="Window overlap " + window.format(128))
    parser.add_argument("--max-query-length", type=int, help="Question tokens kept " + window.format(64))
    parser.add_argument("--n-best", type=int, default=20, help="Candidates kept (default: %(default)s).")
    parser.add_argument("--max-answer-length", type=int, default=30,
                        help="Longest answer in tokens (default: %(default)s).")
    parser.add_argument("--null-threshold", type=finite_float, default=0.0,
                        help="Answer '' when the null odds exceed this (default: %(default)s).")
    parser.add_argument("--batch-size", type=int, default=32, help="Windows per forward pass (default: %(default)s).")


def run(args: argparse.Namespace) -> int:
    """Load the model once, then answer the question or the file."""
    from ..errors import ConfigError

    if args.question is not None and not args.question.strip():
        raise ConfigError("--question is empty")
    if args.question is not None and not (args.context or "").strip():
        raise ConfigError("--question needs a non-empty --context")
    if args.data is not None and args.context is not None:
        raise ConfigError("--context goes with --question, not with --data")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    from ..postprocess import PostprocessConfig
    from ..predict import (answer_question, check_fits, predict_file, require_trained_heads, trained_run_config,
                           window_settings)

    if not args.allow_untrained_heads:
        require_trained_heads(args.model)
    run_config = trained_run_config(args.model)
    model, tokenizer = _load(args.model, args.tokenizer, bool(run_config.get("match_original_albert_tokenizer")))
    feature_cfg = window_settings(args.model, max_seq_length=args.max_seq_length, doc_stride=args.doc_stride,
                                  max_query_length=args.max_query_length)
    check_fits(model.config, tokenizer, feature_cfg.max_seq_length, args.model)
    cfg = PostprocessConfig(n_best=args.n_best, max_answer_length=args.max_answer_length,
                            null_threshold=args.null_threshold)
    if args.question is not None:
        print(json.dumps(answer_question(model, tokenizer, args.question, args.context, cfg, feature_cfg),
                         indent=2, ensure_ascii=False))
        return 0
    predictions = predict_file(model, tokenizer, args.data, args.batch_size, cfg, feature_cfg)
    files = predictions.write(args.output_dir)
    answered = sum(answer != "" for answer in predictions.answers.values())
    print(f"{len(predictions.answers)} questions, {answered} answered: wrote "
          f"{', '.join(str(path) for path in files.values())}")
    return 0


def _load(model_name: str, tokenizer_name: str | None, match_original_albert: bool) -> tuple[object, object]:
    """The QA model (on the GPU when there is one) and its tokenizer; one-line errors for bad directories."""
    import torch

    from ..data import load_tokenizer
    from ..modeling import has_weights, load_qa_model

    model = load_qa_model(model_name, seed=0)
    if not has_weights(model_name):
        sys.stderr.write(f"albertzero predict: note: {model_name} holds no weights; the model is random\n")
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    return model, load_tokenizer(tokenizer_name or model_name, match_original_albert=match_original_albert)
