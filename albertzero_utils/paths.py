"""Where the embedded default (sample data, tiny tokenizer and config) and the optional ../shared live."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DATA_DIR = REPO_ROOT / "data"
SAMPLE_TRAIN = DATA_DIR / "sample" / "train-v2.0.json"
SAMPLE_DEV = DATA_DIR / "sample" / "dev-v2.0.json"
TINY_MODEL_DIR = DATA_DIR / "tiny-albert"  # the tiny config and tokenizer: random weights (the A/A control)
TINY_PRETRAINED_DIR = DATA_DIR / "tiny-albert-pretrained"  # the same model, pretrained (`make pretrain-tiny`)
#: Short names for the embedded models, accepted wherever a model name or directory is.
NAMED_MODELS = {"tiny": TINY_PRETRAINED_DIR, "tiny-random": TINY_MODEL_DIR}
PRETRAIN_CORPUS = DATA_DIR / "pretrain" / "corpus.txt"

#: Real material beside the checkout (CI and developer machines only; a fresh clone has none of it).
SHARED_DIR = Path(os.environ.get("ALBERTZERO_SHARED", REPO_ROOT.parent / "shared"))
SHARED_DEV = SHARED_DIR / "squad2" / "dev-v2.0.json"
SHARED_TRAIN28 = SHARED_DIR / "squad2" / "splits" / "dev-train28.json"
SHARED_HELDOUT7 = SHARED_DIR / "squad2" / "splits" / "dev-heldout7.json"
SHARED_ALBERT_BASE = SHARED_DIR / "albert-base-v2"


def model_location(name_or_dir: str | os.PathLike) -> str:
    """The directory of a named embedded model (``tiny``, ``tiny-random``); any other name unchanged."""
    return str(NAMED_MODELS.get(str(name_or_dir), name_or_dir))


def shared_available() -> bool:
    """True when the real dev set and albert-base-v2 tokenizer are present beside the checkout."""
    return SHARED_DEV.is_file() and (SHARED_ALBERT_BASE / "spiece.model").is_file()
