"""Helpers shared by the chapter notebooks, and `python -m albertzero_utils.notebook_tools normalize NB...`.

The notebooks call :func:`select_device` and :func:`banner` in their first cells; `make notebooks` calls
:func:`normalize_notebook` after executing them so committed notebooks diff cleanly.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fileio import write_text_atomic

REPO_URL = "https://github.com/albertzero/albertZero"


def colab_url(notebook_name: str, branch: str = "main") -> str:
    """The 'Open in Colab' link for a notebook of this repository."""
    repo = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{notebook_name}"


def select_device(prefer: str | None = None) -> str:
    """The best available device: cuda, then mps, then cpu (or `prefer`, when given)."""
    import torch

    if prefer:
        return prefer
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def quiet_notebook() -> None:
    """The notebooks' plumbing in one call, made before importing transformers or datasets: no library
    progress bars (datasets, transformers), no tqdm notice about ipywidgets, no deprecation or load-report
    messages. The training progress bar of each run (with its ETA) stays: it is turned off only where the
    environment says so (``TQDM_DISABLE=1``, set by `make test`, `make notebooks` and CI, or ``CI``), so
    that what nbval compares is the same on every run."""
    import warnings

    warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notice when ipywidgets is absent
    warnings.filterwarnings("ignore", category=FutureWarning)  # deprecation notices vary across versions
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # e.g. "Writing model shards" (a widget once ipywidgets is installed)
    datasets.disable_progress_bars()


def banner(**facts: Any) -> str:
    """A one-box summary of what this notebook run uses (profile, model, data, device...)."""
    width = max(len(k) for k in facts) if facts else 0
    lines = [f"{key:<{width}} : {value}" for key, value in facts.items()]
    rule = "=" * max((len(line) for line in lines), default=20)
    return "\n".join([rule, *lines, rule])


def normalize_notebook(path: Path) -> None:
    """Normalise a notebook in place: `python3` kernelspec, no volatile per-cell metadata."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb.setdefault("metadata", {})["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nb["metadata"].pop("widgets", None)
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)
    write_text_atomic(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class DevData:
    """Which SQuAD 2.0 dev data and tokenizer a notebook uses, and a line saying so for its banner."""

    source: str  # for data.load_examples: a JSON path, "sample:dev" or a Hub id
    tokenizer: str  # for data.load_tokenizer: a local directory or a Hub id
    description: str


def dev_data(dev_file: str | os.PathLike | None = None, profile: str | None = None) -> DevData:
    """The dev data a chapter notebook reads: ``dev_file`` if given, else the official SQuAD 2.0 dev set
    committed under data/squad2/, with albert-base-v2's tokenizer from data/albert-base-v2/.

    Every profile reads the same committed files (offline, no Hub); ``profile`` is accepted so that the
    notebooks' existing calls keep working.
    """
    from . import paths

    tokenizer = str(paths.ALBERT_BASE_DIR)
    if dev_file is not None:
        return DevData(str(dev_file), tokenizer, f"your file {Path(dev_file).name}")
    return DevData(str(paths.SQUAD2_DEV), tokenizer, "official SQuAD 2.0 dev set (data/squad2/dev-v2.0.json)")


def main(argv: list[str]) -> int:
    """CLI: `normalize NB...`."""
    if len(argv) < 2 or argv[0] != "normalize":
        sys.stderr.write("usage: python -m albertzero_utils.notebook_tools normalize NOTEBOOK...\n")
        return 2
    for name in argv[1:]:
        normalize_notebook(Path(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
