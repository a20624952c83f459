"""Benchmark 6: dynamic padding. Windows padded to ``max_seq_length`` against batches padded to their longest.

- The padding share of the tokens a model sees: every window padded to 384 (before) against length-grouped
  training batches and length-sorted evaluation batches, each padded to its longest window (after), over
  all the dev set's windows (the training batch is the colab profile's 16 per process; evaluation 64).
- Forward + backward time of the albert-base-v2 *architecture* (random weights, fp32) over one fixed set of
  real windows, in the batches the length-grouped sampler makes of them: padded to 384 against padded to
  each batch's longest window. The windows are whole batches drawn (seeded) from the grouped order of all
  dev windows, as training would see them.
- Evaluation forward time over the same windows: batches padded to 384 in file order against
  ``predict_logits`` (longest first, padded per batch, put back in order), and the largest absolute
  difference of their start/end/answerability logits at real tokens.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from albertzero_utils import paths
from albertzero_utils.batching import PadToLongest, window_lengths
from albertzero_utils.data import build_train_features
from albertzero_utils.features import MODEL_INPUT_COLUMNS, FeatureConfig
from albertzero_utils.modeling import load_qa_model
from albertzero_utils.predict import predict_logits
from albertzero_utils.run_setup import LengthGroupedEpochSampler

from .common import Timing, ratio, timed

TRAIN_BATCH, EVAL_BATCH = 16, 64  # the colab profile's per-process batch sizes
TARGET_SPEEDUP, TARGET_LOGIT_DIFF = 1.6, 1e-4


def padding_share(lengths: np.ndarray, order: np.ndarray, batch_size: int) -> float:
    """Share of padding among the tokens of the batches of ``order``, each padded to its longest window."""
    batches = [lengths[order[i:i + batch_size]] for i in range(0, len(order), batch_size)]
    return round(1 - float(lengths.sum()) / sum(len(b) * int(b.max()) for b in batches), 4)


def fixed_windows(lengths: np.ndarray, count: int, batch_size: int, seed: int = 0) -> list[list[int]]:
    """``count // batch_size`` whole batches of the length-grouped order of all windows, drawn with ``seed``."""
    order = list(LengthGroupedEpochSampler(lengths.tolist(), batch_size, seed))
    batches = [order[i:i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
    return random.Random(seed).sample(batches, count // batch_size)


def padded_tensors(rows: list[dict[str, Any]], length: int, pad_token_id: int) -> dict[str, torch.Tensor]:
    """The baseline: every row padded to ``length`` (what ``--pad-to-max-length`` stores)."""
    def pad(name: str, values: list[int]) -> list[int]:
        return values + [pad_token_id if name == "input_ids" else 0] * (length - len(values))

    return {name: torch.tensor([pad(name, row[name]) if name in MODEL_INPUT_COLUMNS else row[name] for row in rows])
            for name in rows[0]}


def forward_backward(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> None:
    for batch in batches:
        model(**batch).loss.backward()
        model.zero_grad(set_to_none=True)


def eval_padded(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> list[Any]:
    with torch.inference_mode():
        return [model(**batch) for batch in batches]


def run(examples: Any, eval_features: Any, tokenizer: Any, windows: int = 32, runs: int = 1,
        micro_batch: int = 8) -> dict[str, Any]:
    """Padding shares over all windows; train and eval timings over ``windows`` fixed windows (``runs`` each)."""
    cfg = FeatureConfig()
    eval_lengths = window_lengths(eval_features)
    train_features = build_train_features(examples, tokenizer, cfg)
    train_lengths = window_lengths(train_features)
    grouped = np.asarray(list(LengthGroupedEpochSampler(train_lengths.tolist(), TRAIN_BATCH, seed=0)))
    shares = {"before": round(1 - float(eval_lengths.mean()) / cfg.max_seq_length, 4),
              "train_after": padding_share(train_lengths, grouped, TRAIN_BATCH),
              "eval_after": padding_share(eval_lengths, np.argsort(-eval_lengths, kind="stable"), EVAL_BATCH)}

    config_dir = paths.ALBERT_BASE_DIR  # the architecture of albert-base-v2 (config.json committed in data/)
    model = load_qa_model(config_dir, from_config=True, seed=0)  # the architecture, random weights, SDPA
    pad_id = tokenizer.pad_token_id or 0
    chosen = fixed_windows(train_lengths, windows, micro_batch)
    rows = [[train_features[int(i)] for i in batch] for batch in chosen]
    collate = PadToLongest(pad_id)
    padded = [padded_tensors(batch, cfg.max_seq_length, pad_id) for batch in rows]
    dynamic = [collate(batch) for batch in rows]
    model.train()
    forward_backward(model, [{name: t[:2] for name, t in dynamic[-1].items()}])  # warm-up
    train_padded, train_grouped = Timing(), Timing()
    for _ in range(runs):  # interleaved, so a change in machine load hits both sides alike
        with timed(train_padded):
            forward_backward(model, padded)
        with timed(train_grouped):
            forward_backward(model, dynamic)

    model.eval()
    subset = eval_features.select([int(i) for batch in chosen for i in batch])
    subset_lengths = window_lengths(subset)
    inputs = subset.select_columns(list(MODEL_INPUT_COLUMNS))
    eval_batches = [padded_tensors([inputs[j] for j in range(i, min(i + micro_batch, len(inputs)))],
                                   cfg.max_seq_length, pad_id) for i in range(0, len(inputs), micro_batch)]
    eval_before, eval_after = Timing(), Timing()
    for _ in range(runs):
        with timed(eval_before):
            outputs = eval_padded(model, eval_batches)
        with timed(eval_after):
            start, end, has = predict_logits(model, subset, batch_size=micro_batch)
    old = [torch.cat([getattr(out, name) for out in outputs]).numpy() for name in
           ("start_logits", "end_logits", "has_logits")]
    width = start.shape[1]
    real = np.arange(width)[None, :] < subset_lengths[:, None]
    diff = max(float(np.abs(old[0][:, :width][real] - start[real]).max()),
               float(np.abs(old[1][:, :width][real] - end[real]).max()), float(np.abs(old[2] - has).max()))
    result = {
        "what": "padding to 384 vs batches padded to their longest window (length-grouped / length-sorted); "
                "albert-base-v2 architecture, random weights, fp32, SDPA attention",
        "model_config": str(config_dir / "config.json"), "attention": model.config._attn_implementation,
        "all_windows": {"train": len(train_lengths), "eval": len(eval_lengths),
                        "mean_tokens": round(float(eval_lengths.mean()), 1)},
        "padding_share_before": shares["before"], "padding_share_after": shares["train_after"],
        "padding_share_after_eval": shares["eval_after"], "batch_sizes": {"train": TRAIN_BATCH, "eval": EVAL_BATCH},
        "timed_windows": len(subset), "micro_batch": micro_batch,
        "timed_tokens": {"padded": len(subset) * cfg.max_seq_length,
                         "grouped": int(sum(t["input_ids"].numel() for t in dynamic))},
        "train_padded": train_padded.summary(), "train_grouped": train_grouped.summary(),
        "eval_padded": eval_before.summary(), "eval_sorted": eval_after.summary(),
        "train_speedup": ratio(train_padded.wall, train_grouped.wall),
        "eval_speedup": ratio(eval_before.wall, eval_after.wall),
        "train_speedup_cpu": ratio(train_padded.cpu, train_grouped.cpu),
        "eval_speedup_cpu": ratio(eval_before.cpu, eval_after.cpu),
        "max_abs_logit_diff": float(f"{diff:.3g}"),
    }
    result["targets_met"] = bool(result["train_speedup"] >= TARGET_SPEEDUP and result["eval_speedup"] >= TARGET_SPEEDUP
                                 and diff < TARGET_LOGIT_DIFF)
    return result
