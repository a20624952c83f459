"""Loading a fast tokenizer, and ALBERT's original segmentation.

Features need offset mappings, so only fast (Rust) tokenizers are accepted. transformers 5's fast ALBERT
tokenizer segments some punctuation differently from the SentencePiece model albert-base-v2 was pre-trained
with; :func:`match_original_albert_tokenization` restores the original (chapter 2 shows one sentence).
"""
from __future__ import annotations

import json
import os
from typing import Any

from . import paths
from .errors import ConfigError

_DIGIT_COMMA = r"(?<=\d),$"  # a comma that ends a pre-token right after a digit


def load_tokenizer(name_or_dir: str | os.PathLike, *, match_original_albert: bool = False) -> Any:
    """A fast tokenizer (offset mappings are required) from a Hub id or a local directory.

    The default is the stock transformers tokenizer, what every user of the checkpoint gets. For ALBERT,
    ``match_original_albert=True`` makes it segment text like the original SentencePiece one ALBERT was
    pre-trained with (see :func:`match_original_albert_tokenization`); it is not saved by ``save_pretrained``.
    """
    from transformers import AutoTokenizer  # heavy import, only when needed

    name_or_dir = paths.model_location(name_or_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_dir), trust_remote_code=False)
    except (OSError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot load tokenizer {str(name_or_dir)!r}: {reason}") from None
    if not tokenizer.is_fast:
        raise ConfigError(f"tokenizer {str(name_or_dir)!r} is not a fast tokenizer (offsets are needed)")
    if len(tokenizer) <= len(set(tokenizer.all_special_ids)):  # e.g. a directory holding only config.json
        raise ConfigError(f"{str(name_or_dir)!r} holds no tokenizer vocabulary (only special tokens); give a "
                          f"directory with spiece.model or tokenizer.json")
    if match_original_albert and type(tokenizer).__name__.startswith("AlbertTokenizer"):
        match_original_albert_tokenization(tokenizer)
    return tokenizer


def match_original_albert_tokenization(tokenizer: Any) -> None:
    """Make a fast ALBERT tokenizer segment text like the SentencePiece one ALBERT was pre-trained with.

    Two differences are removed, in place (idempotent): transformers 5 turns the SentencePiece
    user-defined pieces ``( ) " - . – £ €`` into added tokens, which cuts the text around them and gives
    the next word a spurious ``▁`` prefix (``gallo-romance`` -> ``▁gallo - ▁romance``); and the original
    tokenizer splits a piece ending in digit + comma (``▁1936,`` -> ``▁1936 ,``), without which an answer
    like ``1936`` cannot be labelled exactly.
    """
    from tokenizers import Tokenizer

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    if state["model"]["type"] != "Unigram":
        return
    kept = [token for token in state["added_tokens"] if token["special"]]
    split = {"type": "Split", "pattern": {"Regex": _DIGIT_COMMA}, "behavior": "Isolated", "invert": False}
    steps = state["pre_tokenizer"]["pretokenizers"] if state["pre_tokenizer"]["type"] == "Sequence" else [
        state["pre_tokenizer"]]
    if len(kept) == len(state["added_tokens"]) and split in steps:
        return
    state["added_tokens"] = kept
    state["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [s for s in steps if s != split] + [split]}
    tokenizer._tokenizer = Tokenizer.from_str(json.dumps(state))  # the public property has no setter
