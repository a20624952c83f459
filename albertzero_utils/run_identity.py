"""A run's identity, recorded in each checkpoint, so that a resume continues *its* run and nothing else.

The identity holds the model, the data files (path and SHA-256), the re-init targets, the seed, the resolved
settings and their hash, the precision and the batch plan (process count, global batch, micro-batch).
:func:`check_resume` refuses a checkpoint whose identity differs, naming the difference. Two changes are
safe to allow explicitly (``--allow-resume-change precision,processes``): the run then continues from the
same *example* of its epoch (:func:`resume_batch_in_epoch`), as the sampler's order depends on the global
batch only, not on how it is split over processes and micro-batches.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

from .data import source_file
from .errors import CheckpointError, ConfigError
from .fileio import sha256_of

IDENTITY_FILE = "run_identity.json"
#: config.json fields that may differ between a run and its continuation without changing its result
#: (`seeds` is a sweep's seed list: adding a seed later must not invalidate the finished runs).
CONTINUATION_FIELDS = frozenset({"resume_from_checkpoint", "output_dir", "overwrite_output_dir", "seeds",
                                 "duration_source", "allow_resume_change"})
#: Settings outside a run's identity: those, and where and how it runs, not what it computes (precision and
#: the process count are checked on their own, below).
NOT_IDENTITY = CONTINUATION_FIELDS | {"mixed_precision", "cpu", "require_gpu", "micro_batch_size",
                                      "eval_batch_size", "gradient_checkpointing", "save_steps",
                                      "save_total_limit", "profile"}
#: What --allow-resume-change may allow.
CHANGES = ("precision", "processes")


def parse_allowed(text: str | None) -> tuple[str, ...]:
    """``"precision,processes"`` -> the changes allowed; a one-line ConfigError for anything else."""
    items = tuple(dict.fromkeys(p.strip() for p in (text or "").split(",") if p.strip()))
    unknown = [item for item in items if item not in CHANGES]
    if unknown:
        raise ConfigError(f"--allow-resume-change: unknown change {unknown[0]!r}; choose from {', '.join(CHANGES)}")
    return items


def data_source(source: str | None, dataset: str | None) -> dict[str, Any]:
    """One split's source: a file (its path and SHA-256) or a Hub dataset id."""
    if source is None:
        return {"dataset": dataset}
    return {"path": str(source), "sha256": sha256_of(source_file(source))}


def run_identity(settings: Mapping[str, Any], *, precision: str, batches: Mapping[str, int]) -> dict[str, Any]:
    """The identity of a run from its resolved settings (``profiles.config_dict``), precision and batch plan."""
    kept = {k: v for k, v in sorted(settings.items()) if k not in NOT_IDENTITY}
    return {
        "model": settings["model"],
        "data": {"train": data_source(settings.get("train_file"), settings.get("dataset")),
                 "eval": data_source(settings.get("eval_file"), settings.get("dataset"))},
        "reinit": list(settings.get("reinit") or ()),
        "seed": settings["seed"],
        "settings": kept,
        "precision": precision,
        "num_processes": batches["num_processes"],
        "global_batch_size": batches["global_batch_size"],
        "per_process_batch_size": batches["per_process_batch_size"],
        "gradient_accumulation_steps": batches["gradient_accumulation_steps"],
    }


def read_identity(checkpoint_dir: Path) -> dict[str, Any] | None:
    """The identity a checkpoint recorded (None for one written before identities were recorded)."""
    path = Path(checkpoint_dir) / IDENTITY_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise CheckpointError(f"{path}: not valid JSON") from None


def _difference(saved: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[str, Any, Any] | None:
    """The first identity field that differs (a setting named by its option), or None."""
    for key in ("model", "seed", "reinit"):
        if saved.get(key) != current.get(key):
            return key, saved.get(key), current.get(key)
    for split in ("train", "eval"):
        old, new = saved.get("data", {}).get(split), current["data"][split]
        if old != new:
            what = "sha256" if old and new and old.get("path") == new.get("path") else "file"
            return f"{split} data ({what})", _short(old), _short(new)
    old_settings, new_settings = saved.get("settings", {}), current["settings"]
    for key in sorted(set(old_settings) | set(new_settings)):
        if old_settings.get(key, "<absent>") != new_settings.get(key, "<absent>"):
            return key, old_settings.get(key, "<absent>"), new_settings.get(key, "<absent>")
    return None


def _short(source: Mapping[str, Any] | None) -> str:
    if not source:
        return "<absent>"
    if "path" in source:
        return f"{source['path']} (sha256 {str(source.get('sha256'))[:12]})"
    return f"dataset {source.get('dataset')}"


def check_resume(checkpoint_dir: Path, current: Mapping[str, Any], allowed: tuple[str, ...] = ()) -> None:
    """Raise a one-line CheckpointError when `checkpoint_dir` belongs to another run, or to this run with
    other settings; precision and process-count changes pass only when ``allowed``."""
    saved = read_identity(checkpoint_dir)
    if saved is None:
        return  # written before identities were recorded: nothing to compare
    where = f"--resume-from-checkpoint {checkpoint_dir}"
    different = _difference(saved, current)
    if different is not None:
        name, old, new = different
        raise CheckpointError(f"{where}: belongs to a run with {name} {old!r}, this run has {new!r}; resume it "
                              f"with its own settings, or start a new run in another --output-dir")
    for change, key in (("precision", "precision"), ("processes", "num_processes")):
        if saved.get(key) != current[key] and change not in allowed:
            raise CheckpointError(f"{where}: saved with {key.replace('_', ' ')} {saved.get(key)}, this run has "
                                  f"{current[key]}; pass --allow-resume-change {change} to continue anyway "
                                  f"(the data position is kept in examples)")


def resume_batch_in_epoch(state: Mapping[str, Any], saved: Mapping[str, Any] | None, current: Mapping[str, Any],
                          loader_length: int) -> int:
    """This process's micro-batches to skip in the resumed epoch: the saved position, converted through the
    number of examples (over all processes) when the split of the global batch changed."""
    position = int(state["batch_in_epoch"])
    if saved is None:
        return position
    old = saved["num_processes"] * saved["per_process_batch_size"]
    new = current["num_processes"] * current["per_process_batch_size"]
    if old == new:
        return position
    return min(math.ceil(position * old / new), loader_length)
