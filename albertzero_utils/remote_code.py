"""No remote code, ever: a model or tokenizer directory that asks for its own Python is refused up front.

transformers runs a directory's ``*.py`` when its ``config.json`` (or ``tokenizer_config.json``) has an
``auto_map`` and remote code is trusted; asked interactively, a piped ``y`` would trust it. Every loading path
of albertzero passes ``trust_remote_code=False`` (:data:`NO_REMOTE_CODE`) and calls :func:`refuse_remote_code`
first, so such a directory gets one line and no prompt.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import ConfigError

#: Keyword arguments for every ``from_pretrained`` call.
NO_REMOTE_CODE = {"trust_remote_code": False}
_CONFIG_FILES = ("config.json", "tokenizer_config.json")


def refuse_remote_code(name_or_dir: str | os.PathLike, flag: str = "--model") -> None:
    """Raise a one-line ConfigError when the local directory's config asks for custom code (``auto_map``)."""
    directory = Path(name_or_dir).expanduser()
    if not directory.is_dir():
        return  # a Hub id: transformers refuses custom code itself, as trust_remote_code=False
    for name in _CONFIG_FILES:
        try:
            config = json.loads((directory / name).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue  # missing or unreadable: the loader reports that
        if isinstance(config, dict) and config.get("auto_map"):
            raise ConfigError(f"{flag} {directory}: {name} has an 'auto_map' that asks to run the directory's "
                              f"own Python code; albertzero never runs remote code (use a model of a built-in "
                              f"transformers architecture)")
