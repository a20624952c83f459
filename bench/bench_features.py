"""Benchmark 1: evaluation features for the dev set, against the bare batched tokenizer call (the floor).

Ours runs in a fresh, empty ``datasets`` cache directory, so the first call really tokenises (and writes
its Arrow cache, as a user's first run does); the second call with the same inputs is reported apart as the
cached reload. The floor is one batched tokenizer call with the same window settings and no post-processing.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator

from albertzero_utils import data
from albertzero_utils.features import FeatureConfig

from .common import Timing, ratio, timed


@contextmanager
def fresh_cache_dir() -> Iterator[str]:
    """Point HF_DATASETS_CACHE (where our feature caches go) at a new empty directory for the block."""
    previous = os.environ.get("HF_DATASETS_CACHE")
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as directory:
        os.environ["HF_DATASETS_CACHE"] = directory
        try:
            yield directory
        finally:
            if previous is None:
                os.environ.pop("HF_DATASETS_CACHE", None)
            else:
                os.environ["HF_DATASETS_CACHE"] = previous


def tokenizer_floor(questions: list[str], contexts: list[str], tokenizer: Any, cfg: FeatureConfig) -> int:
    """One batched pair call with our window settings (padding included); returns the number of windows."""
    encoded = tokenizer([q.lstrip() for q in questions], contexts, truncation="only_second",
                        max_length=cfg.max_seq_length, stride=cfg.doc_stride, return_overflowing_tokens=True,
                        return_offsets_mapping=True, return_token_type_ids=True,
                        padding="max_length" if cfg.pad_to_max_length else False)
    return len(encoded["input_ids"])


def run(examples: Any, tokenizer: Any, cfg: FeatureConfig = FeatureConfig(), runs: int = 1) -> tuple[dict, Any]:
    """Time ours (cold, fresh cache), its cached reload and the tokenizer floor; return results and features."""
    questions, contexts = list(examples["question"]), list(examples["context"])
    ours, reload, floor = Timing(), Timing(), Timing()
    features, windows = None, 0
    for _ in range(runs):  # interleaved, so a change in machine load hits both sides alike
        with fresh_cache_dir() as cache:
            with timed(ours):
                features = data.build_eval_features(examples, tokenizer, cfg)
            with timed(reload):
                reloaded = data.build_eval_features(examples, tokenizer, cfg)
            assert reloaded.cache_files and reloaded.cache_files[0]["filename"].startswith(cache), \
                "the second call should read the Arrow cache written by the first"
            assert len(reloaded) == len(features)
        with timed(floor):
            windows = tokenizer_floor(questions, contexts, tokenizer, cfg)
    assert windows == len(features), f"floor made {windows} windows, ours {len(features)}"
    result = {
        "what": "build_eval_features (cold, fresh datasets cache dir) vs one batched tokenizer call, same settings",
        "examples": len(examples), "features": len(features), "settings": dataclasses.asdict(cfg),
        "ours": ours.summary(), "tokenizer_floor": floor.summary(), "cached_reload": reload.summary(),
        "ratio_ours_over_floor": ratio(ours.wall, floor.wall),
        "ratio_ours_over_floor_cpu": ratio(ours.cpu, floor.cpu),
    }
    return result, features
