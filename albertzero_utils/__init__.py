"""albertZero: how ALBERT works, and whether re-initialising its shared block's FFN output helps SQuAD 2.0.

The model-level names below are imported on first use (PEP 562), so ``import albertzero_utils.paths`` and
``albertzero --help`` do not pay for importing torch and transformers.
"""
from __future__ import annotations

import importlib

#: Public name -> submodule that defines it.
_LAZY_EXPORTS = {
    "AlbertForQuestionAnsweringAVPool": "modeling",
    "EncoderForQuestionAnsweringAVPool": "modeling",
    "QAModelOutput": "modeling",
    "avpool_class": "modeling",
    "load_qa_model": "modeling",
    "load_albertzero_weights": "weights",
    "LoadReport": "weights",
    "reinit_layers": "reinit",
    "available_targets": "reinit",
}

__all__ = sorted(_LAZY_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _LAZY_EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
