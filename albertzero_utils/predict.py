"""Answer questions with a trained AVPool model: one question, or every question of a SQuAD 2.0 file.

Both paths share the evaluation pipeline: :func:`data.build_eval_features` (sliding windows), batched
inference under ``torch.inference_mode()`` on the model's device (:func:`predict_logits`), then
:func:`postprocess.postprocess` (best span, null odds, n-best).
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from .data import EXAMPLE_FEATURES, FeatureConfig, build_eval_features, load_examples
from .features import in_memory_features
from .errors import CheckpointError, ConfigError
from .postprocess import PostprocessConfig, Predictions, postprocess

_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
SINGLE_QUESTION_ID = "question"
#: The settings of a trained run that prediction must reuse: its windows and its tokenizer segmentation.
RUN_WINDOW_SETTINGS = ("max_seq_length", "doc_stride", "max_query_length")


def trained_run_config(model: str | os.PathLike) -> dict[str, Any]:
    """The config.json of the training run that wrote `model` (``RUN/final`` -> ``RUN/config.json``), or {}."""
    path = Path(model).expanduser()
    run_file = path.parent / "config.json"
    if not path.is_dir() or not run_file.is_file():
        return {}
    try:
        config = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return config if isinstance(config, dict) and all(key in config for key in RUN_WINDOW_SETTINGS) else {}


def window_settings(model: str | os.PathLike, **given: int | None) -> FeatureConfig:
    """The windows to predict with: each setting given (not None), else the trained run's, else the default."""
    run = trained_run_config(model)
    defaults = FeatureConfig()
    chosen = {name: given.get(name) if given.get(name) is not None else run.get(name, getattr(defaults, name))
              for name in RUN_WINDOW_SETTINGS}
    return FeatureConfig(**chosen)


def heads_trained(model: str | os.PathLike) -> bool:
    """True when `model` holds weights saved from a QA model of this project (its AVPool heads were trained);
    False for a Hub encoder such as albert/albert-base-v2, or a config-only directory (random weights)."""
    from .modeling import has_weights, load_model_config

    if not has_weights(model):
        return False
    architectures = getattr(load_model_config(model), "architectures", None) or []
    return any(name.endswith("ForQuestionAnsweringAVPool") for name in architectures)


def require_trained_heads(model: str | os.PathLike) -> None:
    """Refuse, in one line, a model whose QA heads were never trained (its answers would be noise)."""
    if not heads_trained(model):
        raise ConfigError(f"--model {model}: its question-answering heads were never trained (not the final/ "
                          f"directory of an albertzero run), so its answers would be random; pass a trained "
                          f"model such as runs/PROFILE/RUN/final, or --allow-untrained-heads to see an "
                          f"untrained model answer")


@contextlib.contextmanager
def _training_mode(model: torch.nn.Module, mode: bool) -> Iterator[None]:
    """Set ``model.train(mode)`` for the block, then restore the caller's mode."""
    previous = model.training
    model.train(mode)
    try:
        yield
    finally:
        model.train(previous)


def predict_logits(model: torch.nn.Module, features: datasets.Dataset,
                   batch_size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start/end logits ``[F, L]`` and answerability logits ``[F, 2]`` for every feature, in order.

    Each batch is cut to its longest un-padded window (outputs at real tokens do not depend on padding);
    the logits of the cut padding positions are ``-inf``, so they can never be chosen.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    inputs = features.with_format("numpy", columns=list(_MODEL_INPUTS))
    num_features, seq_len = len(features), len(features[0]["input_ids"]) if len(features) else 0
    start = np.full((num_features, seq_len), -np.inf, dtype=np.float32)
    end = np.full((num_features, seq_len), -np.inf, dtype=np.float32)
    has = np.zeros((num_features, 2), dtype=np.float32)
    device = next(model.parameters()).device
    with _training_mode(model, False), torch.inference_mode():
        for lo in range(0, num_features, batch_size):
            batch = inputs[lo:lo + batch_size]
            length = int(batch["attention_mask"].sum(axis=1).max())
            tensors = {name: torch.as_tensor(batch[name][:, :length], device=device) for name in _MODEL_INPUTS}
            output = model(**tensors)
            hi = lo + len(batch["input_ids"])
            start[lo:hi, :length] = output.start_logits.float().cpu().numpy()
            end[lo:hi, :length] = output.end_logits.float().cpu().numpy()
            has[lo:hi] = output.has_logits.float().cpu().numpy()
    _check_finite(start, end, has)
    return start, end, has


def _check_finite(start: np.ndarray, end: np.ndarray, has: np.ndarray) -> None:
    """Refuse NaN logits (``-inf`` marks cut padding): they come from broken weights, not from the input."""
    bad = np.isnan(start).any(axis=1) | np.isnan(end).any(axis=1) | np.isnan(has).any(axis=1)
    if bad.any():
        raise CheckpointError(f"the model produced NaN logits for {int(bad.sum())} of {len(bad)} windows "
                              f"(first: window {int(np.argmax(bad))}); its weights are broken (NaN or overflow)")


def predict_examples(model: torch.nn.Module, tokenizer: Any, examples: datasets.Dataset, batch_size: int = 32,
                     cfg: PostprocessConfig = PostprocessConfig(),
                     feature_cfg: FeatureConfig = FeatureConfig()) -> Predictions:
    """Predictions for a Dataset of examples (columns ``id, question, context``, as from ``load_examples``)."""
    features = build_eval_features(examples, tokenizer, feature_cfg)
    start, end, has = predict_logits(model, features, batch_size)
    return postprocess(examples, features, start, end, has, cfg)


def predict_file(model: torch.nn.Module, tokenizer: Any, data_source: str | os.PathLike | datasets.Dataset,
                 batch_size: int = 32, cfg: PostprocessConfig = PostprocessConfig(),
                 feature_cfg: FeatureConfig = FeatureConfig(), max_samples: int | None = None) -> Predictions:
    """Predictions for every question of a SQuAD 2.0 source (JSON path, ``sample:dev``, Hub id or Dataset).

    Gold answers are not needed, so their offsets are not checked.
    """
    if isinstance(data_source, datasets.Dataset):
        examples = data_source
    else:
        examples = load_examples(data_source, check_offsets=False, max_samples=max_samples)
    return predict_examples(model, tokenizer, examples, batch_size, cfg, feature_cfg)


def answer_question(model: torch.nn.Module, tokenizer: Any, question: str, context: str,
                    cfg: PostprocessConfig = PostprocessConfig(),
                    feature_cfg: FeatureConfig = FeatureConfig()) -> dict:
    """Answer one question about one context: ``answer`` ('' = no answer), ``is_answerable``, ``null_odds``,
    ``nbest``."""
    empty = {"text": [], "answer_start": []}
    row = {"id": SINGLE_QUESTION_ID, "title": "", "context": context, "question": question, "answers": empty,
           "plausible_answers": empty}
    with in_memory_features():
        examples = datasets.Dataset.from_list([row], features=EXAMPLE_FEATURES)
        predictions = predict_examples(model, tokenizer, examples, batch_size=8, cfg=cfg, feature_cfg=feature_cfg)
    answer = predictions.answers[SINGLE_QUESTION_ID]
    return {"answer": answer, "is_answerable": answer != "",
            "null_odds": predictions.null_odds[SINGLE_QUESTION_ID], "nbest": predictions.nbest[SINGLE_QUESTION_ID]}
