"""Where the material committed under data/ lives: the synthetic sample, the tiny config, and the real
SQuAD 2.0 dev set and albert-base-v2 tokenizer."""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

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
#: Short names for the embedded models, accepted wherever a model name or directory is.
NAMED_MODELS = {"tiny-random": TINY_MODEL_DIR}
PRETRAIN_CORPUS = DATA_DIR / "pretrain" / "corpus.txt"

#: The official SQuAD 2.0 dev set, byte-identical to the release (CC BY-SA 4.0; see data/README.md).
SQUAD2_DEV = DATA_DIR / "squad2" / "dev-v2.0.json"
SQUAD2_DEV_MD5 = "246adae8b7002f8679c027697b0b7cf8"
#: albert-base-v2's tokenizer (spiece.model, Apache-2.0) and architecture (config.json); no weights.
ALBERT_BASE_DIR = DATA_DIR / "albert-base-v2"


def model_location(name_or_dir: str | os.PathLike) -> str:
    """The directory of a named embedded model (``tiny-random``); any other name unchanged."""
    return str(NAMED_MODELS.get(str(name_or_dir), name_or_dir))
