"""Answer questions with a trained AVPool model: one question, or every question of a SQuAD 2.0 file.

Both paths share the evaluation pipeline: :func:`data.build_eval_features` (sliding windows), batched
inference under ``torch.inference_mode()`` in length-sorted, per-batch padded batches (:func:`predict_logits`,
also what evaluation during training runs), then
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
from tqdm import tqdm  # the text bar, which TQDM_DISABLE turns off (tqdm.auto's widget ignores it)

from .batching import longest_row, sorted_loader
from .data import EXAMPLE_FEATURES, FeatureConfig, build_eval_features, load_examples
from .features import in_memory_features
from .errors import CheckpointError, ConfigError
from .postprocess import PostprocessConfig, Predictions, postprocess

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


def check_fits(model_config: Any, tokenizer: Any, max_seq_length: int, model_name: str | os.PathLike) -> None:
    """One-line errors, before any work, for windows longer than the model's positions or a tokenizer whose
    ids run past the model's vocabulary (it belongs to another model)."""
    if max_seq_length > model_config.max_position_embeddings:
        raise ConfigError(f"--max-seq-length {max_seq_length}: {model_name} has only "
                          f"{model_config.max_position_embeddings} positions")
    if len(tokenizer) > model_config.vocab_size:
        raise ConfigError(f"the tokenizer has {len(tokenizer)} tokens but {model_name}'s vocabulary has "
                          f"{model_config.vocab_size}: they belong to different models")


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


def predict_logits(model: torch.nn.Module, features: datasets.Dataset, batch_size: int = 32, *,
                   accelerator: Any = None, desc: str = "predict") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start/end logits ``[F, L]`` and answerability logits ``[F, 2]`` (float32) for every feature, in order.

    The windows run longest first, each batch padded only to its longest window (:func:`batching.sorted_loader`;
    outputs at real tokens do not depend on padding), then the rows are put back in the features' order.
    ``L`` is the longest row; positions past a window's end get ``-inf`` logits, so they are never chosen.
    With an ``accelerator``, the batches are shared between its processes and gathered back (with a progress
    bar on the main process).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    width = longest_row(features)
    if not len(features):
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), np.zeros((0, 2), np.float32)
    config = (accelerator.unwrap_model(model) if accelerator is not None else model).config  # DDP wraps it
    loader, order = sorted_loader(features, batch_size, config.pad_token_id)
    if accelerator is not None:
        loader = accelerator.prepare_data_loader(loader)
    progress = {} if accelerator is not None and accelerator.is_main_process else {"disable": True}
    device = next(model.parameters()).device
    parts: list[tuple[torch.Tensor, ...]] = []
    with _training_mode(model, False), torch.inference_mode():
        for batch in tqdm(loader, desc=desc, leave=False, **progress):
            out = model(**{name: tensor.to(device) for name, tensor in batch.items()})
            logits = (_pad_right(out.start_logits, width), _pad_right(out.end_logits, width), out.has_logits)
            if accelerator is not None:
                logits = accelerator.gather_for_metrics(logits)
            parts.append(tuple(t.float().cpu() for t in logits))
    in_order = []
    for sorted_rows in (torch.cat([part[i] for part in parts]).numpy() for i in range(3)):
        rows = np.empty_like(sorted_rows)
        rows[order] = sorted_rows
        in_order.append(rows)
    _check_finite(*in_order)
    return tuple(in_order)


def _pad_right(logits: torch.Tensor, length: int) -> torch.Tensor:
    """``[B, l]`` logits padded to ``[B, length]`` with ``-inf`` (never chosen as a span end point)."""
    return torch.nn.functional.pad(logits, (0, length - logits.shape[1]), value=float("-inf"))


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
