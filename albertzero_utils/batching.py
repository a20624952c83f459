"""Batches padded to their own longest window instead of to ``max_seq_length`` (dynamic padding).

At 384/128 the SQuAD 2.0 windows average about 180 real tokens: padding every one to 384 spends about half
of the compute on padding. Here a batch is padded only to its longest window, and windows of similar
length are put together: training draws them with a length-grouped sampler (:mod:`.run_setup`),
evaluation runs them longest first (:func:`sorted_loader`) and puts the logits back in order afterwards.
Outputs at real tokens do not depend on padding (the attention mask hides it).
"""
from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import pyarrow.compute as pc
import torch

from .features import MODEL_INPUT_COLUMNS


def window_lengths(features: datasets.Dataset) -> np.ndarray:
    """Real tokens per window (the ones of its attention mask), read from Arrow without a row loop."""
    masks = features.with_format("arrow")["attention_mask"].combine_chunks()
    if len(masks) == 0:
        return np.zeros(0, dtype=np.int64)
    sizes = pc.list_value_length(masks).to_numpy(zero_copy_only=False)
    ones = pc.list_flatten(masks).to_numpy(zero_copy_only=False)
    return np.add.reduceat(ones, np.concatenate([[0], np.cumsum(sizes)[:-1]])).astype(np.int64)


def longest_row(features: datasets.Dataset) -> int:
    """The length of the longest stored row (``max_seq_length`` for features padded to it)."""
    rows = features.with_format("arrow")["input_ids"]
    return int(pc.max(pc.list_value_length(rows)).as_py() or 0) if len(rows) else 0


class PadToLongest:
    """Collate feature rows (dicts of lists) into tensors, cutting and padding the model inputs to the
    longest real window of the batch; other columns (labels) are stacked as they are."""

    def __init__(self, pad_token_id: int | None) -> None:
        self.pad_token_id = pad_token_id or 0

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        length = max(sum(row["attention_mask"]) for row in rows)
        batch = {}
        for name in rows[0]:
            if name in MODEL_INPUT_COLUMNS:
                pad = self.pad_token_id if name == "input_ids" else 0
                batch[name] = torch.tensor([row[name][:length] + [pad] * (length - len(row[name])) for row in rows])
            else:
                batch[name] = torch.tensor([row[name] for row in rows])
        return batch


def sorted_loader(features: datasets.Dataset, batch_size: int,
                  pad_token_id: int | None) -> tuple[torch.utils.data.DataLoader, np.ndarray]:
    """A DataLoader over the model inputs, longest window first, each batch padded to its longest window;
    and ``order``: the feature index of each row it yields (``logits[order] = sorted_logits`` undoes it)."""
    order = np.argsort(-window_lengths(features), kind="stable")
    inputs = features.select_columns(list(MODEL_INPUT_COLUMNS)).select(order)
    # A private generator: creating an iterator then draws nothing from the global RNG (exact resume).
    loader = torch.utils.data.DataLoader(inputs, batch_size=batch_size, shuffle=False,
                                         collate_fn=PadToLongest(pad_token_id),
                                         generator=torch.Generator().manual_seed(0))
    return loader, order
